#include "trainer/quantize.h"

#include <random>

#include "common/onnx_check.h"
#include "gtest/gtest.h"
#include "search/cost_model.h"
#include "search/search_space.h"
#include "trainer/deploy_graph.h"
#include "trainer/onnx_export.h"
#include "trainer/test_networks.h"

namespace nas {
namespace {

nas::v1::Architecture Mobile(int resolution, bool se) { return SmallMobileNet(resolution, se, 4); }

class QuantizeTest : public ::testing::Test {
 protected:
  void SetUp() override { data_ = &FashionMnistForTests(); }

  // A briefly trained network: batch-norm statistics and weights far from their initial values.
  static Network Trained(const nas::v1::Architecture& arch) {
    torch::manual_seed(3);
    Network net = *BuildNetwork(arch, NetworkOptions());
    nas::v1::TrainingRecipe recipe;
    recipe.set_epochs(1);
    recipe.set_batch_size(64);
    recipe.set_train_subset(4096);
    recipe.set_seed(3);
    EXPECT_TRUE(Train(net, FashionMnistForTests(), recipe, nas::v1::Fidelity(), nullptr).ok());
    net->eval();
    return net;
  }

  const TensorData* data_ = nullptr;
};

TEST_F(QuantizeTest, TheFoldedGraphComputesWhatTheNetworkComputes) {
  for (const nas::v1::Architecture& arch :
       {Mobile(20, true), Mobile(28, false), SmallResNet(24), EveryBlockType(24)}) {
    Network net = Trained(arch);
    torch::NoGradGuard no_grad;
    const torch::Tensor x = ToFloatImages(data_->val_images.narrow(0, 0, 64));
    const torch::Tensor expected = net->forward(x);
    const torch::Tensor got = RunFloat(FoldNetwork(net), x);
    EXPECT_LT((got - expected).abs().max().item<float>(),
              1e-3f * std::max(1.0f, expected.abs().max().item<float>()))
        << arch.DebugString();
  }
}

TEST(ActivationQuantTest, CoversTheRangeAndHoldsZeroExactly) {
  const ActivationQuant a = ActivationQuantFor({-1.5f, 4.2f});
  EXPECT_NEAR(a.scale * 255, 5.7f, 1e-5);
  EXPECT_GE(a.zero_point, -128);
  EXPECT_LE(a.zero_point, 127);
  // -1.5 lands on the lowest code, 4.2 on (about) the highest.
  EXPECT_EQ(std::nearbyint(-1.5f / a.scale) + a.zero_point, -128);
  EXPECT_NEAR(4.2f / a.scale + a.zero_point, 127, 0.5);
  // A ReLU's range [0, 6] uses every code: zero point -128.
  EXPECT_EQ(ActivationQuantFor({0.0f, 6.0f}).zero_point, -128);
  // A range that does not hold 0 is widened to.
  EXPECT_EQ(ActivationQuantFor({2.0f, 6.0f}).zero_point, -128);
  EXPECT_NEAR(ActivationQuantFor({2.0f, 6.0f}).scale * 255, 6.0f, 1e-5);
  // A constant-zero tensor still has a usable scale.
  EXPECT_GT(ActivationQuantFor({0.0f, 0.0f}).scale, 0);
}

TEST_F(QuantizeTest, PostTrainingInt8StaysCloseToFp32AndFineTuningKeepsIt) {
  for (const nas::v1::Architecture& arch : {Mobile(20, true), SmallResNet(24)}) {
    Network net = Trained(arch);
    DeployGraph g = FoldNetwork(net);
    Int8Model q = QuantizeGraph(g, CalibrateRanges(g, CalibrationImages(*data_, 1024, 5)));
    q.calibration_images = 1024;
    const double fp32 = EvaluateFloat(g, data_->val_images, data_->val_labels);
    const double int8 = EvaluateInt8(g, q, data_->val_images, data_->val_labels);
    EXPECT_GT(fp32, 0.6) << arch.DebugString();
    EXPECT_NEAR(int8, fp32, 0.03) << arch.DebugString();
    // The weights really are int8 at one scale per output channel.
    for (const WeightQuant& w : q.weights) {
      ASSERT_EQ(w.weight.scalar_type(), torch::kInt8);
      EXPECT_EQ(w.scale.numel(), w.weight.size(0));
      EXPECT_LE(w.weight.abs().max().item<int>(), 127);
    }
    EXPECT_EQ(static_cast<int>(q.activations.size()), CountSites(g).sites);

    nas::v1::TrainingRecipe recipe;
    recipe.set_batch_size(64);
    recipe.set_train_subset(2048);
    recipe.set_seed(3);
    absl::StatusOr<TrainResult> tuned = FineTuneInt8(g, q, *data_, recipe, 1, nullptr);
    ASSERT_TRUE(tuned.ok()) << tuned.status();
    EXPECT_TRUE(q.fine_tuned);
    EXPECT_EQ(q.calibration_images, 1024);
    EXPECT_GT(EvaluateInt8(g, q, data_->val_images, data_->val_labels), int8 - 0.02);
  }
}

// The ONNX files pass ONNX's checker and shape inference, and the int8 file is the size the
// cost model gives the int8 graph (what int8 profiles rank by), on random architectures.
TEST(OnnxExportTest, FilesPassTheCheckerAndTheInt8FileIsTheSizeTheCostModelSays) {
  std::mt19937_64 rng(12);  // not the seed the constants were fitted on
  for (const std::string space : {"mobilenetv2", "resnet", "resnet18"}) {
    nas::v1::SearchSpace request;
    request.set_name(space);
    const SearchSpaceDef def = *ResolveSearchSpace(request);
    for (int i = 0; i < (space == "resnet18" ? 3 : 15); ++i) {
      // The first of each: every block type and a head, which the constants were not fitted on.
      const nas::v1::Architecture arch =
          i == 0 && space == "mobilenetv2" ? EveryBlockType() : SampleArchitecture(def, rng);
      torch::manual_seed(i);
      Network net = *BuildNetwork(arch, NetworkOptions());
      net->eval();
      DeployGraph g = FoldNetwork(net);
      const Int8Model q = QuantizeGraph(
          g, CalibrateRanges(g, torch::randint(0, 255, {16, 1, 28, 28}, torch::kUInt8)));
      absl::StatusOr<std::string> fp32 = ExportOnnx(g, nullptr, {{"classes", "a,b"}});
      absl::StatusOr<std::string> int8 = ExportOnnx(g, &q, {{"classes", "a,b"}});
      ASSERT_TRUE(fp32.ok()) << fp32.status();
      ASSERT_TRUE(int8.ok()) << int8.status();
      const ArchitectureCost cost = EstimateCost(arch, FashionMnistInput());
      const double ratio = static_cast<double>(int8->size()) / cost.model_bytes_int8;
      EXPECT_NEAR(ratio, 1.0, 0.1) << int8->size() << " B vs " << cost.model_bytes_int8
                                   << " B modelled for " << arch.ShortDebugString();
      EXPECT_NEAR(static_cast<double>(fp32->size()) / cost.model_bytes_fp32, 1.0, 0.25);
    }
  }
}

TEST(OnnxCheckTest, RefusesWhatIsNotTheModelItClaimsToBe) {
  Network net = *BuildNetwork(SmallResNet(24), NetworkOptions());
  net->eval();
  DeployGraph g = FoldNetwork(net);
  const Int8Model q =
      QuantizeGraph(g, CalibrateRanges(g, torch::randint(0, 255, {8, 1, 28, 28}, torch::kUInt8)));
  const std::string fp32 = *ExportOnnx(g, nullptr, {});
  const std::string int8 = *ExportOnnx(g, &q, {});
  EXPECT_TRUE(CheckOnnxModel(fp32, "onnx-fp32").ok());
  EXPECT_TRUE(CheckOnnxModel(int8, "onnx-int8").ok());
  for (const auto& [bytes, format, says] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"not a model", "onnx-fp32", "does not parse"},
           {int8.substr(0, int8.size() / 2), "onnx-int8", "onnx-int8 file"},
           {fp32, "onnx-int8", "not int8 QDQ"},
           {int8, "onnx-fp32", "upload it as onnx-int8"},
           {"", "onnx-fp32", "fails ONNX's checker"}}) {
    const absl::Status st = CheckOnnxModel(bytes, format);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_NE(st.message().find(says), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace nas
