#include "search/search_space.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nas {
namespace {

// Fashion-MNIST-sized inputs (28 x 28) halve at each stage after the first, so four stages take
// the feature map to 4 x 4 (MobileNetV2) and three stages to 7 x 7 (ResNet).
SearchSpaceDef MobileNetV2Space() {
  SearchSpaceDef s;
  s.name = "mobilenetv2";
  s.kernels = {3, 5, 7};
  s.expansions = {1, 3, 6};
  s.allow_squeeze_excite = true;
  s.min_depth = 1;
  s.max_depth = 4;
  s.resolutions = {20, 24, 28, 32};
  s.width_multipliers_percent = {50, 75, 100};
  s.stage_base_widths = {16, 24, 40, 80};
  s.stem_widths = {8, 16};
  return s;
}

SearchSpaceDef ResNetSpace() {
  SearchSpaceDef s;
  s.name = "resnet";
  s.kernels = {3};
  s.expansions = {1};
  s.allow_squeeze_excite = false;
  s.min_depth = 1;
  s.max_depth = 4;
  s.resolutions = {20, 24, 28, 32};
  s.width_multipliers_percent = {50, 75, 100};
  s.stage_base_widths = {16, 32, 64};
  s.stem_widths = {8, 16};
  return s;
}

bool Contains(const std::vector<int>& values, int v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Narrow() replaces `choices` with `requested` when it is a subset, else names the stray value.
absl::Status Narrow(absl::string_view field, const std::string& space,
                    const google::protobuf::RepeatedField<int32_t>& requested,
                    std::vector<int>* choices) {
  if (requested.empty()) return absl::OkStatus();
  std::vector<int> narrowed;
  for (int v : requested) {
    if (!Contains(*choices, v)) {
      return absl::InvalidArgumentError(absl::StrCat("space.", field, ": ", v, " is not one of ",
                                                     space, "'s ", field, " (",
                                                     absl::StrJoin(*choices, ", "), ")"));
    }
    if (!Contains(narrowed, v)) narrowed.push_back(v);
  }
  std::sort(narrowed.begin(), narrowed.end());
  *choices = std::move(narrowed);
  return absl::OkStatus();
}

template <typename T>
const T& Pick(const std::vector<T>& v, std::mt19937_64& rng) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

absl::Status OneOf(absl::string_view field, int value, const std::vector<int>& choices) {
  if (Contains(choices, value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("architecture.", field, ": ", value,
                                                 " is not one of ", absl::StrJoin(choices, ", ")));
}

}  // namespace

std::vector<std::string> BuiltinSearchSpaceNames() { return {"mobilenetv2", "resnet"}; }

absl::StatusOr<SearchSpaceDef> ResolveSearchSpace(const nas::v1::SearchSpace& request) {
  SearchSpaceDef s;
  if (request.name() == "mobilenetv2") {
    s = MobileNetV2Space();
  } else if (request.name() == "resnet") {
    s = ResNetSpace();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("space.name: \"", request.name(), "\" is not a built-in search space (",
                     absl::StrJoin(BuiltinSearchSpaceNames(), ", "), ")"));
  }
  if (absl::Status st = Narrow("kernels", s.name, request.kernels(), &s.kernels); !st.ok()) {
    return st;
  }
  if (absl::Status st = Narrow("expansions", s.name, request.expansions(), &s.expansions);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Narrow("resolutions", s.name, request.resolutions(), &s.resolutions);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Narrow("width_multipliers_percent", s.name,
                               request.width_multipliers_percent(), &s.width_multipliers_percent);
      !st.ok()) {
    return st;
  }
  const int min_depth = request.min_depth() == 0 ? s.min_depth : request.min_depth();
  const int max_depth = request.max_depth() == 0 ? s.max_depth : request.max_depth();
  if (min_depth < s.min_depth || min_depth > s.max_depth) {
    return absl::InvalidArgumentError(absl::StrCat("space.min_depth: ", min_depth,
                                                   " is outside ", s.name, "'s depth range ",
                                                   s.min_depth, "..", s.max_depth));
  }
  if (max_depth < s.min_depth || max_depth > s.max_depth) {
    return absl::InvalidArgumentError(absl::StrCat("space.max_depth: ", max_depth,
                                                   " is outside ", s.name, "'s depth range ",
                                                   s.min_depth, "..", s.max_depth));
  }
  if (min_depth > max_depth) {
    return absl::InvalidArgumentError(absl::StrCat("space.min_depth: ", min_depth,
                                                   " is greater than space.max_depth ", max_depth));
  }
  s.min_depth = min_depth;
  s.max_depth = max_depth;
  if (request.has_allow_squeeze_excite()) {
    if (request.allow_squeeze_excite() && !s.allow_squeeze_excite) {
      return absl::InvalidArgumentError(absl::StrCat(
          "space.allow_squeeze_excite: ", s.name, " has no squeeze-excite blocks"));
    }
    s.allow_squeeze_excite = request.allow_squeeze_excite();
  }
  return s;
}

std::vector<int> StageWidthChoices(const SearchSpaceDef& space, int stage) {
  std::vector<int> widths;
  for (int percent : space.width_multipliers_percent) {
    // Round to a multiple of 8 (hardware-friendly channel counts), at least 8.
    const int w = std::max(
        8, static_cast<int>(std::lround(space.stage_base_widths[stage] * percent / 100.0 / 8.0)) *
               8);
    if (!Contains(widths, w)) widths.push_back(w);
  }
  std::sort(widths.begin(), widths.end());
  return widths;
}

absl::Status ValidateArchitecture(const nas::v1::Architecture& arch,
                                  const SearchSpaceDef& space) {
  if (arch.space() != space.name) {
    return absl::InvalidArgumentError(absl::StrCat("architecture.space: \"", arch.space(),
                                                   "\" does not match the search space \"",
                                                   space.name, "\""));
  }
  if (absl::Status st = OneOf("resolution", arch.resolution(), space.resolutions); !st.ok()) {
    return st;
  }
  if (absl::Status st = OneOf("stem_width", arch.stem_width(), space.stem_widths); !st.ok()) {
    return st;
  }
  const int num_stages = static_cast<int>(space.stage_base_widths.size());
  if (arch.stages_size() != num_stages) {
    return absl::InvalidArgumentError(absl::StrCat("architecture.stages: ", space.name, " has ",
                                                   num_stages, " stages, got ",
                                                   arch.stages_size()));
  }
  const bool resnet = space.name == "resnet";
  for (int i = 0; i < num_stages; ++i) {
    const nas::v1::Stage& stage = arch.stages(i);
    const std::string prefix = absl::StrCat("stages[", i, "]");
    if (absl::Status st =
            OneOf(absl::StrCat(prefix, ".width"), stage.width(), StageWidthChoices(space, i));
        !st.ok()) {
      return st;
    }
    if (stage.blocks_size() < space.min_depth || stage.blocks_size() > space.max_depth) {
      return absl::InvalidArgumentError(absl::StrCat("architecture.", prefix, ".blocks: depth ",
                                                     stage.blocks_size(), " is outside ",
                                                     space.min_depth, "..", space.max_depth));
    }
    for (int j = 0; j < stage.blocks_size(); ++j) {
      const nas::v1::Block& b = stage.blocks(j);
      const std::string bp = absl::StrCat(prefix, ".blocks[", j, "]");
      // ResNet blocks have no kernel or expansion choice; 0 stands for the only value.
      const int kernel = resnet && b.kernel() == 0 ? 3 : b.kernel();
      const int expansion = resnet && b.expansion() == 0 ? 1 : b.expansion();
      if (absl::Status st = OneOf(absl::StrCat(bp, ".kernel"), kernel, space.kernels); !st.ok()) {
        return st;
      }
      if (absl::Status st = OneOf(absl::StrCat(bp, ".expansion"), expansion, space.expansions);
          !st.ok()) {
        return st;
      }
      if (b.squeeze_excite() && !space.allow_squeeze_excite) {
        return absl::InvalidArgumentError(absl::StrCat(
            "architecture.", bp, ".squeeze_excite: not allowed in this search space"));
      }
    }
  }
  return absl::OkStatus();
}

nas::v1::Architecture SampleArchitecture(const SearchSpaceDef& space, std::mt19937_64& rng) {
  nas::v1::Architecture arch;
  arch.set_space(space.name);
  arch.set_resolution(Pick(space.resolutions, rng));
  arch.set_stem_width(Pick(space.stem_widths, rng));
  for (size_t i = 0; i < space.stage_base_widths.size(); ++i) {
    nas::v1::Stage* stage = arch.add_stages();
    stage->set_width(Pick(StageWidthChoices(space, static_cast<int>(i)), rng));
    const int depth = std::uniform_int_distribution<int>(space.min_depth, space.max_depth)(rng);
    for (int j = 0; j < depth; ++j) {
      nas::v1::Block* block = stage->add_blocks();
      block->set_kernel(Pick(space.kernels, rng));
      block->set_expansion(Pick(space.expansions, rng));
      block->set_squeeze_excite(space.allow_squeeze_excite &&
                                std::bernoulli_distribution(0.5)(rng));
    }
  }
  return arch;
}

namespace {

nas::v1::Architecture Extreme(const SearchSpaceDef& space, bool largest) {
  auto pick = [largest](const std::vector<int>& choices) {
    return largest ? *std::max_element(choices.begin(), choices.end())
                   : *std::min_element(choices.begin(), choices.end());
  };
  nas::v1::Architecture arch;
  arch.set_space(space.name);
  arch.set_resolution(pick(space.resolutions));
  arch.set_stem_width(pick(space.stem_widths));
  for (size_t i = 0; i < space.stage_base_widths.size(); ++i) {
    nas::v1::Stage* stage = arch.add_stages();
    stage->set_width(pick(StageWidthChoices(space, static_cast<int>(i))));
    for (int j = 0; j < (largest ? space.max_depth : space.min_depth); ++j) {
      nas::v1::Block* block = stage->add_blocks();
      block->set_kernel(pick(space.kernels));
      block->set_expansion(pick(space.expansions));
      block->set_squeeze_excite(largest && space.allow_squeeze_excite);
    }
  }
  return arch;
}

}  // namespace

nas::v1::Architecture LargestArchitecture(const SearchSpaceDef& space) {
  return Extreme(space, true);
}

nas::v1::Architecture SmallestArchitecture(const SearchSpaceDef& space) {
  return Extreme(space, false);
}

namespace {

// Another allowed value than `current`, or `current` when there is none.
int Other(const std::vector<int>& choices, int current, std::mt19937_64& rng) {
  std::vector<int> others;
  for (int c : choices) {
    if (c != current) others.push_back(c);
  }
  return others.empty() ? current : Pick(others, rng);
}

}  // namespace

nas::v1::Architecture MutateArchitecture(const nas::v1::Architecture& arch,
                                         const SearchSpaceDef& space, std::mt19937_64& rng) {
  // Every mutable choice, as a closure that changes it; one is drawn uniformly.
  nas::v1::Architecture child = arch;
  std::vector<std::function<void()>> moves;
  if (space.resolutions.size() > 1) {
    moves.push_back([&] { child.set_resolution(Other(space.resolutions, arch.resolution(), rng)); });
  }
  if (space.stem_widths.size() > 1) {
    moves.push_back([&] { child.set_stem_width(Other(space.stem_widths, arch.stem_width(), rng)); });
  }
  for (int s = 0; s < arch.stages_size(); ++s) {
    nas::v1::Stage* stage = child.mutable_stages(s);
    const std::vector<int> widths = StageWidthChoices(space, s);
    if (widths.size() > 1) {
      moves.push_back([&, stage, widths] { stage->set_width(Other(widths, stage->width(), rng)); });
    }
    if (space.max_depth > space.min_depth) {
      moves.push_back([&, stage] {
        const int depth = stage->blocks_size();
        const bool grow = depth == space.min_depth ||
                          (depth < space.max_depth && std::bernoulli_distribution(0.5)(rng));
        if (grow) {
          *stage->add_blocks() = stage->blocks(
              std::uniform_int_distribution<int>(0, depth - 1)(rng));
        } else {
          stage->mutable_blocks()->RemoveLast();
        }
      });
    }
    for (int b = 0; b < arch.stages(s).blocks_size(); ++b) {
      nas::v1::Block* block = stage->mutable_blocks(b);
      if (space.kernels.size() > 1) {
        moves.push_back([&, block] { block->set_kernel(Other(space.kernels, block->kernel(), rng)); });
      }
      if (space.expansions.size() > 1) {
        moves.push_back(
            [&, block] { block->set_expansion(Other(space.expansions, block->expansion(), rng)); });
      }
      if (space.allow_squeeze_excite) {
        moves.push_back([block] { block->set_squeeze_excite(!block->squeeze_excite()); });
      }
    }
  }
  if (moves.empty()) return child;
  moves[std::uniform_int_distribution<size_t>(0, moves.size() - 1)(rng)]();
  return child;
}

nas::v1::Architecture CrossoverArchitectures(const nas::v1::Architecture& a,
                                             const nas::v1::Architecture& b,
                                             std::mt19937_64& rng) {
  std::bernoulli_distribution coin(0.5);
  nas::v1::Architecture child = a;
  if (coin(rng)) child.set_resolution(b.resolution());
  if (coin(rng)) child.set_stem_width(b.stem_width());
  for (int s = 0; s < child.stages_size() && s < b.stages_size(); ++s) {
    if (coin(rng)) *child.mutable_stages(s) = b.stages(s);
  }
  return child;
}

std::string CanonicalKey(const nas::v1::Architecture& arch) {
  const bool resnet = arch.space() == "resnet";
  std::string key = absl::StrCat(arch.space(), "|r", arch.resolution(), "|s", arch.stem_width());
  for (const nas::v1::Stage& stage : arch.stages()) {
    absl::StrAppend(&key, "|w", stage.width(), ":");
    for (const nas::v1::Block& b : stage.blocks()) {
      if (resnet) {
        absl::StrAppend(&key, "b");
      } else {
        absl::StrAppend(&key, "k", b.kernel(), "e", b.expansion(), b.squeeze_excite() ? "s" : "",
                        ",");
      }
    }
  }
  return key;
}

}  // namespace nas
