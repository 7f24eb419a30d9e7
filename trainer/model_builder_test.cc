#include "trainer/model_builder.h"

#include <random>

#include "gtest/gtest.h"
#include "search/cost_model.h"
#include "search/search_space.h"
#include "trainer/test_networks.h"

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

// MACs of one inference counted from the real modules: each layer is run on a real tensor and
// charged its output elements times the weights that produce each of them.
int64_t CountMacs(Network& net, torch::Tensor x) {
  torch::NoGradGuard no_grad;
  int64_t macs = 0;
  auto conv_bn = [&](ConvBnImpl& m, const torch::Tensor& in) {
    torch::Tensor y = m.forward(in);
    macs += y.numel() * m.conv->weight[0].numel();
    return y;
  };
  const int r = net->architecture().resolution();
  x = torch::nn::functional::interpolate(
      x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{r, r}));
  x = conv_bn(*net->stem, x);
  for (const auto& child : net->blocks->children()) {
    BlockImpl* block = child->as<BlockImpl>();
    torch::Tensor y = x;
    for (const auto& layer : block->layers->children()) {
      if (auto* cb = layer->as<ConvBnImpl>()) {
        y = conv_bn(*cb, y);
      } else if (auto* se = layer->as<SqueezeExciteImpl>()) {
        macs += se->reduce->weight.numel() + se->expand->weight.numel() + y.numel();
        y = se->forward(y);
      } else {
        ADD_FAILURE() << "unknown layer " << layer->name();
      }
    }
    if (block->shortcut) conv_bn(*block->shortcut, x);
    x = y;
  }
  if (net->head) x = conv_bn(*net->head, x);
  macs += net->classifier->weight.numel();
  return macs;
}

TEST(CostModelTest, ParamsAndMacsMatchTheRealModulesOfRandomArchitectures) {
  std::mt19937_64 rng(7);
  int checked = 0;
  for (const std::string space : {"mobilenetv2", "resnet", "resnet18", "mobilenetv2-1.0", ""}) {
    nas::v1::SearchSpace request;
    request.set_name(space);
    if (space.empty()) {  // a space of every block type, written as a user would
      request = *PresetSearchSpace("mobilenetv2-1.0");
      request.set_name("mixed");
      for (auto& stage : *request.mutable_stages()) {
        stage.add_block_types(nas::v1::BASIC_RESIDUAL);
        stage.add_block_types(nas::v1::BOTTLENECK_RESIDUAL);
        stage.add_block_types(nas::v1::CONV);
        stage.add_block_types(nas::v1::DEPTHWISE_SEPARABLE);
        stage.set_base_width(stage.base_width() / 2);
      }
    }
    const SearchSpaceDef def = *ResolveSearchSpace(request);
    for (int i = 0; i < 12; ++i) {
      const nas::v1::Architecture arch = i == 0 ? EveryBlockType() : SampleArchitecture(def, rng);
      for (const NetworkOptions& options :
           {NetworkOptions(),
            NetworkOptions{3, 100, 32, 32, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}}) {
        Network net = *BuildNetwork(arch, options);
        const ArchitectureCost cost =
            EstimateCost(arch, InputShape{options.in_channels, options.input_height,
                                          options.input_width, options.classes});
        ASSERT_EQ(cost.params, net->parameter_count()) << arch.DebugString();
        ASSERT_EQ(cost.macs,
                  CountMacs(net, torch::rand({1, options.in_channels, options.input_height,
                                              options.input_width})))
            << arch.DebugString();
        EXPECT_EQ(cost.model_bytes_fp32, 4 * cost.params);
        // The int8 graph: a byte a convolution weight, 12 a channel, and the graph's nodes.
        EXPECT_GT(cost.model_bytes_int8, cost.params / 2);
        EXPECT_LT(cost.model_bytes_int8, cost.model_bytes_fp32 + 100'000);
        // The network reports the cost model's figures.
        EXPECT_EQ(net->macs(), cost.macs);
        EXPECT_EQ(net->peak_activation_bytes(), cost.peak_activation_bytes);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 5 * 12 * 2);
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
  a.set_space("");
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("architecture.space"),
            std::string::npos);
  a = Mobile(3, 3, false);
  a.mutable_stages(2)->mutable_blocks(1)->set_type(static_cast<nas::v1::BlockType>(9));
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("stages[2].blocks[1].type"),
            std::string::npos);
  a = Mobile(3, 3, false);
  a.mutable_stages(1)->set_stride(3);
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("stages[1].stride"),
            std::string::npos);
  a = Mobile(3, 3, false);
  a.mutable_stages(0)->clear_blocks();
  EXPECT_NE(BuildNetwork(a, NetworkOptions()).status().message().find("stages[0].blocks"),
            std::string::npos);
  a = ResNet(1);
  a.mutable_stages(0)->mutable_blocks(0)->set_kernel(4);
  EXPECT_EQ(BuildNetwork(a, NetworkOptions()).status().code(), absl::StatusCode::kInvalidArgument);
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

TEST(InheritWeightsTest, ASubnetTakesTheSupernetsLeadingChannelsAndKernelCentres) {
  torch::manual_seed(1);
  Network super = *BuildNetwork(Mobile(7, 6, true, 3), NetworkOptions());
  // A smaller network of the same space: narrower stem and stages, shallower, smaller kernels
  // and expansions, one block without an expansion convolution.
  nas::v1::Architecture small = Mobile(3, 3, false, 2);
  small.set_stem_width(8);
  small.mutable_stages(0)->mutable_blocks(0)->set_expansion(1);
  small.mutable_stages(1)->set_width(8);
  small.mutable_stages(2)->mutable_blocks()->RemoveLast();
  small.mutable_stages(2)->mutable_blocks(0)->set_kernel(5);
  small.mutable_stages(2)->mutable_blocks(0)->set_squeeze_excite(true);
  torch::manual_seed(2);
  Network sub = *BuildNetwork(small, NetworkOptions());
  ASSERT_TRUE(InheritWeights(super, sub).ok()) << InheritWeights(super, sub);

  torch::NoGradGuard no_grad;
  EXPECT_TRUE(sub->stem->conv->weight.equal(super->stem->conv->weight.narrow(0, 0, 8)));
  // Stage 1, block 0 (flat index 2 in the subnet, 3 in the supernet): expansion 3 of 8 inputs
  // = 24 hidden channels, the centre 3 x 3 of the supernet's 7 x 7 depthwise kernel.
  auto* sub_block = sub->blocks[2]->as<BlockImpl>();
  auto* super_block = super->blocks[3]->as<BlockImpl>();
  const torch::Tensor dw = sub_block->layers[1]->as<ConvBnImpl>()->conv->weight;
  const torch::Tensor big_dw = super_block->layers[1]->as<ConvBnImpl>()->conv->weight;
  EXPECT_EQ(dw.sizes(), (std::vector<int64_t>{24, 1, 3, 3}));
  EXPECT_TRUE(dw.equal(big_dw.narrow(0, 0, 24).narrow(2, 2, 3).narrow(3, 2, 3)));
  EXPECT_TRUE(sub_block->layers[1]->as<ConvBnImpl>()->bn->running_var.equal(
      super_block->layers[1]->as<ConvBnImpl>()->bn->running_var.narrow(0, 0, 24)));
  // Stage 0, block 0 has no expansion: its depthwise takes the supernet's first 8 channels.
  const torch::Tensor dw0 =
      sub->blocks[0]->as<BlockImpl>()->layers[0]->as<ConvBnImpl>()->conv->weight;
  const torch::Tensor big_dw0 =
      super->blocks[0]->as<BlockImpl>()->layers[1]->as<ConvBnImpl>()->conv->weight;
  EXPECT_TRUE(dw0.equal(big_dw0.narrow(0, 0, 8).narrow(2, 2, 3).narrow(3, 2, 3)));
  EXPECT_TRUE(sub->classifier->weight.equal(super->classifier->weight.narrow(1, 0, 24)));

  // The same architecture inherits everything: the two networks compute the same function.
  Network twin = *BuildNetwork(super->architecture(), NetworkOptions());
  ASSERT_TRUE(InheritWeights(super, twin).ok());
  super->eval();
  twin->eval();
  const torch::Tensor x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(twin->forward(x), super->forward(x)));

  // Larger than the supernet anywhere: refused, naming where.
  absl::Status deeper = InheritWeights(sub, super);
  EXPECT_EQ(deeper.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deeper.message().find("stages[0]: deeper"), std::string::npos) << deeper;
  Network resnet = *BuildNetwork(ResNet(1), NetworkOptions());
  EXPECT_EQ(InheritWeights(super, resnet).code(), absl::StatusCode::kInvalidArgument);
  Network wide = *BuildNetwork(ResNet(1, 2), NetworkOptions());
  Network narrow = *BuildNetwork(ResNet(1), NetworkOptions());
  EXPECT_TRUE(InheritWeights(wide, narrow).ok());
  absl::Status too_wide = InheritWeights(narrow, wide);
  EXPECT_NE(too_wide.message().find("stages[0].blocks[0]"), std::string::npos) << too_wide;
}

}  // namespace
}  // namespace nas
