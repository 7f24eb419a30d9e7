#include "trainer/export.h"

#include <sstream>

#include "gtest/gtest.h"
#include "trainer/training.h"

namespace nas {
namespace {

nas::v1::Architecture Mobile(int resolution, bool se) {
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(resolution);
  a.set_stem_width(8);
  int k = 3;
  for (int width : {8, 16, 24}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    for (int e : {1, 6}) {
      nas::v1::Block* b = s->add_blocks();
      b->set_kernel(k);
      b->set_expansion(e);
      b->set_squeeze_excite(se);
    }
    k += 2;
  }
  return a;
}

nas::v1::Architecture ResNet() {
  nas::v1::Architecture a;
  a.set_space("resnet");
  a.set_resolution(28);
  a.set_stem_width(8);
  for (int width : {8, 16, 32}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    s->add_blocks();
    s->add_blocks();
  }
  return a;
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<ImageDataset> d = LoadDataset(nas::FashionMnist());
    ASSERT_TRUE(d.ok()) << d.status();
    data_ = new TensorData(MakeTensorData(*d, SplitTrainValidation(*d, 1000, 1)));
  }
  static void TearDownTestSuite() { delete data_; }

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

  static TensorData* data_;
};

TensorData* ExportTest::data_ = nullptr;

TEST_F(ExportTest, MobileNetWithResizeMatches) { ExpectExportMatches(Mobile(20, false)); }
TEST_F(ExportTest, MobileNetWithSqueezeExciteMatches) { ExpectExportMatches(Mobile(28, true)); }
TEST_F(ExportTest, ResNetWithProjectionShortcutsMatches) { ExpectExportMatches(ResNet()); }

}  // namespace
}  // namespace nas
