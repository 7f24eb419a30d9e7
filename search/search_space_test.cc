#include "search/search_space.h"

#include <set>

#include "gtest/gtest.h"

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
  EXPECT_EQ(s->kernels, (std::vector<int>{3, 5}));
  EXPECT_EQ(s->max_depth, 2);
  EXPECT_EQ(s->resolutions, (std::vector<int>{28}));
}

TEST(ResolveSearchSpaceTest, WideningIsRejected) {
  nas::v1::SearchSpace req = Named("mobilenetv2");
  req.add_kernels(9);
  EXPECT_EQ(ResolveSearchSpace(req).status().code(), absl::StatusCode::kInvalidArgument);
  req = Named("mobilenetv2");
  req.set_max_depth(9);
  EXPECT_NE(ResolveSearchSpace(req).status().message().find("space.max_depth"),
            std::string::npos);
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

}  // namespace
}  // namespace nas
