#include "common/work_kind.h"

#include "absl/strings/str_cat.h"
#include "common/enum_names.h"

namespace nas {

nas::v1::WorkKind WorkKindOf(const nas::v1::LeaseWorkResponse& lease) {
  if (lease.kind() != nas::v1::WORK_KIND_UNSPECIFIED) return lease.kind();
  if (lease.measure_only()) return nas::v1::WORK_KIND_MEASURE;
  const nas::v1::SupernetWork& s = lease.supernet();
  if (s.epoch() > 0 && s.world_size() > 1 && s.rank() > 0) {
    return nas::v1::WORK_KIND_GANG_MEMBER;
  }
  if (s.epoch() > 0) return nas::v1::WORK_KIND_SUPERNET_EPOCH;
  if (lease.fidelity().supernet_estimate()) return nas::v1::WORK_KIND_ESTIMATE;
  return nas::v1::WORK_KIND_TRAIN;
}

std::string WorkKindName(nas::v1::WorkKind kind) { return ShortEnumName(kind); }

nas::v1::WorkKind ParseWorkKind(absl::string_view name) {
  nas::v1::WorkKind kind = nas::v1::WORK_KIND_UNSPECIFIED;
  if (!nas::v1::WorkKind_Parse(absl::StrCat("WORK_KIND_", name), &kind)) {
    return nas::v1::WORK_KIND_UNSPECIFIED;
  }
  return kind;
}

}  // namespace nas
