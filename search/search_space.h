// Search spaces as data: which architectures a search may propose.
//
// A built-in space ("mobilenetv2", "resnet") is narrowed by the user's request and then used to
// validate, sample and canonicalise architectures:
//
//   absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(spec.space());
//   std::mt19937_64 rng(seed);
//   nas::v1::Architecture arch = SampleArchitecture(*space, rng);
//   absl::Status valid = ValidateArchitecture(arch, *space);   // OK
//   std::string key = CanonicalKey(arch);                       // dedup key
//
// The spaces match what trainer/ builds (see trainer/model_builder.h once it lands).
#ifndef NAS_SEARCH_SEARCH_SPACE_H_
#define NAS_SEARCH_SEARCH_SPACE_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

namespace nas {

// SearchSpaceDef: the choices of a (possibly narrowed) space. Widths are channel counts already
// rounded to multiples of 8, one choice list per stage.
struct SearchSpaceDef {
  std::string name;
  std::vector<int> kernels;
  std::vector<int> expansions;
  bool allow_squeeze_excite = false;
  int min_depth = 1;
  int max_depth = 1;
  std::vector<int> resolutions;
  std::vector<int> width_multipliers_percent;
  std::vector<int> stage_base_widths;
  std::vector<int> stem_widths;
  // Input channels and classes are the dataset's; the space is independent of them.
};

// BuiltinSearchSpaceNames() returns the names ResolveSearchSpace() accepts.
std::vector<std::string> BuiltinSearchSpaceNames();

// ResolveSearchSpace() returns the built-in space named by `request.name()`, narrowed by the
// request's lists and ranges. A name that is not built in, or a narrowing that would add choices
// the built-in space lacks, is InvalidArgument naming the field (e.g. "space.kernels").
absl::StatusOr<SearchSpaceDef> ResolveSearchSpace(const nas::v1::SearchSpace& request);

// StageWidthChoices() returns the channel counts stage `stage` may take.
std::vector<int> StageWidthChoices(const SearchSpaceDef& space, int stage);

// ValidateArchitecture() checks that `arch` lies inside `space`. The error names the first
// offending field, e.g. "architecture.stages[1].blocks[0].kernel: 9 is not one of 3, 5, 7".
absl::Status ValidateArchitecture(const nas::v1::Architecture& arch, const SearchSpaceDef& space);

// SampleArchitecture() draws every choice of `space` uniformly at random.
nas::v1::Architecture SampleArchitecture(const SearchSpaceDef& space, std::mt19937_64& rng);

// LargestArchitecture() and SmallestArchitecture() return the space's extremes: every choice at
// its largest (resolution, stem and stage widths, depth, kernels, expansions, squeeze-excite
// where allowed) or its smallest (no squeeze-excite). A weight-sharing supernet holds the
// largest; the sandwich rule trains both each step.
nas::v1::Architecture LargestArchitecture(const SearchSpaceDef& space);
nas::v1::Architecture SmallestArchitecture(const SearchSpaceDef& space);

// MutateArchitecture() returns `arch` with one choice changed to another value the space allows:
// the resolution, the stem width, a stage's width or depth (a block added or the last removed),
// or a block's kernel, expansion or squeeze-excite. Choices with one allowed value are never
// picked; a space with a single architecture returns `arch` unchanged. `arch` must be valid.
nas::v1::Architecture MutateArchitecture(const nas::v1::Architecture& arch,
                                         const SearchSpaceDef& space, std::mt19937_64& rng);

// CrossoverArchitectures() returns a child that takes the resolution, the stem width and each
// whole stage from `a` or `b` at random (uniform crossover over stages, so every block stays
// one a parent had). Both parents must be valid in `space`; so is the child.
nas::v1::Architecture CrossoverArchitectures(const nas::v1::Architecture& a,
                                             const nas::v1::Architecture& b,
                                             std::mt19937_64& rng);

// CanonicalKey() returns a string that two encodings of the same network share: fields a space
// ignores (ResNet's kernel and expansion, proto defaults) are normalised away. Services hash it.
std::string CanonicalKey(const nas::v1::Architecture& arch);

}  // namespace nas

#endif  // NAS_SEARCH_SEARCH_SPACE_H_
