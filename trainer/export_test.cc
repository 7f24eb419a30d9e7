#include "trainer/export.h"

#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "trainer/test_networks.h"
#include "trainer/training.h"

namespace nas {
namespace {

nas::v1::Architecture Mobile(int resolution, bool se) { return SmallMobileNet(resolution, se); }
nas::v1::Architecture ResNet() { return SmallResNet(); }

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { data_ = &FashionMnistForTests(); }

  // Trains briefly so that batch-norm statistics and weights are far from their initial values,
  // then checks the exported file against the network on real test images.
  static void ExpectExportMatches(const nas::v1::Architecture& arch) {
    torch::manual_seed(2);
    Network net = *BuildNetwork(arch, NetworkOptions());
    nas::v1::TrainingRecipe recipe;
    recipe.set_epochs(1);
    recipe.set_batch_size(32);
    recipe.set_train_subset(256);
    recipe.set_seed(2);
    ASSERT_TRUE(Train(net, *data_, recipe, nas::v1::Fidelity(), nullptr).ok());
    net->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor images = data_->test_images.narrow(0, 0, 64).to(torch::kFloat32) / 255;
    const torch::Tensor expected = net->forward(images);

    absl::StatusOr<std::string> file = ExportTorchScript(net);
    ASSERT_TRUE(file.ok()) << file.status();
    std::istringstream in(*file);
    torch::jit::Module loaded = torch::jit::load(in);
    const torch::Tensor got = loaded.forward({images}).toTensor();
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LT((got - expected).abs().max().item<float>(), 1e-4) << arch.DebugString();
    EXPECT_TRUE(got.argmax(1).equal(expected.argmax(1)));
  }

  static const TensorData* data_;
};

const TensorData* ExportTest::data_ = nullptr;

TEST_F(ExportTest, MobileNetWithResizeMatches) { ExpectExportMatches(Mobile(20, false)); }
TEST_F(ExportTest, MobileNetWithSqueezeExciteMatches) { ExpectExportMatches(Mobile(28, true)); }
TEST_F(ExportTest, ResNetWithProjectionShortcutsMatches) { ExpectExportMatches(ResNet()); }
TEST_F(ExportTest, EveryBlockTypeAndAHeadMatch) { ExpectExportMatches(EveryBlockType(24)); }

// A 3-channel 32 x 32 dataset (CIFAR's shape) whose class is which channel is brightest, over
// noise: learnable in one short epoch, so the test checks the colour path end to end.
ImageDataset ColourDataset(int train, int test) {
  ImageDataset d;
  d.name = "colours";
  d.channels = 3;
  d.height = d.width = 32;
  d.classes = {"red", "green", "blue"};
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> noise(0, 120);
  for (auto [set, n] : {std::pair<ImageSet*, int>{&d.train, train}, {&d.test, test}}) {
    set->count = n;
    for (int i = 0; i < n; ++i) {
      set->labels.push_back(i % 3);
      for (int c = 0; c < 3; ++c) {
        for (int p = 0; p < 32 * 32; ++p) {
          set->pixels.push_back(static_cast<uint8_t>(noise(rng) + (c == i % 3 ? 120 : 0)));
        }
      }
    }
  }
  d.mean = {0.35f, 0.35f, 0.35f};
  d.stddev = {0.2f, 0.2f, 0.2f};
  return d;
}

TEST(ColourImagesTest, ThreeChannelNetworksTrainAndExport) {
  const ImageDataset d = ColourDataset(900, 90);
  const TensorData data = MakeTensorData(d, SplitTrainValidation(d, 150, 1));
  NetworkOptions options;
  options.in_channels = 3;
  options.classes = 3;
  options.input_height = options.input_width = 32;
  options.mean = d.mean;
  options.stddev = d.stddev;
  torch::manual_seed(4);
  Network net = *BuildNetwork(Mobile(24, true), options);
  nas::v1::TrainingRecipe recipe;
  recipe.set_epochs(1);
  recipe.set_batch_size(32);
  recipe.set_seed(4);
  recipe.set_augment_crop(true);
  recipe.set_augment_flip(true);
  ASSERT_TRUE(Train(net, data, recipe, nas::v1::Fidelity(), nullptr).ok());
  EXPECT_GT(Evaluate(net, data.test_images, data.test_labels), 0.9);  // Chance is 1/3.

  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor images = data.test_images.to(torch::kFloat32) / 255;
  absl::StatusOr<std::string> file = ExportTorchScript(net);
  ASSERT_TRUE(file.ok()) << file.status();
  std::istringstream in(*file);
  torch::jit::Module loaded = torch::jit::load(in);
  EXPECT_LT((loaded.forward({images}).toTensor() - net->forward(images)).abs().max().item<float>(),
            1e-4);
}

}  // namespace
}  // namespace nas
