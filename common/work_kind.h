// The kind of a lease's work (proto WorkKind), and its name in the database and in logs.
//
//   lease.set_kind(WorkKindOf(lease));             // the controller, after filling the lease
//   switch (WorkKindOf(lease)) { ... }             // the worker (also for old controllers)
#ifndef NAS_COMMON_WORK_KIND_H_
#define NAS_COMMON_WORK_KIND_H_

#include <string>

#include "absl/strings/string_view.h"
#include "proto/trainer_service.pb.h"

namespace nas {

// WorkKindOf() is lease.kind() when set, else what the lease's fields say: a measurement, a
// rank > 0 of a gang, a supernet epoch, a subnet estimate, or training.
nas::v1::WorkKind WorkKindOf(const nas::v1::LeaseWorkResponse& lease);

// WorkKindName() is "TRAIN", "ESTIMATE", "MEASURE", "SUPERNET_EPOCH" or "GANG_MEMBER" (the
// leases.kind column); ParseWorkKind() reads it back (UNSPECIFIED for anything else).
std::string WorkKindName(nas::v1::WorkKind kind);
nas::v1::WorkKind ParseWorkKind(absl::string_view name);

}  // namespace nas

#endif  // NAS_COMMON_WORK_KIND_H_
