#include "search/search_space.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "search/space_presets.h"

namespace nas {
namespace {

using nas::v1::BlockType;

constexpr int kMaxStages = 12;
constexpr int kMaxDepth = 16;
constexpr int kMaxWidth = 4096;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("space.", field, ": ", why));
}

bool Contains(const std::vector<int>& values, int v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Narrow() replaces `choices` with the values of `requested` when they are a subset of
// `allowed`, else names the stray value.
absl::Status Narrow(absl::string_view field, const std::string& space,
                    const google::protobuf::RepeatedField<int32_t>& requested,
                    const std::vector<int>& allowed, std::vector<int>* narrowed) {
  narrowed->clear();
  for (int i = 0; i < requested.size(); ++i) {
    const int v = requested[i];
    if (!Contains(allowed, v)) {
      return Invalid(absl::StrCat(field, "[", i, "]"),
                     absl::StrCat(v, " is not one of ", space, "'s ", field, " (",
                                  absl::StrJoin(allowed, ", "), ")"));
    }
    narrowed->push_back(v);
  }
  *narrowed = SortedDistinct(*narrowed);
  return absl::OkStatus();
}

std::vector<int> Intersect(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  for (int v : a) {
    if (Contains(b, v)) out.push_back(v);
  }
  return out;
}

absl::StatusOr<SearchSpaceDef> NarrowPreset(SearchSpaceDef s, const nas::v1::SearchSpace& r) {
  std::vector<int> all_kernels, all_expansions, all_percents;
  int lo = kMaxDepth, hi = 1;
  bool any_se = false;
  for (const StageDef& st : s.stages) {
    all_kernels.insert(all_kernels.end(), st.kernels.begin(), st.kernels.end());
    if (st.block_types[0] == nas::v1::INVERTED_RESIDUAL) {
      all_expansions.insert(all_expansions.end(), st.expansions.begin(), st.expansions.end());
    }
    all_percents.insert(all_percents.end(), st.width_multipliers_percent.begin(),
                        st.width_multipliers_percent.end());
    lo = std::min(lo, st.min_depth);
    hi = std::max(hi, st.max_depth);
    any_se |= st.allow_squeeze_excite;
  }
  all_kernels = SortedDistinct(all_kernels);
  all_expansions = SortedDistinct(all_expansions);
  all_percents = SortedDistinct(all_percents);
  std::vector<int> kernels, expansions, percents;
  NAS_RETURN_IF_ERROR(Narrow("kernels", s.name, r.kernels(), all_kernels, &kernels));
  NAS_RETURN_IF_ERROR(Narrow("expansions", s.name, r.expansions(), all_expansions, &expansions));
  NAS_RETURN_IF_ERROR(Narrow("width_multipliers_percent", s.name, r.width_multipliers_percent(),
                             all_percents, &percents));
  if (!r.resolutions().empty()) {
    std::vector<int> resolutions;
    NAS_RETURN_IF_ERROR(
        Narrow("resolutions", s.name, r.resolutions(), s.resolutions, &resolutions));
    s.resolutions = resolutions;
  }
  const int min_depth = r.min_depth() == 0 ? lo : r.min_depth();
  const int max_depth = r.max_depth() == 0 ? hi : r.max_depth();
  if (min_depth < lo || min_depth > hi) {
    return Invalid("min_depth", absl::StrCat(min_depth, " is outside ", s.name, "'s depth range ",
                                             lo, "..", hi));
  }
  if (max_depth < lo || max_depth > hi) {
    return Invalid("max_depth", absl::StrCat(max_depth, " is outside ", s.name, "'s depth range ",
                                             lo, "..", hi));
  }
  if (min_depth > max_depth) {
    return Invalid("min_depth",
                   absl::StrCat(min_depth, " is greater than space.max_depth ", max_depth));
  }
  if (r.has_allow_squeeze_excite() && r.allow_squeeze_excite() && !any_se) {
    return Invalid("allow_squeeze_excite", absl::StrCat(s.name, " has no squeeze-excite blocks"));
  }
  for (size_t i = 0; i < s.stages.size(); ++i) {
    StageDef& st = s.stages[i];
    const std::string where = absl::StrCat(" leaves ", s.name, "'s stage ", i, " no choice");
    if (!kernels.empty()) {
      st.kernels = Intersect(st.kernels, kernels);
      if (st.kernels.empty()) return Invalid("kernels", where);
    }
    if (!expansions.empty() && st.block_types[0] == nas::v1::INVERTED_RESIDUAL) {
      st.expansions = Intersect(st.expansions, expansions);
      if (st.expansions.empty()) return Invalid("expansions", where);
    }
    if (!percents.empty()) {
      st.width_multipliers_percent = Intersect(st.width_multipliers_percent, percents);
      if (st.width_multipliers_percent.empty()) return Invalid("width_multipliers_percent", where);
      st.widths = WidthsOf(st.base_width, st.width_multipliers_percent);
    }
    // Every stage keeps the part of its own range inside the one asked.
    st.min_depth = std::max(st.min_depth, min_depth);
    st.max_depth = std::min(st.max_depth, max_depth);
    if (st.min_depth > st.max_depth) {
      st.min_depth = st.max_depth = std::min(std::max(min_depth, 1), st.max_depth);
    }
    if (r.has_allow_squeeze_excite()) st.allow_squeeze_excite &= r.allow_squeeze_excite();
  }
  return s;
}

// A space's name follows the rule of names (common/names.h), in either case.
bool IsSpaceName(const std::string& name) { return IsValidName(absl::AsciiStrToLower(name)); }

// Copies `values` after checking each lies in lo..hi; `field` names the list. An empty list is
// `fallback` when given, else an error.
absl::Status IntList(const std::string& field,
                     const google::protobuf::RepeatedField<int32_t>& values, int lo, int hi,
                     const std::vector<int>& fallback, std::vector<int>* out) {
  if (values.empty()) {
    if (fallback.empty()) return Invalid(field, "at least one value");
    *out = fallback;
    return absl::OkStatus();
  }
  if (values.size() > 32) return Invalid(field, "at most 32 values");
  std::vector<int> v;
  for (int i = 0; i < values.size(); ++i) {
    if (values[i] < lo || values[i] > hi) {
      return Invalid(absl::StrCat(field, "[", i, "]"),
                     absl::StrCat(values[i], " is outside ", lo, " to ", hi));
    }
    v.push_back(values[i]);
  }
  *out = SortedDistinct(v);
  return absl::OkStatus();
}

absl::StatusOr<StageDef> UserStage(const nas::v1::StageSpace& r, const std::string& at) {
  StageDef s;
  if (r.stride() != 1 && r.stride() != 2) {
    return Invalid(at + ".stride", absl::StrCat(r.stride(), " is not 1 or 2"));
  }
  s.stride = r.stride();
  if (!r.widths().empty()) {
    if (r.base_width() != 0 || !r.width_multipliers_percent().empty()) {
      return Invalid(at + ".widths",
                     "give widths or base_width with width_multipliers_percent, not both");
    }
    NAS_RETURN_IF_ERROR(IntList(at + ".widths", r.widths(), 1, kMaxWidth, {}, &s.widths));
  } else {
    if (r.base_width() < 1 || r.base_width() > kMaxWidth) {
      return Invalid(at + ".base_width", absl::StrCat(r.base_width(), " is outside 1 to ",
                                                      kMaxWidth, " (or give widths)"));
    }
    s.base_width = r.base_width();
    NAS_RETURN_IF_ERROR(IntList(at + ".width_multipliers_percent", r.width_multipliers_percent(), 1,
                                400, {100}, &s.width_multipliers_percent));
    s.widths = WidthsOf(s.base_width, s.width_multipliers_percent);
    if (s.widths.back() > kMaxWidth) {
      return Invalid(at + ".width_multipliers_percent",
                     absl::StrCat("makes a width of ", s.widths.back(), "; at most ", kMaxWidth));
    }
  }
  s.min_depth = r.min_depth() == 0 ? 1 : r.min_depth();
  s.max_depth = r.max_depth() == 0 ? s.min_depth : r.max_depth();
  if (s.min_depth < 1 || s.min_depth > kMaxDepth) {
    return Invalid(at + ".min_depth", absl::StrCat(s.min_depth, " is outside 1 to ", kMaxDepth));
  }
  if (s.max_depth < s.min_depth || s.max_depth > kMaxDepth) {
    return Invalid(at + ".max_depth", absl::StrCat(s.max_depth, " is outside ", s.min_depth,
                                                   " (min_depth) to ", kMaxDepth));
  }
  if (r.block_types().empty()) return Invalid(at + ".block_types", "at least one block type");
  std::set<int> types;
  for (int i = 0; i < r.block_types_size(); ++i) {
    const int t = r.block_types(i);
    if (t == nas::v1::BLOCK_TYPE_UNSPECIFIED || !nas::v1::BlockType_IsValid(t)) {
      return Invalid(absl::StrCat(at, ".block_types[", i, "]"),
                     absl::StrCat(t,
                                  " is not a block type (INVERTED_RESIDUAL, BASIC_RESIDUAL, "
                                  "BOTTLENECK_RESIDUAL, CONV, DEPTHWISE_SEPARABLE)"));
    }
    if (types.insert(t).second) s.block_types.push_back(static_cast<BlockType>(t));
  }
  NAS_RETURN_IF_ERROR(IntList(at + ".kernels", r.kernels(), 1, 7, {3}, &s.kernels));
  for (size_t i = 0; i < s.kernels.size(); ++i) {
    if (s.kernels[i] % 2 == 0) {
      return Invalid(at + ".kernels",
                     absl::StrCat(s.kernels[i], " is even; kernels are 1, 3, 5 or 7"));
    }
  }
  const bool ir = types.count(nas::v1::INVERTED_RESIDUAL) > 0;
  if (!ir && (!r.expansions().empty() || r.allow_squeeze_excite())) {
    return Invalid(at + (r.expansions().empty() ? ".allow_squeeze_excite" : ".expansions"),
                   "only inverted residuals have expansions and squeeze-excite; "
                   "block_types has none");
  }
  NAS_RETURN_IF_ERROR(
      IntList(at + ".expansions", r.expansions(), 1, 8, {ir ? 6 : 1}, &s.expansions));
  s.allow_squeeze_excite = r.allow_squeeze_excite();
  return s;
}

absl::StatusOr<SearchSpaceDef> UserSpace(const nas::v1::SearchSpace& r) {
  if (!IsSpaceName(r.name())) {
    return Invalid("name", absl::StrCat("\"", r.name().substr(0, 80),
                                        "\" is not a space name (1 to 64 of letters of "
                                        "either case, digits, '.', '_' and '-')"));
  }
  if (PresetSpace(r.name()).ok()) {
    return Invalid(
        "name", absl::StrCat("\"", r.name(), "\" is a preset; give your own space another name"));
  }
  if (!r.kernels().empty() || !r.expansions().empty() || r.min_depth() != 0 || r.max_depth() != 0 ||
      !r.width_multipliers_percent().empty() || r.has_allow_squeeze_excite()) {
    return Invalid("stages",
                   "a space of your own is narrowed in its stages; the fields that "
                   "narrow a preset (kernels, expansions, min_depth, max_depth, "
                   "width_multipliers_percent, allow_squeeze_excite) must be unset");
  }
  if (r.stages_size() > kMaxStages) {
    return Invalid("stages", absl::StrCat(r.stages_size(), " stages; at most ", kMaxStages));
  }
  SearchSpaceDef s;
  s.name = r.name();
  NAS_RETURN_IF_ERROR(IntList("resolutions", r.resolutions(), 8, 512, {}, &s.resolutions));
  NAS_RETURN_IF_ERROR(IntList("stem_widths", r.stem_widths(), 1, kMaxWidth, {}, &s.stem_widths));
  NAS_RETURN_IF_ERROR(IntList("head_widths", r.head_widths(), 0, kMaxWidth, {0}, &s.head_widths));
  for (int i = 0; i < r.stages_size(); ++i) {
    NAS_ASSIGN_OR_RETURN(StageDef stage, UserStage(r.stages(i), absl::StrCat("stages[", i, "]")));
    s.stages.push_back(std::move(stage));
  }
  return s;
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

// SetBlock() fills `block` as a `type` block with the given choices, leaving the fields the type
// ignores at their defaults.
void SetBlock(nas::v1::Block* block, BlockType type, int kernel, int expansion, bool se) {
  block->set_type(type);
  block->set_kernel(kernel);
  const bool ir = type == nas::v1::INVERTED_RESIDUAL;
  block->set_expansion(ir ? expansion : 1);
  block->set_squeeze_excite(ir && se);
}

void SampleBlock(const StageDef& st, std::mt19937_64& rng, nas::v1::Block* block) {
  SetBlock(block, Pick(st.block_types, rng), Pick(st.kernels, rng), Pick(st.expansions, rng),
           st.allow_squeeze_excite && std::bernoulli_distribution(0.5)(rng));
}

}  // namespace

absl::StatusOr<SearchSpaceDef> ResolveSearchSpace(const nas::v1::SearchSpace& request) {
  if (request.stages_size() > 0) return UserSpace(request);
  absl::StatusOr<SearchSpaceDef> preset = PresetSpace(request.name());
  if (!preset.ok()) {
    return Invalid("name", absl::StrCat("\"", request.name().substr(0, 80),
                                        "\" is not a preset search space (",
                                        absl::StrJoin(PresetSearchSpaceNames(), ", "),
                                        "); to describe a space of your own, give its stages"));
  }
  if (!request.stem_widths().empty() || !request.head_widths().empty()) {
    return Invalid(request.stem_widths().empty() ? "head_widths" : "stem_widths",
                   "a preset's stem and head are fixed; describe a space of your own (stages) "
                   "to choose them");
  }
  return NarrowPreset(*std::move(preset), request);
}

absl::Status SupernetCovers(const SearchSpaceDef& space) {
  for (size_t i = 0; i < space.stages.size(); ++i) {
    for (BlockType t : space.stages[i].block_types) {
      if (t != nas::v1::INVERTED_RESIDUAL) {
        return Invalid(absl::StrCat("stages[", i, "].block_types"),
                       absl::StrCat(BlockTypeName(t),
                                    ": a weight-sharing supernet makes only "
                                    "inverted residuals elastic (depth, kernel, expansion, "
                                    "width); use an evolutionary strategy for ",
                                    space.name));
      }
    }
  }
  return absl::OkStatus();
}

nas::v1::BlockType BlockTypeOf(const nas::v1::Architecture& arch, const nas::v1::Block& block) {
  if (block.type() != nas::v1::BLOCK_TYPE_UNSPECIFIED) return block.type();
  return arch.space() == "resnet" ? nas::v1::BASIC_RESIDUAL : nas::v1::INVERTED_RESIDUAL;
}

int StageStride(const nas::v1::Architecture& arch, int s) {
  const int stride = arch.stages(s).stride();
  if (stride != 0) return stride;
  return s == 0 ? 1 : 2;
}

int BlockKernel(nas::v1::BlockType type, const nas::v1::Block& block) {
  if (block.kernel() == 0 && type != nas::v1::INVERTED_RESIDUAL) return 3;
  return block.kernel();
}

int BlockExpansion(nas::v1::BlockType type, const nas::v1::Block& block) {
  return type == nas::v1::INVERTED_RESIDUAL ? block.expansion() : 1;
}

bool IsResidualFamily(nas::v1::BlockType type) {
  return type == nas::v1::BASIC_RESIDUAL || type == nas::v1::BOTTLENECK_RESIDUAL ||
         type == nas::v1::CONV;
}

bool StemUsesRelu(const nas::v1::Architecture& arch) {
  if (arch.stages_size() == 0 || arch.stages(0).blocks_size() == 0) return false;
  return IsResidualFamily(BlockTypeOf(arch, arch.stages(0).blocks(0)));
}

std::string BlockTypeName(nas::v1::BlockType type) { return nas::v1::BlockType_Name(type); }

absl::Status ValidateArchitecture(const nas::v1::Architecture& arch, const SearchSpaceDef& space) {
  if (arch.space() != space.name) {
    return absl::InvalidArgumentError(absl::StrCat("architecture.space: \"", arch.space(),
                                                   "\" does not match the search space \"",
                                                   space.name, "\""));
  }
  NAS_RETURN_IF_ERROR(OneOf("resolution", arch.resolution(), space.resolutions));
  NAS_RETURN_IF_ERROR(OneOf("stem_width", arch.stem_width(), space.stem_widths));
  NAS_RETURN_IF_ERROR(OneOf("head_width", arch.head_width(), space.head_widths));
  const int num_stages = static_cast<int>(space.stages.size());
  if (arch.stages_size() != num_stages) {
    return absl::InvalidArgumentError(absl::StrCat("architecture.stages: ", space.name, " has ",
                                                   num_stages, " stages, got ",
                                                   arch.stages_size()));
  }
  for (int i = 0; i < num_stages; ++i) {
    const nas::v1::Stage& stage = arch.stages(i);
    const StageDef& def = space.stages[i];
    const std::string prefix = absl::StrCat("stages[", i, "]");
    NAS_RETURN_IF_ERROR(OneOf(absl::StrCat(prefix, ".width"), stage.width(), def.widths));
    if (StageStride(arch, i) != def.stride) {
      return absl::InvalidArgumentError(absl::StrCat(
          "architecture.", prefix, ".stride: ", stage.stride(), "; the space's is ", def.stride));
    }
    if (stage.blocks_size() < def.min_depth || stage.blocks_size() > def.max_depth) {
      return absl::InvalidArgumentError(absl::StrCat("architecture.", prefix, ".blocks: depth ",
                                                     stage.blocks_size(), " is outside ",
                                                     def.min_depth, "..", def.max_depth));
    }
    for (int j = 0; j < stage.blocks_size(); ++j) {
      const nas::v1::Block& b = stage.blocks(j);
      const std::string bp = absl::StrCat(prefix, ".blocks[", j, "]");
      const BlockType type = BlockTypeOf(arch, b);
      if (std::find(def.block_types.begin(), def.block_types.end(), type) ==
          def.block_types.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "architecture.", bp, ".type: ", BlockTypeName(type), " is not allowed in this stage"));
      }
      NAS_RETURN_IF_ERROR(OneOf(absl::StrCat(bp, ".kernel"), BlockKernel(type, b), def.kernels));
      if (type == nas::v1::INVERTED_RESIDUAL) {
        NAS_RETURN_IF_ERROR(OneOf(absl::StrCat(bp, ".expansion"), b.expansion(), def.expansions));
        if (b.squeeze_excite() && !def.allow_squeeze_excite) {
          return absl::InvalidArgumentError(absl::StrCat(
              "architecture.", bp, ".squeeze_excite: not allowed in this search space"));
        }
      } else if ((b.expansion() != 0 && b.expansion() != 1) || b.squeeze_excite()) {
        return absl::InvalidArgumentError(
            absl::StrCat("architecture.", bp, ": a ", BlockTypeName(type),
                         " block has no expansion or squeeze-excite"));
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
  for (const StageDef& st : space.stages) {
    nas::v1::Stage* stage = arch.add_stages();
    stage->set_width(Pick(st.widths, rng));
    stage->set_stride(st.stride);
    const int depth = std::uniform_int_distribution<int>(st.min_depth, st.max_depth)(rng);
    for (int j = 0; j < depth; ++j) SampleBlock(st, rng, stage->add_blocks());
  }
  arch.set_head_width(Pick(space.head_widths, rng));
  return arch;
}

namespace {

nas::v1::Architecture Extreme(const SearchSpaceDef& space, bool largest) {
  auto pick = [largest](const std::vector<int>& choices) {
    return largest ? choices.back() : choices.front();
  };
  nas::v1::Architecture arch;
  arch.set_space(space.name);
  arch.set_resolution(pick(space.resolutions));
  arch.set_stem_width(pick(space.stem_widths));
  for (const StageDef& st : space.stages) {
    nas::v1::Stage* stage = arch.add_stages();
    stage->set_width(pick(st.widths));
    stage->set_stride(st.stride);
    for (int j = 0; j < (largest ? st.max_depth : st.min_depth); ++j) {
      SetBlock(stage->add_blocks(), st.block_types.front(), pick(st.kernels), pick(st.expansions),
               largest && st.allow_squeeze_excite);
    }
  }
  arch.set_head_width(pick(space.head_widths));
  return arch;
}

// Another allowed value than `current`, or `current` when there is none.
int Other(const std::vector<int>& choices, int current, std::mt19937_64& rng) {
  std::vector<int> others;
  for (int c : choices) {
    if (c != current) others.push_back(c);
  }
  return others.empty() ? current : Pick(others, rng);
}

}  // namespace

nas::v1::Architecture LargestArchitecture(const SearchSpaceDef& space) {
  return Extreme(space, true);
}

nas::v1::Architecture SmallestArchitecture(const SearchSpaceDef& space) {
  return Extreme(space, false);
}

nas::v1::Architecture MutateArchitecture(const nas::v1::Architecture& arch,
                                         const SearchSpaceDef& space, std::mt19937_64& rng) {
  // Every mutable choice, as a closure that changes it; one is drawn uniformly.
  nas::v1::Architecture child = arch;
  std::vector<std::function<void()>> moves;
  if (space.resolutions.size() > 1) {
    moves.push_back(
        [&] { child.set_resolution(Other(space.resolutions, arch.resolution(), rng)); });
  }
  if (space.stem_widths.size() > 1) {
    moves.push_back(
        [&] { child.set_stem_width(Other(space.stem_widths, arch.stem_width(), rng)); });
  }
  if (space.head_widths.size() > 1) {
    moves.push_back(
        [&] { child.set_head_width(Other(space.head_widths, arch.head_width(), rng)); });
  }
  for (int s = 0; s < arch.stages_size() && s < static_cast<int>(space.stages.size()); ++s) {
    nas::v1::Stage* stage = child.mutable_stages(s);
    const StageDef& st = space.stages[s];
    if (st.widths.size() > 1) {
      moves.push_back([&, stage] { stage->set_width(Other(st.widths, stage->width(), rng)); });
    }
    if (st.max_depth > st.min_depth) {
      moves.push_back([&, stage] {
        const int depth = stage->blocks_size();
        const bool grow = depth == st.min_depth ||
                          (depth < st.max_depth && std::bernoulli_distribution(0.5)(rng));
        if (grow) {
          *stage->add_blocks() =
              stage->blocks(std::uniform_int_distribution<int>(0, depth - 1)(rng));
        } else {
          stage->mutable_blocks()->RemoveLast();
        }
      });
    }
    for (int b = 0; b < arch.stages(s).blocks_size(); ++b) {
      nas::v1::Block* block = stage->mutable_blocks(b);
      const BlockType type = BlockTypeOf(arch, arch.stages(s).blocks(b));
      if (st.block_types.size() > 1) {
        moves.push_back([&, block, type] {
          std::vector<BlockType> others;
          for (BlockType t : st.block_types) {
            if (t != type) others.push_back(t);
          }
          SetBlock(block, Pick(others, rng), BlockKernel(type, *block), Pick(st.expansions, rng),
                   false);
        });
      }
      if (st.kernels.size() > 1) {
        moves.push_back([&, block, type] {
          block->set_kernel(Other(st.kernels, BlockKernel(type, *block), rng));
        });
      }
      if (type != nas::v1::INVERTED_RESIDUAL) continue;
      if (st.expansions.size() > 1) {
        moves.push_back(
            [&, block] { block->set_expansion(Other(st.expansions, block->expansion(), rng)); });
      }
      if (st.allow_squeeze_excite) {
        moves.push_back([block] { block->set_squeeze_excite(!block->squeeze_excite()); });
      }
    }
  }
  if (moves.empty()) return child;
  moves[std::uniform_int_distribution<size_t>(0, moves.size() - 1)(rng)]();
  return child;
}

nas::v1::Architecture CrossoverArchitectures(const nas::v1::Architecture& a,
                                             const nas::v1::Architecture& b, std::mt19937_64& rng) {
  std::bernoulli_distribution coin(0.5);
  nas::v1::Architecture child = a;
  if (coin(rng)) child.set_resolution(b.resolution());
  if (coin(rng)) child.set_stem_width(b.stem_width());
  if (coin(rng)) child.set_head_width(b.head_width());
  for (int s = 0; s < child.stages_size() && s < b.stages_size(); ++s) {
    if (coin(rng)) *child.mutable_stages(s) = b.stages(s);
  }
  return child;
}

std::string CanonicalKey(const nas::v1::Architecture& arch) {
  const bool resnet = arch.space() == "resnet";
  std::string key = absl::StrCat(arch.space(), "|r", arch.resolution(), "|s", arch.stem_width());
  for (int s = 0; s < arch.stages_size(); ++s) {
    const nas::v1::Stage& stage = arch.stages(s);
    absl::StrAppend(&key, "|w", stage.width());
    // Written only where it differs from the stride the key always implied.
    if (StageStride(arch, s) != (s == 0 ? 1 : 2)) absl::StrAppend(&key, "/s", StageStride(arch, s));
    absl::StrAppend(&key, ":");
    for (const nas::v1::Block& b : stage.blocks()) {
      const BlockType type = BlockTypeOf(arch, b);
      const int k = BlockKernel(type, b);
      switch (type) {
        case nas::v1::INVERTED_RESIDUAL:
          absl::StrAppend(&key, "k", k, "e", b.expansion(), b.squeeze_excite() ? "s" : "", ",");
          break;
        case nas::v1::BASIC_RESIDUAL:
          absl::StrAppend(&key, resnet && k == 3 ? "b" : absl::StrCat("B", k, ","));
          break;
        case nas::v1::BOTTLENECK_RESIDUAL:
          absl::StrAppend(&key, "N", k, ",");
          break;
        case nas::v1::CONV:
          absl::StrAppend(&key, "C", k, ",");
          break;
        default:
          absl::StrAppend(&key, "D", k, ",");
          break;
      }
    }
  }
  if (arch.head_width() > 0) absl::StrAppend(&key, "|h", arch.head_width());
  return key;
}

std::string ArchitectureHash(const nas::v1::Architecture& arch) {
  return Sha256Hex(CanonicalKey(arch));
}

}  // namespace nas
