#include "search/cost_model.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

// One stage of one MobileNetV2 block at resolution 28 (no resize), stem 8, on Fashion-MNIST.
nas::v1::Architecture OneBlock(int expansion, bool se, int width = 8) {
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(28);
  a.set_stem_width(8);
  nas::v1::Stage* s = a.add_stages();
  s->set_width(width);
  nas::v1::Block* b = s->add_blocks();
  b->set_kernel(3);
  b->set_expansion(expansion);
  b->set_squeeze_excite(se);
  return a;
}

TEST(CostModelTest, HandCountedMobileBlock) {
  // stem: 1*8*9 weights + 16 bn = 88 params, 784*8*9 = 56448 MACs.
  // depthwise 3x3 on 8 channels: 72 + 16 = 88 params, 6272*9 = 56448 MACs.
  // projection 8 -> 8: 64 + 16 = 80 params, 6272*8 = 50176 MACs.
  // classifier 8 -> 10: 80 + 10 = 90 params, 80 MACs.
  const ArchitectureCost c = EstimateCost(OneBlock(1, false), FashionMnistInput());
  EXPECT_EQ(c.params, 88 + 88 + 80 + 90);
  EXPECT_EQ(c.macs, 56448 + 56448 + 50176 + 80);
  // Peak: the projection reads 6272 and writes 6272 while the block input (6272) stays alive.
  EXPECT_EQ(c.peak_activation_bytes, 18816 * 4);
  EXPECT_EQ(c.model_bytes_fp32, 4 * c.params);
  // int8 weights (stem 72, depthwise 72, projection 64, classifier 80), 12 bytes a channel
  // (8 + 8 + 8 + 10), 370 a convolution (4), 165 an activation site (the input, the stem's,
  // the depthwise's and the projection's outputs, the sum, the pooled features: 6).
  EXPECT_EQ(c.model_bytes_int8, 288 + 34 * 12 + 4 * 370 + 6 * 165);
}

TEST(CostModelTest, SqueezeExciteAndExpansionAddWhatTheyShould) {
  const ArchitectureCost plain = EstimateCost(OneBlock(1, false), FashionMnistInput());
  const ArchitectureCost se = EstimateCost(OneBlock(1, true), FashionMnistInput());
  // reduce 8 -> 8 (max(8, 8/4)) with bias, expand 8 -> 8 with bias: 144 params; MACs add
  // both 1x1 convolutions on the pooled vector and the gating product over 6272 elements.
  EXPECT_EQ(se.params - plain.params, 144);
  EXPECT_EQ(se.macs - plain.macs, 128 + 6272);
  const ArchitectureCost expanded = EstimateCost(OneBlock(3, false), FashionMnistInput());
  // 1x1 expansion 8 -> 24 (192 + 48), depthwise on 24 (216 + 48) instead of 8 (72 + 16),
  // projection 24 -> 8 (192 + 16) instead of 8 -> 8 (64 + 16).
  EXPECT_EQ(expanded.params - plain.params, (192 + 48) + (216 + 48 - 88) + (192 + 16 - 80));
}

TEST(CostModelTest, ALowerBoundShapeNeverCostsMore) {
  for (int width : {8, 16}) {
    const ArchitectureCost low = EstimateCost(OneBlock(6, true, width), InputShapeFor("other"));
    const ArchitectureCost real = EstimateCost(OneBlock(6, true, width), FashionMnistInput());
    EXPECT_LE(low.params, real.params);
    EXPECT_LE(low.macs, real.macs);
    EXPECT_LE(low.peak_activation_bytes, real.peak_activation_bytes);
  }
  EXPECT_EQ(InputShapeFor("fashion-mnist").classes, 10);
}

}  // namespace
}  // namespace nas
