// Search spaces as data: which architectures a search may propose.
//
// A space is a stem, stages (each with its stride, width choices, depth range, block types,
// kernels, expansions, squeeze-excite), an optional head and input resolutions. Presets
// ("mobilenetv2", "resnet", "resnet18", "mobilenetv2-1.0") are written in the same form; a
// request either names a preset (and may narrow it) or describes a space of its own:
//
//   absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(spec.space());
//   std::mt19937_64 rng(seed);
//   nas::v1::Architecture arch = SampleArchitecture(*space, rng);
//   absl::Status valid = ValidateArchitecture(arch, *space);   // OK
//   std::string key = CanonicalKey(arch);                       // dedup key
//
// An architecture is self-describing (each block names its type, each stage its stride), so
// the cost models and trainer/'s model builder need no space. Architectures written before
// spaces were data leave type and stride 0; BlockTypeOf() and StageStride() read them.
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

// StageDef: the choices of one stage. Lists are sorted and distinct.
struct StageDef {
  int stride = 1;
  std::vector<int> widths;
  // When the widths are multipliers of a base (presets), so that a request can narrow them.
  int base_width = 0;
  std::vector<int> width_multipliers_percent;
  int min_depth = 1;
  int max_depth = 1;
  std::vector<nas::v1::BlockType> block_types;  // never BLOCK_TYPE_UNSPECIFIED
  std::vector<int> kernels;
  std::vector<int> expansions;  // inverted residuals only
  bool allow_squeeze_excite = false;
};

// SearchSpaceDef: a resolved space. Input channels and classes are the dataset's.
struct SearchSpaceDef {
  std::string name;
  bool preset = false;
  std::vector<int> resolutions;
  std::vector<int> stem_widths;
  std::vector<int> head_widths;  // {0}: no head convolution
  std::vector<StageDef> stages;
};

// PresetSearchSpaceNames() returns the names of the presets ResolveSearchSpace() knows.
std::vector<std::string> PresetSearchSpaceNames();

// PresetSearchSpace() returns a preset as a full description (what a user would write to get
// it), for `nasctl profiles --spaces` and docs. NotFound for another name.
absl::StatusOr<nas::v1::SearchSpace> PresetSearchSpace(const std::string& name);

// ResolveSearchSpace() returns the preset named by `request.name()` narrowed by the request's
// lists and ranges, or the space `request.stages` describes. Errors are InvalidArgument naming
// the field relative to the spec ("space.stages[2].widths[1]: ...").
absl::StatusOr<SearchSpaceDef> ResolveSearchSpace(const nas::v1::SearchSpace& request);

// SupernetCovers() says whether a weight-sharing supernet can make every block of `space`
// elastic: only inverted residuals, whose depth, kernel, expansion and width it slices.
// InvalidArgument naming the first stage that has another block type, and why.
absl::Status SupernetCovers(const SearchSpaceDef& space);

// BlockTypeOf() is the type of a block of `arch`, reading UNSPECIFIED as the pre-data default
// (BASIC_RESIDUAL in "resnet", INVERTED_RESIDUAL elsewhere).
nas::v1::BlockType BlockTypeOf(const nas::v1::Architecture& arch, const nas::v1::Block& block);

// StageStride() is the stride of stage `s`'s first block (0 read as 1 for the first stage, 2
// for the others).
int StageStride(const nas::v1::Architecture& arch, int s);

// BlockKernel() is a block's kernel size (0 read as 3 outside inverted residuals);
// BlockExpansion() its expansion ratio (1 outside inverted residuals).
int BlockKernel(nas::v1::BlockType type, const nas::v1::Block& block);
int BlockExpansion(nas::v1::BlockType type, const nas::v1::Block& block);

// IsResidualFamily() is true for the ResNet block types (ReLU, a stem and head in ReLU too);
// the others use ReLU6.
bool IsResidualFamily(nas::v1::BlockType type);

// StemUsesRelu() is true when the stem (and head convolution) of `arch` activate with ReLU:
// when its first block is of the ResNet family. Otherwise ReLU6.
bool StemUsesRelu(const nas::v1::Architecture& arch);

// BlockTypeName() is the proto enum's name ("INVERTED_RESIDUAL").
std::string BlockTypeName(nas::v1::BlockType type);

// ValidateArchitecture() checks that `arch` lies inside `space`. The error names the first
// offending field, e.g. "architecture.stages[1].blocks[0].kernel: 9 is not one of 3, 5, 7".
absl::Status ValidateArchitecture(const nas::v1::Architecture& arch, const SearchSpaceDef& space);

// SampleArchitecture() draws every choice of `space` uniformly at random.
nas::v1::Architecture SampleArchitecture(const SearchSpaceDef& space, std::mt19937_64& rng);

// LargestArchitecture() and SmallestArchitecture() return the space's extremes: every choice at
// its largest (resolution, widths, depth, kernels, expansions, squeeze-excite where allowed,
// the first block type listed) or its smallest. A weight-sharing supernet holds the largest;
// the sandwich rule trains both each step.
nas::v1::Architecture LargestArchitecture(const SearchSpaceDef& space);
nas::v1::Architecture SmallestArchitecture(const SearchSpaceDef& space);

// MutateArchitecture() returns `arch` with one choice changed to another value the space allows:
// the resolution, the stem or head width, a stage's width or depth (a block added or the last
// removed), or a block's type, kernel, expansion or squeeze-excite. Choices with one allowed
// value are never picked; a space with a single architecture returns `arch` unchanged. `arch`
// must be valid.
nas::v1::Architecture MutateArchitecture(const nas::v1::Architecture& arch,
                                         const SearchSpaceDef& space, std::mt19937_64& rng);

// CrossoverArchitectures() returns a child that takes the resolution, the stem and head widths
// and each whole stage from `a` or `b` at random (uniform crossover over stages, so every block
// stays one a parent had). Both parents must be valid in `space`; so is the child.
nas::v1::Architecture CrossoverArchitectures(const nas::v1::Architecture& a,
                                             const nas::v1::Architecture& b, std::mt19937_64& rng);

// CanonicalKey() returns a string that two encodings of the same network share: fields a block
// type ignores, defaults written or left 0, are normalised away (keys of architectures written
// before spaces were data are unchanged). Services hash it.
std::string CanonicalKey(const nas::v1::Architecture& arch);
// ArchitectureHash() is the hex SHA-256 of CanonicalKey(): the store's candidates.arch_hash.
std::string ArchitectureHash(const nas::v1::Architecture& arch);

}  // namespace nas

#endif  // NAS_SEARCH_SEARCH_SPACE_H_
