// Validation of what users submit: every field checked, defaults filled in, and the first bad
// field named in an InvalidArgument status ("spec.budget.max_candidates: ...").
//
//   absl::StatusOr<nas::v1::SearchSpec> spec = NormalizeSearchSpec(request.spec());
#ifndef NAS_SERVICES_SPEC_VALIDATION_H_
#define NAS_SERVICES_SPEC_VALIDATION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

namespace nas {

// The largest serialized SearchSpec accepted.
inline constexpr size_t kMaxSpecBytes = 64 * 1024;

// The largest network a search space may hold (its LargestArchitecture(), on the dataset's
// input): 18x ResNet-18's parameters, 20x its MACs at 28 x 28.
inline constexpr int64_t kMaxSpaceParams = 200'000'000;
inline constexpr int64_t kMaxSpaceMacs = 10'000'000'000;

// NormalizeSearchSpec() returns `spec` with its defaults filled in, or InvalidArgument naming
// the first offending field. It does not resolve profile ids (the store does) nor check that
// a worker serves the dataset (the controller does).
absl::StatusOr<nas::v1::SearchSpec> NormalizeSearchSpec(nas::v1::SearchSpec spec);

}  // namespace nas

#endif  // NAS_SERVICES_SPEC_VALIDATION_H_
