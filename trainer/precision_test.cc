// bf16 mixed-precision training: every block type trains, the state stays fp32, "auto"
// follows the CPU; and the learning-rate schedules' shapes.
#include "trainer/precision.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"
#include "trainer/test_networks.h"
#include "trainer/training.h"

namespace nas {
namespace {

nas::v1::TrainingRecipe ShortRecipe(nas::v1::Precision precision) {
  nas::v1::TrainingRecipe r;
  r.set_epochs(1);
  r.set_batch_size(32);
  r.set_train_subset(128);
  r.set_seed(7);
  r.set_augment_crop(true);
  r.set_precision(precision);
  return r;
}

NetworkOptions OptionsForTests() {
  NetworkOptions options;
  options.mean = {0.286};
  options.stddev = {0.353};
  return options;
}

// The networks that between them hold every block type and activation the spaces make.
std::vector<nas::v1::Architecture> EveryKindOfNetwork() {
  return {EveryBlockType(), SmallMobileNet(20, /*se=*/true), SmallResNet(20)};
}

TEST(PrecisionTest, TheTestNetworksHoldEveryBlockType) {
  std::set<int> seen;
  for (const nas::v1::Architecture& a : EveryKindOfNetwork()) {
    for (const nas::v1::Stage& s : a.stages()) {
      for (const nas::v1::Block& b : s.blocks()) {
        seen.insert(
            b.type() == nas::v1::BLOCK_TYPE_UNSPECIFIED
                ? (a.space() == "resnet" ? nas::v1::BASIC_RESIDUAL : nas::v1::INVERTED_RESIDUAL)
                : b.type());
      }
    }
  }
  const google::protobuf::EnumDescriptor* types = nas::v1::BlockType_descriptor();
  for (int i = 0; i < types->value_count(); ++i) {
    if (types->value(i)->number() == nas::v1::BLOCK_TYPE_UNSPECIFIED) continue;
    EXPECT_TRUE(seen.count(types->value(i)->number()))
        << types->value(i)->name() << " is in no test network: add it to EveryBlockType()";
  }
}

// Forward and backward in bf16 through every operator: a kernel LibTorch 1.13 lacks in bf16
// (ReLU6's hardtanh backward, for one) throws here. What the optimizer and batch norm keep
// stays fp32.
TEST(PrecisionTest, EveryBlockTypeTrainsInBf16AndKeepsItsStateInFp32) {
  torch::set_num_threads(1);
  const TensorData& data = FashionMnistForTests();
  for (const nas::v1::Architecture& arch : EveryKindOfNetwork()) {
    SCOPED_TRACE(arch.space());
    torch::manual_seed(3);
    absl::StatusOr<Network> net = BuildNetwork(arch, OptionsForTests());
    ASSERT_TRUE(net.ok()) << net.status();
    std::vector<torch::Tensor> before;
    for (const torch::Tensor& p : (*net)->parameters()) before.push_back(p.detach().clone());
    absl::StatusOr<TrainResult> r =
        Train(*net, data, ShortRecipe(nas::v1::PRECISION_BF16), nas::v1::Fidelity(), nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->precision, Precision::kBf16);
    EXPECT_TRUE(std::isfinite(r->final_loss));
    EXPECT_EQ(r->samples, 128);
    int changed = 0, i = 0;
    for (const torch::Tensor& p : (*net)->parameters()) {
      EXPECT_EQ(p.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::isfinite(p).all().template item<bool>());
      if (!torch::equal(p, before[i++])) ++changed;
    }
    EXPECT_EQ(changed, static_cast<int>(before.size())) << "a parameter got no update";
    for (const auto& item : (*net)->named_buffers()) {
      const torch::Tensor& b = item.value();
      if (!b.is_floating_point()) continue;
      EXPECT_EQ(b.scalar_type(), torch::kFloat32) << item.key();
      EXPECT_TRUE(torch::isfinite(b).all().template item<bool>()) << item.key();
    }
  }
}

// The bf16 forward really runs in bf16 (its logits differ from fp32's by bf16's rounding, about
// 3 significant digits) and hands back fp32 logits; autocast is off once it returns.
TEST(PrecisionTest, Bf16ForwardRoundsLikeBf16AndReturnsFp32) {
  torch::manual_seed(4);
  Network net = *BuildNetwork(EveryBlockType(), OptionsForTests());
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToFloatImages(FashionMnistForTests().val_images.narrow(0, 0, 16));
  const torch::Tensor fp32 = ForwardInPrecision(Precision::kFp32, [&] { return net->forward(x); });
  const torch::Tensor bf16 = ForwardInPrecision(Precision::kBf16, [&] { return net->forward(x); });
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat32);
  EXPECT_FALSE(torch::equal(fp32, bf16));
  EXPECT_TRUE(torch::allclose(fp32, bf16, /*rtol=*/0.1, /*atol=*/0.1))
      << (fp32 - bf16).abs().max().item<double>();
  EXPECT_TRUE(torch::equal(net->forward(x), fp32)) << "autocast left on";
}

TEST(PrecisionTest, AutoTrainsInBf16WhereTheCpuHasItAndItPays) {
  constexpr int64_t kBig = 456'000'000;  // ResNet-18
  EXPECT_TRUE(Bf16Pays(kBig, 949));
  EXPECT_TRUE(Bf16Pays(73'000'000, 57));  // MobileNetV2 1.0
  EXPECT_FALSE(Bf16Pays(5'300'000, 22));  // a small MobileNet
  EXPECT_FALSE(Bf16Pays(1'200'000, 70));  // a small ResNet
  EXPECT_FALSE(Bf16Pays(kBig, 20));       // element-wise bound
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_FP32, kBig, 949), Precision::kFp32);
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_BF16, 1000, 1), Precision::kBf16);
  const Precision cpu = CpuHasBf16() ? Precision::kBf16 : Precision::kFp32;
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_AUTO, kBig, 949), cpu);
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_UNSPECIFIED, kBig, 949), cpu);
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_AUTO, 1'200'000, 70), Precision::kFp32);
  SetAutoPrecision(Precision::kFp32);
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_AUTO, kBig, 949), Precision::kFp32);
  EXPECT_EQ(ResolvePrecision(nas::v1::PRECISION_BF16, kBig, 949), Precision::kBf16);
  SetAutoPrecision(cpu);
  EXPECT_STREQ(PrecisionName(Precision::kBf16), "bf16");
  EXPECT_STREQ(PrecisionName(Precision::kFp32), "fp32");
}

// The networks of the measurements above, as the cost model sees them.
TEST(PrecisionTest, ResNet18PaysAndASmallMobileNetDoesNot) {
  NetworkOptions options = OptionsForTests();
  Network small = *BuildNetwork(SmallMobileNet(28, /*se=*/true), options);
  EXPECT_FALSE(Bf16Pays(small->macs(), small->macs_per_output_element()));
  nas::v1::Architecture r18 = SmallResNet(28);
  for (int s = 0; s < r18.stages_size(); ++s) r18.mutable_stages(s)->set_width(64 << s);
  r18.set_stem_width(64);
  Network big = *BuildNetwork(r18, options);
  EXPECT_TRUE(Bf16Pays(big->macs(), big->macs_per_output_element()))
      << big->macs() << " MACs, " << big->macs_per_output_element() << " per element";
}

TEST(ScheduleTest, OneCycleWarmsUpFromATwentyFifthThenAnnealsToNearZero) {
  nas::v1::TrainingRecipe r;
  r.set_learning_rate(0.2);
  r.set_schedule(nas::v1::LR_SCHEDULE_ONE_CYCLE);
  EXPECT_NEAR(LearningRateAt(r, 0, 1000), 0.2 / 25, 1e-12);
  EXPECT_NEAR(LearningRateAt(r, 250, 1000), 0.2, 1e-12);  // the peak at 25%
  EXPECT_LT(LearningRateAt(r, 100, 1000), LearningRateAt(r, 200, 1000));
  EXPECT_GT(LearningRateAt(r, 600, 1000), LearningRateAt(r, 900, 1000));
  EXPECT_NEAR(LearningRateAt(r, 1000, 1000), 0.2 / 25 / 1e4, 1e-12);
  r.set_warmup_fraction(0.5);
  EXPECT_NEAR(LearningRateAt(r, 500, 1000), 0.2, 1e-12);
}

TEST(ScheduleTest, CosineWarmupRisesLinearlyThenDecaysToZero) {
  nas::v1::TrainingRecipe r;
  r.set_learning_rate(0.1);
  r.set_schedule(nas::v1::LR_SCHEDULE_COSINE_WARMUP);
  // 5% of 1000 steps: 50 steps of warm-up, step k at (k + 1) / 50 of the peak.
  EXPECT_NEAR(LearningRateAt(r, 0, 1000), 0.1 / 50, 1e-12);
  EXPECT_NEAR(LearningRateAt(r, 24, 1000), 0.1 / 2, 1e-12);
  EXPECT_NEAR(LearningRateAt(r, 50, 1000), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(r, 525, 1000), 0.05, 1e-12);  // half-way down the cosine
  EXPECT_NEAR(LearningRateAt(r, 1000, 1000), 0, 1e-12);
  nas::v1::TrainingRecipe cosine = r;
  cosine.set_schedule(nas::v1::LR_SCHEDULE_COSINE);
  EXPECT_NEAR(LearningRateAt(cosine, 0, 1000), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(cosine, 500, 1000), 0.05, 1e-12);
}

}  // namespace
}  // namespace nas
