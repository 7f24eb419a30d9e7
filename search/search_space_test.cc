#include "search/search_space.h"

#include <set>

#include "gtest/gtest.h"
#include "search/cost_model.h"

namespace nas {
namespace {

nas::v1::SearchSpace Named(const std::string& name) {
  nas::v1::SearchSpace s;
  s.set_name(name);
  return s;
}

TEST(ResolveSearchSpaceTest, UnknownNameIsInvalidArgumentNamingTheField) {
  absl::StatusOr<SearchSpaceDef> s = ResolveSearchSpace(Named("vgg"));
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("space.name"), std::string::npos);
}

TEST(ResolveSearchSpaceTest, NarrowingToASubsetKeepsOnlyThoseChoices) {
  nas::v1::SearchSpace req = Named("mobilenetv2");
  req.add_kernels(5);
  req.add_kernels(3);
  req.set_max_depth(2);
  req.add_resolutions(28);
  absl::StatusOr<SearchSpaceDef> s = ResolveSearchSpace(req);
  ASSERT_TRUE(s.ok()) << s.status();
  for (const StageDef& stage : s->stages) {
    EXPECT_EQ(stage.kernels, (std::vector<int>{3, 5}));
    EXPECT_EQ(stage.max_depth, 2);
  }
  EXPECT_EQ(s->resolutions, (std::vector<int>{28}));
}

TEST(ResolveSearchSpaceTest, WideningIsRejected) {
  nas::v1::SearchSpace req = Named("mobilenetv2");
  req.add_kernels(9);
  EXPECT_EQ(ResolveSearchSpace(req).status().code(), absl::StatusCode::kInvalidArgument);
  req = Named("mobilenetv2");
  req.set_max_depth(9);
  EXPECT_NE(ResolveSearchSpace(req).status().message().find("space.max_depth"), std::string::npos);
  req = Named("mobilenetv2");
  req.set_min_depth(3);
  req.set_max_depth(2);
  EXPECT_EQ(ResolveSearchSpace(req).status().code(), absl::StatusCode::kInvalidArgument);
  req = Named("resnet");
  req.set_allow_squeeze_excite(true);
  EXPECT_EQ(ResolveSearchSpace(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SampleArchitectureTest, SamplesStayInsideANarrowedSpaceAndVary) {
  for (const std::string name : {"mobilenetv2", "resnet"}) {
    nas::v1::SearchSpace req = Named(name);
    req.set_min_depth(2);
    req.set_max_depth(3);
    req.add_width_multipliers_percent(50);
    absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(req);
    ASSERT_TRUE(space.ok());
    std::mt19937_64 rng(42);
    std::set<std::string> keys;
    for (int i = 0; i < 200; ++i) {
      nas::v1::Architecture a = SampleArchitecture(*space, rng);
      ASSERT_TRUE(ValidateArchitecture(a, *space).ok()) << ValidateArchitecture(a, *space);
      for (const auto& stage : a.stages()) {
        EXPECT_GE(stage.blocks_size(), 2);
        EXPECT_LE(stage.blocks_size(), 3);
      }
      keys.insert(CanonicalKey(a));
    }
    // The narrowed ResNet space has 4 resolutions x 2 stems x 2^3 depths = 64 points; 200 draws
    // should find nearly all of them. MobileNetV2's is vast, so nearly every draw is new.
    EXPECT_GT(keys.size(), name == "resnet" ? 55u : 190u) << name;
  }
}

// The extremes lie in the space and bound every sample of it, choice by choice.
TEST(ExtremeArchitectureTest, LargestAndSmallestBoundEverySample) {
  nas::v1::SearchSpace req = Named("mobilenetv2");
  req.set_max_depth(3);
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(req);
  ASSERT_TRUE(space.ok());
  const nas::v1::Architecture big = LargestArchitecture(*space);
  const nas::v1::Architecture small = SmallestArchitecture(*space);
  ASSERT_TRUE(ValidateArchitecture(big, *space).ok()) << ValidateArchitecture(big, *space);
  ASSERT_TRUE(ValidateArchitecture(small, *space).ok()) << ValidateArchitecture(small, *space);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100; ++i) {
    const nas::v1::Architecture a = SampleArchitecture(*space, rng);
    EXPECT_LE(a.resolution(), big.resolution());
    EXPECT_GE(a.resolution(), small.resolution());
    EXPECT_LE(a.stem_width(), big.stem_width());
    EXPECT_GE(a.stem_width(), small.stem_width());
    for (int s = 0; s < a.stages_size(); ++s) {
      EXPECT_LE(a.stages(s).width(), big.stages(s).width());
      EXPECT_GE(a.stages(s).width(), small.stages(s).width());
      EXPECT_LE(a.stages(s).blocks_size(), big.stages(s).blocks_size());
      EXPECT_GE(a.stages(s).blocks_size(), small.stages(s).blocks_size());
      for (const nas::v1::Block& b : a.stages(s).blocks()) {
        EXPECT_LE(b.kernel(), big.stages(s).blocks(0).kernel());
        EXPECT_GE(b.kernel(), small.stages(s).blocks(0).kernel());
        EXPECT_LE(b.expansion(), big.stages(s).blocks(0).expansion());
        EXPECT_GE(b.expansion(), small.stages(s).blocks(0).expansion());
      }
    }
  }
  EXPECT_TRUE(big.stages(0).blocks(0).squeeze_excite());
  EXPECT_FALSE(small.stages(0).blocks(0).squeeze_excite());
}

TEST(ValidateArchitectureTest, NamesTheOffendingField) {
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(Named("mobilenetv2"));
  std::mt19937_64 rng(1);
  nas::v1::Architecture a = SampleArchitecture(*space, rng);
  a.mutable_stages(1)->mutable_blocks(0)->set_kernel(9);
  absl::Status st = ValidateArchitecture(a, *space);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("stages[1].blocks[0].kernel"), std::string::npos) << st;

  a = SampleArchitecture(*space, rng);
  a.mutable_stages()->RemoveLast();
  EXPECT_NE(ValidateArchitecture(a, *space).message().find("architecture.stages"),
            std::string::npos);

  a = SampleArchitecture(*space, rng);
  a.set_resolution(1000);
  EXPECT_NE(ValidateArchitecture(a, *space).message().find("resolution"), std::string::npos);
}

TEST(CanonicalKeyTest, ResNetIgnoresKernelAndExpansionEncodings) {
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(Named("resnet"));
  std::mt19937_64 rng(3);
  nas::v1::Architecture a = SampleArchitecture(*space, rng);
  nas::v1::Architecture b = a;
  for (auto& stage : *b.mutable_stages()) {
    for (auto& block : *stage.mutable_blocks()) {
      block.clear_kernel();
      block.clear_expansion();
    }
  }
  ASSERT_TRUE(ValidateArchitecture(b, *space).ok());
  EXPECT_EQ(CanonicalKey(a), CanonicalKey(b));
  b.mutable_stages(0)->add_blocks();
  EXPECT_NE(CanonicalKey(a), CanonicalKey(b));
}

TEST(CanonicalKeyTest, MobileNetDistinguishesEveryChoice) {
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(Named("mobilenetv2"));
  std::mt19937_64 rng(5);
  nas::v1::Architecture a = SampleArchitecture(*space, rng);
  nas::v1::Architecture b = a;
  b.mutable_stages(0)->mutable_blocks(0)->set_squeeze_excite(
      !a.stages(0).blocks(0).squeeze_excite());
  EXPECT_NE(CanonicalKey(a), CanonicalKey(b));
  b = a;
  b.mutable_stages(0)->mutable_blocks(0)->set_expansion(a.stages(0).blocks(0).expansion() == 1 ? 3
                                                                                               : 1);
  EXPECT_NE(CanonicalKey(a), CanonicalKey(b));
}

// A space no preset holds: a plain-convolution stem stage, a stage that may be a basic or a
// bottleneck residual, a depthwise-separable stage and an inverted-residual stage, a head.
nas::v1::SearchSpace UserSpace() {
  nas::v1::SearchSpace s;
  s.set_name("my-space");
  s.add_resolutions(24);
  s.add_resolutions(28);
  s.add_stem_widths(8);
  s.add_stem_widths(12);
  s.add_head_widths(0);
  s.add_head_widths(96);
  nas::v1::StageSpace* a = s.add_stages();
  a->set_stride(1);
  a->add_widths(12);
  a->add_widths(20);
  a->add_block_types(nas::v1::CONV);
  a->add_kernels(3);
  a->add_kernels(5);
  nas::v1::StageSpace* b = s.add_stages();
  b->set_stride(2);
  b->set_base_width(32);
  b->add_width_multipliers_percent(50);
  b->add_width_multipliers_percent(100);
  b->set_min_depth(1);
  b->set_max_depth(3);
  b->add_block_types(nas::v1::BASIC_RESIDUAL);
  b->add_block_types(nas::v1::BOTTLENECK_RESIDUAL);
  nas::v1::StageSpace* c = s.add_stages();
  c->set_stride(2);
  c->add_widths(48);
  c->add_block_types(nas::v1::DEPTHWISE_SEPARABLE);
  c->add_kernels(3);
  c->add_kernels(7);
  nas::v1::StageSpace* d = s.add_stages();
  d->set_stride(1);
  d->add_widths(64);
  d->set_max_depth(2);
  d->add_block_types(nas::v1::INVERTED_RESIDUAL);
  d->add_expansions(2);
  d->add_expansions(4);
  d->set_allow_squeeze_excite(true);
  return s;
}

TEST(UserSpaceTest, SamplesMutantsAndChildrenStayInsideIt) {
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(UserSpace());
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_FALSE(space->preset);
  EXPECT_EQ(space->stages[1].widths, (std::vector<int>{16, 32}));
  std::mt19937_64 rng(11);
  std::set<std::string> keys;
  std::set<int> types;
  nas::v1::Architecture walker = SampleArchitecture(*space, rng);
  for (int i = 0; i < 300; ++i) {
    const nas::v1::Architecture a = SampleArchitecture(*space, rng);
    ASSERT_TRUE(ValidateArchitecture(a, *space).ok()) << ValidateArchitecture(a, *space);
    walker = MutateArchitecture(walker, *space, rng);
    ASSERT_TRUE(ValidateArchitecture(walker, *space).ok()) << ValidateArchitecture(walker, *space);
    const nas::v1::Architecture child = CrossoverArchitectures(a, walker, rng);
    ASSERT_TRUE(ValidateArchitecture(child, *space).ok()) << ValidateArchitecture(child, *space);
    keys.insert(CanonicalKey(a));
    for (const auto& b : a.stages(1).blocks()) types.insert(b.type());
    EXPECT_EQ(a.stages(0).stride(), 1);
    EXPECT_EQ(a.stages(3).stride(), 1);  // a stride-1 stage after the first: written in the key
    EXPECT_NE(CanonicalKey(a).find("/s1"), std::string::npos);
  }
  EXPECT_EQ(types, (std::set<int>{nas::v1::BASIC_RESIDUAL, nas::v1::BOTTLENECK_RESIDUAL}));
  EXPECT_GT(keys.size(), 250u);
  // Every block type costs something different from the others.
  nas::v1::Architecture a = SmallestArchitecture(*space);
  nas::v1::Architecture b = a;
  b.mutable_stages(1)->mutable_blocks(0)->set_type(nas::v1::BOTTLENECK_RESIDUAL);
  EXPECT_NE(CanonicalKey(a), CanonicalKey(b));
  EXPECT_NE(EstimateCost(a, FashionMnistInput()).params,
            EstimateCost(b, FashionMnistInput()).params);
}

TEST(UserSpaceTest, ValidationNamesTheOffendingPath) {
  auto error = [](const nas::v1::SearchSpace& s) {
    absl::StatusOr<SearchSpaceDef> r = ResolveSearchSpace(s);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  nas::v1::SearchSpace s = UserSpace();
  s.mutable_stages(2)->add_widths(0);
  EXPECT_EQ(error(s).rfind("space.stages[2].widths[1]: 0 is outside 1 to 4096", 0), 0u) << error(s);
  s = UserSpace();
  s.mutable_stages(0)->set_stride(3);
  EXPECT_EQ(error(s).rfind("space.stages[0].stride: 3", 0), 0u) << error(s);
  s = UserSpace();
  s.mutable_stages(1)->set_max_depth(40);
  EXPECT_EQ(error(s).rfind("space.stages[1].max_depth", 0), 0u) << error(s);
  s = UserSpace();
  s.mutable_stages(1)->add_block_types(nas::v1::BLOCK_TYPE_UNSPECIFIED);
  EXPECT_EQ(error(s).rfind("space.stages[1].block_types[2]", 0), 0u) << error(s);
  s = UserSpace();
  s.mutable_stages(1)->add_expansions(6);  // no inverted residual in that stage
  EXPECT_EQ(error(s).rfind("space.stages[1].expansions", 0), 0u) << error(s);
  s = UserSpace();
  s.mutable_stages(2)->add_kernels(4);
  EXPECT_EQ(error(s).rfind("space.stages[2].kernels", 0), 0u) << error(s);
  s = UserSpace();
  s.clear_resolutions();
  EXPECT_EQ(error(s).rfind("space.resolutions: at least one value", 0), 0u) << error(s);
  s = UserSpace();
  s.set_name("resnet18");
  EXPECT_NE(error(s).find("is a preset"), std::string::npos) << error(s);
  s = UserSpace();
  s.add_kernels(3);  // a preset's narrowing field
  EXPECT_EQ(error(s).rfind("space.stages:", 0), 0u) << error(s);
  s = Named("resnet18");
  s.add_stem_widths(8);
  EXPECT_EQ(error(s).rfind("space.stem_widths", 0), 0u) << error(s);
  EXPECT_NE(error(Named("vgg")).find("mobilenetv2-1.0"), std::string::npos);
}

TEST(PresetTest, EveryPresetResolvesAndRoundTripsAsData) {
  for (const std::string& name : PresetSearchSpaceNames()) {
    absl::StatusOr<SearchSpaceDef> preset = ResolveSearchSpace(Named(name));
    ASSERT_TRUE(preset.ok()) << name << ": " << preset.status();
    // The preset written as a user's space (renamed) is the same space.
    absl::StatusOr<nas::v1::SearchSpace> written = PresetSearchSpace(name);
    ASSERT_TRUE(written.ok());
    written->set_name("copy-of-" + name);
    absl::StatusOr<SearchSpaceDef> copy = ResolveSearchSpace(*written);
    ASSERT_TRUE(copy.ok()) << name << ": " << copy.status();
    ASSERT_EQ(copy->stages.size(), preset->stages.size());
    for (size_t i = 0; i < copy->stages.size(); ++i) {
      EXPECT_EQ(copy->stages[i].widths, preset->stages[i].widths) << name << " stage " << i;
      EXPECT_EQ(copy->stages[i].kernels, preset->stages[i].kernels) << name << " stage " << i;
      EXPECT_EQ(copy->stages[i].expansions, preset->stages[i].expansions) << name;
    }
    nas::v1::Architecture big = LargestArchitecture(*preset);
    EXPECT_TRUE(ValidateArchitecture(big, *preset).ok()) << name;
    big.set_space(copy->name);
    EXPECT_TRUE(ValidateArchitecture(big, *copy).ok()) << name;
  }
}

// The networks people compress are the presets' largest members, at their published sizes.
TEST(PresetTest, ResNet18AndMobileNetV2AreTheLargestMembers) {
  const ArchitectureCost resnet18 = EstimateCost(
      LargestArchitecture(*ResolveSearchSpace(Named("resnet18"))), FashionMnistInput());
  // CIFAR ResNet-18 has 11,173,962 parameters with 3 input channels; 1 channel has 1,152 fewer.
  EXPECT_EQ(resnet18.params, 11173962 - 64 * 2 * 9);
  // 556M MACs at 32 x 32 with 3 channels (the largest resolution), 456M at 28 x 28.
  EXPECT_NEAR(resnet18.macs / 1e6, 554, 1);
  nas::v1::SearchSpace at28 = Named("resnet18");
  at28.add_resolutions(28);
  EXPECT_NEAR(
      EstimateCost(LargestArchitecture(*ResolveSearchSpace(at28)), FashionMnistInput()).macs / 1e6,
      456, 1);
  nas::v1::SearchSpace plain = Named("mobilenetv2-1.0");
  plain.add_expansions(6);
  plain.set_allow_squeeze_excite(false);
  plain.add_kernels(3);
  const ArchitectureCost mbv2 =
      EstimateCost(LargestArchitecture(*ResolveSearchSpace(plain)), FashionMnistInput());
  // MobileNetV2 1.0 has 3.50M parameters with 1,000 classes; with 10, 2.24M.
  EXPECT_NEAR(mbv2.params / 1e6, 2.24, 0.02);
}

TEST(PresetTest, TheSupernetCoversInvertedResidualsOnly) {
  EXPECT_TRUE(SupernetCovers(*ResolveSearchSpace(Named("mobilenetv2"))).ok());
  EXPECT_TRUE(SupernetCovers(*ResolveSearchSpace(Named("mobilenetv2-1.0"))).ok());
  const absl::Status resnet = SupernetCovers(*ResolveSearchSpace(Named("resnet18")));
  EXPECT_EQ(resnet.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resnet.message().rfind("space.stages[0].block_types: BASIC_RESIDUAL", 0), 0u) << resnet;
  EXPECT_FALSE(SupernetCovers(*ResolveSearchSpace(UserSpace())).ok());
}

// Architectures stored before spaces were data leave type and stride 0: they validate, cost and
// hash as they did.
TEST(CanonicalKeyTest, OldEncodingsKeepTheirKeys) {
  for (const std::string name : {"mobilenetv2", "resnet"}) {
    absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(Named(name));
    std::mt19937_64 rng(9);
    const nas::v1::Architecture a = SampleArchitecture(*space, rng);
    nas::v1::Architecture old = a;
    for (auto& stage : *old.mutable_stages()) {
      stage.clear_stride();
      for (auto& block : *stage.mutable_blocks()) block.clear_type();
    }
    EXPECT_TRUE(ValidateArchitecture(old, *space).ok()) << ValidateArchitecture(old, *space);
    EXPECT_EQ(CanonicalKey(old), CanonicalKey(a));
    EXPECT_EQ(CanonicalKey(a).find("/s"), std::string::npos);
    EXPECT_EQ(EstimateCost(old, FashionMnistInput()).macs,
              EstimateCost(a, FashionMnistInput()).macs);
  }
}

}  // namespace
}  // namespace nas
