#include "trainer/model_builder.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

nas::v1::Architecture Mobile(int kernel, int expansion, bool se, int depth = 2) {
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(24);
  a.set_stem_width(8);
  for (int width : {8, 16, 24}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    for (int i = 0; i < depth; ++i) {
      nas::v1::Block* b = s->add_blocks();
      b->set_kernel(kernel);
      b->set_expansion(expansion);
      b->set_squeeze_excite(se);
    }
  }
  return a;
}

nas::v1::Architecture ResNet(int depth, int width_scale = 1) {
  nas::v1::Architecture a;
  a.set_space("resnet");
  a.set_resolution(28);
  a.set_stem_width(16);
  for (int width : {16, 32, 64}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width * width_scale);
    for (int i = 0; i < depth; ++i) s->add_blocks();
  }
  return a;
}

TEST(ModelBuilderTest, EveryBlockOptionBuildsAndClassifies) {
  std::vector<nas::v1::Architecture> archs;
  for (int k : {3, 5, 7}) {
    for (int e : {1, 3, 6}) {
      for (bool se : {false, true}) archs.push_back(Mobile(k, e, se));
    }
  }
  archs.push_back(ResNet(1));
  archs.push_back(ResNet(2));
  for (const auto& arch : archs) {
    absl::StatusOr<Network> net = BuildNetwork(arch, NetworkOptions());
    ASSERT_TRUE(net.ok()) << net.status();
    torch::Tensor logits = (*net)->forward(torch::rand({2, 1, 28, 28}));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10})) << arch.DebugString();
    EXPECT_GT((*net)->macs(), 0);
    EXPECT_GT((*net)->peak_activation_bytes(), 0);
  }
}

TEST(ModelBuilderTest, CostsGrowWithTheNetwork) {
  Network small = *BuildNetwork(Mobile(3, 1, false, 1), NetworkOptions());
  Network big = *BuildNetwork(Mobile(7, 6, true, 3), NetworkOptions());
  EXPECT_LT(small->macs(), big->macs());
  EXPECT_LT(small->parameter_count(), big->parameter_count());
  EXPECT_LT(small->peak_activation_bytes(), big->peak_activation_bytes());
  Network narrow = *BuildNetwork(ResNet(1), NetworkOptions());
  Network wide = *BuildNetwork(ResNet(1, 2), NetworkOptions());
  EXPECT_LT(narrow->macs(), wide->macs());
}

TEST(ModelBuilderTest, ResidualsOnlyWhereShapesMatch) {
  Network net = *BuildNetwork(Mobile(3, 3, false, 2), NetworkOptions());
  // Stage 0 keeps width 8 from the stem: both blocks are residual. Later stages change width or
  // stride in their first block only.
  std::vector<bool> residual;
  for (const auto& m : *net->blocks) residual.push_back(m.get<Block>()->residual);
  EXPECT_EQ(residual, (std::vector<bool>{true, true, false, true, false, true}));
}

TEST(ModelBuilderTest, InvalidArchitecturesAreRejectedNamingTheField) {
  nas::v1::Architecture a = Mobile(3, 3, false);
  a.mutable_stages(1)->mutable_blocks(0)->set_kernel(4);
  absl::StatusOr<Network> net = BuildNetwork(a, NetworkOptions());
  EXPECT_EQ(net.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(net.status().message().find("stages[1].blocks[0].kernel"), std::string::npos);

  a = Mobile(3, 3, false);
  a.set_space("vit");
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("architecture.space"),
            std::string::npos);
  a = Mobile(3, 3, false);
  a.mutable_stages(0)->clear_blocks();
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("stages[0].blocks"),
            std::string::npos);
  a = ResNet(1);
  a.mutable_stages(0)->mutable_blocks(0)->set_kernel(5);
  EXPECT_EQ(BuildNetwork(a, NetworkOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  a = Mobile(3, 3, false);
  a.set_resolution(2);
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("resolution"),
            std::string::npos);
}

TEST(ModelBuilderTest, ChannelsLastReachesEveryLayerAndComesBack) {
  // One input channel, depthwise and 1 x 1 weights have ambiguous strides; the whole network
  // must still run channels-last (the fast layout for training here) and return the same
  // logits, and go back to the default layout for export.
  torch::manual_seed(0);
  Network net = *BuildNetwork(Mobile(5, 6, true), NetworkOptions());
  net->eval();
  const torch::Tensor x = torch::rand({2, 1, 28, 28});
  const torch::Tensor before = net->forward(x);
  SetMemoryFormat(*net, torch::MemoryFormat::ChannelsLast);
  for (const auto& p : net->named_parameters()) {
    if (p.value().dim() == 4) {
      EXPECT_TRUE(p.value().is_contiguous(torch::MemoryFormat::ChannelsLast)) << p.key();
      EXPECT_EQ(p.value().stride(1), 1) << p.key();
    }
  }
  EXPECT_EQ(net->stem->forward(x).stride(1), 1);  // The stem's output is channels-last.
  EXPECT_TRUE(torch::allclose(net->forward(x), before, 1e-5, 1e-5));
  SetMemoryFormat(*net, torch::MemoryFormat::Contiguous);
  for (const auto& p : net->named_parameters()) EXPECT_TRUE(p.value().is_contiguous()) << p.key();
  EXPECT_TRUE(torch::allclose(net->forward(x), before, 1e-5, 1e-5));
}

}  // namespace
}  // namespace nas
