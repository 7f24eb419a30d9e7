// The preset search spaces, written as data in the form a user writes a space of their own
// (search_space.h). ResolveSearchSpace() narrows them; PresetSearchSpace() writes them out.
#include "search/space_presets.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace nas {

std::vector<int> SortedDistinct(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Width of `base` at `percent`, rounded to a multiple of 8 (hardware-friendly), at least 8.
int ScaledWidth(int base, int percent) {
  return std::max(8, static_cast<int>(std::lround(base * percent / 100.0 / 8.0)) * 8);
}

std::vector<int> WidthsOf(int base, const std::vector<int>& percents) {
  std::vector<int> widths;
  for (int p : percents) widths.push_back(ScaledWidth(base, p));
  return SortedDistinct(widths);
}

namespace {

using nas::v1::BlockType;

StageDef PresetStage(int stride, int base, std::vector<int> percents, int min_depth, int max_depth,
                     BlockType type, std::vector<int> kernels, std::vector<int> expansions,
                     bool se) {
  StageDef s;
  s.stride = stride;
  s.base_width = base;
  s.width_multipliers_percent = percents;
  s.widths = WidthsOf(base, percents);
  s.min_depth = min_depth;
  s.max_depth = max_depth;
  s.block_types = {type};
  s.kernels = std::move(kernels);
  s.expansions = type == nas::v1::INVERTED_RESIDUAL ? std::move(expansions) : std::vector<int>{1};
  s.allow_squeeze_excite = se;
  return s;
}

// The two spaces the service started with, for Fashion-MNIST-sized inputs: four (MobileNetV2)
// or three (ResNet) stages, each after the first halving the feature map.
SearchSpaceDef MobileNetV2Space() {
  SearchSpaceDef s;
  s.name = "mobilenetv2";
  s.resolutions = {20, 24, 28, 32};
  s.stem_widths = {8, 16};
  s.head_widths = {0};
  int stride = 1;
  for (int base : {16, 24, 40, 80}) {
    s.stages.push_back(PresetStage(stride, base, {50, 75, 100}, 1, 4, nas::v1::INVERTED_RESIDUAL,
                                   {3, 5, 7}, {1, 3, 6}, true));
    stride = 2;
  }
  return s;
}

SearchSpaceDef ResNetSpace() {
  SearchSpaceDef s;
  s.name = "resnet";
  s.resolutions = {20, 24, 28, 32};
  s.stem_widths = {8, 16};
  s.head_widths = {0};
  int stride = 1;
  for (int base : {16, 32, 64}) {
    s.stages.push_back(
        PresetStage(stride, base, {50, 75, 100}, 1, 4, nas::v1::BASIC_RESIDUAL, {3}, {1}, false));
    stride = 2;
  }
  return s;
}

// ResNet-18 as trained on 28-32 pixel images (He et al. 2016, the CIFAR-style 3x3 stride-1 stem,
// no max-pool): stages of 64, 128, 256, 512 channels, two basic blocks each, strides 1, 2, 2, 2.
// The family shrinks every width to a quarter and every stage to one block; its largest member
// is ResNet-18 itself (about 11.2M parameters with 10 classes).
SearchSpaceDef ResNet18Space() {
  SearchSpaceDef s;
  s.name = "resnet18";
  s.resolutions = {28, 32};
  s.stem_widths = WidthsOf(64, {25, 50, 75, 100});
  s.head_widths = {0};
  int stride = 1;
  for (int base : {64, 128, 256, 512}) {
    s.stages.push_back(PresetStage(stride, base, {25, 50, 75, 100}, 1, 2, nas::v1::BASIC_RESIDUAL,
                                   {3}, {1}, false));
    stride = 2;
  }
  return s;
}

// MobileNetV2 at width 1.0 (Sandler et al. 2018, table 2) adapted to 28-32 pixel images as is
// usual for CIFAR: stride-1 stem and second stage, so the feature map ends at 4 x 4. Stages
// (expansion, width, blocks, stride): (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1)
// (6,160,3,2) (6,320,1,1), head 1280. The family: widths from 35% to 100%, depth from 1 to the
// original's, kernels 3-7, expansions 1-6, optional squeeze-excite, a smaller head or none.
SearchSpaceDef MobileNetV2FullSpace() {
  SearchSpaceDef s;
  s.name = "mobilenetv2-1.0";
  s.resolutions = {28, 32};
  s.stem_widths = WidthsOf(32, {35, 50, 75, 100});
  s.head_widths = {0, 320, 640, 1280};
  struct Row {
    int width, blocks, stride;
  };
  for (const Row& r : std::vector<Row>{
           {16, 1, 1}, {24, 2, 1}, {32, 3, 2}, {64, 4, 2}, {96, 3, 1}, {160, 3, 2}, {320, 1, 1}}) {
    s.stages.push_back(PresetStage(r.stride, r.width, {35, 50, 75, 100}, 1, r.blocks,
                                   nas::v1::INVERTED_RESIDUAL, {3, 5, 7}, {1, 3, 6}, true));
  }
  return s;
}

}  // namespace

absl::StatusOr<SearchSpaceDef> PresetSpace(const std::string& name) {
  SearchSpaceDef s;
  if (name == "mobilenetv2") {
    s = MobileNetV2Space();
  } else if (name == "resnet") {
    s = ResNetSpace();
  } else if (name == "resnet18") {
    s = ResNet18Space();
  } else if (name == "mobilenetv2-1.0") {
    s = MobileNetV2FullSpace();
  } else {
    return absl::NotFoundError(name);
  }
  s.preset = true;
  return s;
}

std::vector<std::string> PresetSearchSpaceNames() {
  return {"mobilenetv2", "resnet", "resnet18", "mobilenetv2-1.0"};
}

absl::StatusOr<nas::v1::SearchSpace> PresetSearchSpace(const std::string& name) {
  absl::StatusOr<SearchSpaceDef> def = PresetSpace(name);
  if (!def.ok()) return absl::NotFoundError(absl::StrCat("no preset search space \"", name, "\""));
  nas::v1::SearchSpace out;
  out.set_name(def->name);
  for (int r : def->resolutions) out.add_resolutions(r);
  for (int w : def->stem_widths) out.add_stem_widths(w);
  for (int w : def->head_widths) out.add_head_widths(w);
  for (const StageDef& st : def->stages) {
    nas::v1::StageSpace* s = out.add_stages();
    s->set_stride(st.stride);
    s->set_base_width(st.base_width);
    for (int p : st.width_multipliers_percent) s->add_width_multipliers_percent(p);
    s->set_min_depth(st.min_depth);
    s->set_max_depth(st.max_depth);
    for (BlockType t : st.block_types) s->add_block_types(t);
    for (int k : st.kernels) s->add_kernels(k);
    if (st.block_types[0] == nas::v1::INVERTED_RESIDUAL) {
      for (int e : st.expansions) s->add_expansions(e);
      s->set_allow_squeeze_excite(st.allow_squeeze_excite);
    }
  }
  return out;
}

}  // namespace nas
