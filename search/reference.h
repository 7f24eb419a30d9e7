// The reference network of a search (the network its user would otherwise ship), and how a
// candidate compares with it.
//
//   absl::StatusOr<nas::v1::Architecture> ref =
//       ResolveReference(spec.reference(), space, /*image_size=*/28);   // "resnet18" -> ResNet-18
//   nas::v1::ReferenceComparison vs = CompareWithReference(candidate, reference_candidate);
#ifndef NAS_SEARCH_REFERENCE_H_
#define NAS_SEARCH_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/search_space.h"

namespace nas {

// PresetReferenceNetwork() is the network a preset is the family of, at `resolution`:
// "resnet18" ResNet-18 (its largest member), "mobilenetv2-1.0" MobileNetV2 1.0 (width 1.0,
// expansion 6 but 1 in the first stage, kernel 3, no squeeze-excite, head 1280), the others
// their largest member. NotFound for another name.
absl::StatusOr<nas::v1::Architecture> PresetReferenceNetwork(const std::string& preset,
                                                             int resolution);

// ResolveReference() returns the reference's architecture: `reference.architecture` when set
// (a normalised reference keeps the preset's name beside it), else the preset's network. A
// reference may be of any preset family: the network a user would ship is often of another
// family than the space searched ("make my ResNet-18 into something a Cortex-M7 runs"). Where
// it lies in `space` (at the space's resolution nearest `image_size`) it is returned as a
// member of the space, and the strategies evolve from it like any other candidate; else as a
// member of its own family (architecture.space names it, at that family's resolution nearest
// `image_size`), trained and compared exactly alike but never a parent. An architecture that
// names the search's space must lie in it. InvalidArgument naming the field
// ("reference.preset: ...", "reference.architecture.stages[1]...") otherwise.
absl::StatusOr<nas::v1::Architecture> ResolveReference(const nas::v1::Reference& reference,
                                                       const SearchSpaceDef& space, int image_size);

// InSearchSpace() is whether `arch` lies in `space` (ValidateArchitecture() accepts it).
bool InSearchSpace(const nas::v1::Architecture& arch, const SearchSpaceDef& space);

// CompareWithReference() compares an evaluated candidate with the evaluated reference:
// ratios reference / candidate, accuracy differences candidate - reference, latency ratios on
// the profiles both have.
nas::v1::ReferenceComparison CompareWithReference(const nas::v1::Candidate& candidate,
                                                  const nas::v1::Candidate& reference);

}  // namespace nas

#endif  // NAS_SEARCH_REFERENCE_H_
