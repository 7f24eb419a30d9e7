// The weight-sharing supernet on real Fashion-MNIST: subnets inside it against their extracted
// copies, batch-norm recalibration, and epochs resumed from a checkpoint.
#include "trainer/supernet.h"

#include <future>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace nas {
namespace {

class SupernetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    absl::StatusOr<ImageDataset> d = LoadDataset(nas::FashionMnist());
    ASSERT_TRUE(d.ok()) << d.status();
    data_ = new TensorData(MakeTensorData(*d, SplitTrainValidation(*d, 2000, 1)));
    options_ = new NetworkOptions();
    options_->mean = d->mean;
    options_->stddev = d->stddev;
  }
  static void TearDownTestSuite() {
    delete data_;
    delete options_;
  }

  // A narrowed MobileNetV2 space: every elastic dimension has two choices, so subnets differ
  // in kernel, expansion (1 has no expansion convolution), width, depth, SE and resolution.
  static SearchSpaceDef Space() {
    nas::v1::SearchSpace req;
    req.set_name("mobilenetv2");
    req.add_kernels(3);
    req.add_kernels(5);
    req.add_expansions(1);
    req.add_expansions(3);
    req.set_max_depth(2);
    req.add_resolutions(20);
    req.add_resolutions(24);
    req.add_width_multipliers_percent(50);
    req.add_width_multipliers_percent(100);
    return *ResolveSearchSpace(req);
  }

  static nas::v1::TrainingRecipe Recipe(int subset) {
    nas::v1::TrainingRecipe r;
    r.set_batch_size(64);
    r.set_train_subset(subset);
    r.set_seed(7);
    return r;
  }

  static std::unique_ptr<SupernetTrainer> Trainer(int subset, int epochs) {
    SupernetTrainer::Options o;
    o.epochs = epochs;
    absl::StatusOr<std::unique_ptr<SupernetTrainer>> t =
        SupernetTrainer::Create(Space(), *options_, Recipe(subset), o);
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  static TensorData* data_;
  static NetworkOptions* options_;
};

TensorData* SupernetTest::data_ = nullptr;
NetworkOptions* SupernetTest::options_ = nullptr;

// Statistics and affine parameters away from their initial 0 and 1, so that every slice of them
// matters to the comparison.
void Scramble(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& m : module.modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
  }
}

TEST_F(SupernetTest, ExtractedSubnetsComputeWhatTheyComputeInsideTheSupernet) {
  std::unique_ptr<SupernetTrainer> trainer = Trainer(256, 1);
  Supernet& super = trainer->supernet();
  Scramble(*super);
  const torch::Tensor images = ToFloatImages(data_->val_images.narrow(0, 0, 16));
  std::mt19937_64 rng(11);
  std::vector<nas::v1::Architecture> subnets = {LargestArchitecture(Space()),
                                                SmallestArchitecture(Space())};
  for (int i = 0; i < 10; ++i) subnets.push_back(SampleArchitecture(Space(), rng));
  for (const nas::v1::Architecture& subnet : subnets) {
    absl::StatusOr<Network> net = ExtractSubnet(super, subnet);
    ASSERT_TRUE(net.ok()) << net.status();
    torch::NoGradGuard no_grad;
    super->eval();
    const torch::Tensor inside = super->forward(images, subnet);
    const torch::Tensor alone = (*net)->forward(images);
    ASSERT_EQ(inside.sizes(), alone.sizes());
    EXPECT_TRUE(torch::allclose(inside, alone, 1e-4, 1e-5))
        << subnet.DebugString() << "largest difference "
        << (inside - alone).abs().max().item<float>();
    // In training mode both normalise by the batch.
    super->train();
    (*net)->train();
    EXPECT_TRUE(
        torch::allclose(super->forward(images, subnet), (*net)->forward(images), 1e-4, 1e-5))
        << subnet.DebugString();
  }
}

TEST_F(SupernetTest, GradientsReachOnlyTheWeightsASubnetUses) {
  std::unique_ptr<SupernetTrainer> trainer = Trainer(256, 1);
  Supernet& super = trainer->supernet();
  nas::v1::Architecture subnet = SmallestArchitecture(Space());  // kernels 3 of the largest's 5
  super->train();
  super->zero_grad();
  super->forward(ToFloatImages(data_->val_images.narrow(0, 0, 8)), subnet).sum().backward();
  const MobileLayers first = MobileBlockLayers(*super->net->blocks[0]->as<BlockImpl>());
  const torch::Tensor grad = first.depthwise->conv->weight.grad();
  ASSERT_TRUE(grad.defined());
  const int64_t channels = subnet.stem_width();  // expansion 1: the block's input channels
  // The centre 3x3 of the first channels is trained; the kernel's outer ring and the other
  // channels are not.
  EXPECT_GT(grad.narrow(0, 0, channels).narrow(2, 1, 3).narrow(3, 1, 3).abs().sum().item<float>(),
            0);
  EXPECT_EQ(grad.narrow(2, 0, 1).abs().sum().item<float>(), 0);
  EXPECT_EQ(grad.narrow(0, channels, grad.size(0) - channels).abs().sum().item<float>(), 0);
  // The second block of each stage is not in the smallest subnet (depth 1).
  const torch::Tensor unused =
      MobileBlockLayers(*super->net->blocks[1]->as<BlockImpl>()).project->conv->weight.grad();
  EXPECT_TRUE(!unused.defined() || unused.abs().sum().item<float>() == 0);
}

TEST_F(SupernetTest, SubnetsThatDoNotFitAreRejectedNamingTheField) {
  std::unique_ptr<SupernetTrainer> trainer = Trainer(256, 1);
  nas::v1::Architecture wide = LargestArchitecture(Space());
  wide.mutable_stages(2)->set_width(wide.stages(2).width() + 8);
  absl::StatusOr<Network> net = ExtractSubnet(trainer->supernet(), wide);
  EXPECT_EQ(net.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(net.status().message().find("architecture.stages[2].width"), std::string::npos)
      << net.status();
  nas::v1::Architecture deep = LargestArchitecture(Space());
  *deep.mutable_stages(1)->add_blocks() = deep.stages(1).blocks(0);
  EXPECT_NE(trainer->supernet()->Fits(deep).message().find("stages[1].blocks"), std::string::npos);
  nas::v1::Architecture kernel = LargestArchitecture(Space());
  kernel.mutable_stages(0)->mutable_blocks(1)->set_kernel(7);
  EXPECT_NE(trainer->supernet()->Fits(kernel).message().find("stages[0].blocks[1].kernel"),
            std::string::npos);
  SearchSpaceDef resnet = *ResolveSearchSpace([] {
    nas::v1::SearchSpace s;
    s.set_name("resnet");
    return s;
  }());
  EXPECT_EQ(SupernetTrainer::Create(resnet, *options_, Recipe(256), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// After a short real training run the shared running statistics are those of a mix of
// subnets; re-estimating them for each subnet is what makes its accuracy meaningful.
TEST_F(SupernetTest, BatchNormRecalibrationRaisesSubnetAccuracy) {
  std::unique_ptr<SupernetTrainer> trainer = Trainer(6000, 1);
  absl::StatusOr<TrainResult> r = trainer->TrainEpoch(*data_, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  std::mt19937_64 rng(5);
  double inherited_sum = 0, recalibrated_sum = 0;
  const int n = 6;
  for (int i = 0; i < n; ++i) {
    const nas::v1::Architecture subnet = SampleArchitecture(Space(), rng);
    Network net = *ExtractSubnet(trainer->supernet(), subnet);
    const double inherited = Evaluate(net, data_->val_images, data_->val_labels);
    RecalibrateBatchNorm(net, data_->train_images, 10, 128, 1);
    const double recalibrated = Evaluate(net, data_->val_images, data_->val_labels);
    std::cerr << "subnet " << i << ": inherited statistics " << inherited << ", recalibrated "
              << recalibrated << "\n";
    inherited_sum += inherited;
    recalibrated_sum += recalibrated;
  }
  // Measured: inherited statistics 0.09 to 0.17 (chance is 0.1: the mix fits no subnet),
  // recalibrated 0.41 to 0.52 after this one short epoch.
  EXPECT_GT(recalibrated_sum / n, 0.3);
  EXPECT_GT(recalibrated_sum / n, inherited_sum / n + 0.15);
}

TEST_F(SupernetTest, EpochsResumedFromACheckpointTrainAsUninterruptedOnes) {
  std::unique_ptr<SupernetTrainer> straight = Trainer(512, 2);
  ASSERT_TRUE(straight->TrainEpoch(*data_, nullptr).ok());
  ASSERT_TRUE(straight->TrainEpoch(*data_, nullptr).ok());

  std::unique_ptr<SupernetTrainer> first = Trainer(512, 2);
  ASSERT_TRUE(first->TrainEpoch(*data_, nullptr).ok());
  absl::StatusOr<std::string> checkpoint = first->SaveCheckpoint();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  // An epoch cut short is not counted.
  ASSERT_TRUE(first->TrainEpoch(*data_, [](const TrainProgress&) { return false; }).ok());
  EXPECT_EQ(first->epochs_done(), 1);

  // A new process: other weights, then the checkpoint.
  std::unique_ptr<SupernetTrainer> resumed = Trainer(512, 2);
  {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : resumed->supernet()->parameters()) p.uniform_(-1, 1);
  }
  ASSERT_TRUE(resumed->LoadCheckpoint(*checkpoint).ok());
  EXPECT_EQ(resumed->epochs_done(), 1);
  ASSERT_TRUE(resumed->TrainEpoch(*data_, nullptr).ok());
  EXPECT_EQ(resumed->epochs_done(), 2);
  EXPECT_EQ(resumed->TrainEpoch(*data_, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);

  const auto a = straight->supernet()->named_parameters();
  const auto b = resumed->supernet()->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) {
    EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  }
  const auto sa = straight->supernet()->named_buffers();
  const auto sb = resumed->supernet()->named_buffers();
  for (const auto& p : sa) EXPECT_TRUE(torch::equal(p.value(), sb[p.key()])) << p.key();

  EXPECT_EQ(resumed->LoadCheckpoint("not a checkpoint").code(), absl::StatusCode::kDataLoss);
}

// Two ranks of a gang on loopback, in two threads: each trains its half of every batch.
TEST_F(SupernetTest, ADataParallelEpochFollowsTheWholeBatchAndLeavesTheRanksAlike) {
  std::unique_ptr<SupernetTrainer> alone = Trainer(512, 2);
  std::unique_ptr<SupernetTrainer> rank0 = Trainer(512, 2);
  std::unique_ptr<SupernetTrainer> rank1 = Trainer(512, 2);
  {
    // Rank 1 starts elsewhere: the epoch begins from rank 0's weights.
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : rank1->supernet()->parameters()) p.uniform_(-1, 1);
  }
  absl::StatusOr<TrainResult> alone_result = alone->TrainEpoch(*data_, nullptr);
  ASSERT_TRUE(alone_result.ok()) << alone_result.status();

  std::promise<std::string> address;
  absl::StatusOr<TrainResult> result0, result1;
  std::thread t0([&] {
    absl::StatusOr<std::unique_ptr<Gang>> gang =
        Gang::Open({0, 2, "127.0.0.1", "", absl::Seconds(60)}, [&](const std::string& a) {
          address.set_value(a);
          return absl::OkStatus();
        });
    if (!gang.ok()) {
      result0 = gang.status();
      return;
    }
    result0 = rank0->TrainEpoch(*data_, nullptr, gang->get());
  });
  std::thread t1([&] {
    const std::string at = address.get_future().get();
    absl::StatusOr<std::unique_ptr<Gang>> gang =
        Gang::Open({1, 2, "127.0.0.1", at, absl::Seconds(60)}, nullptr);
    if (!gang.ok()) {
      result1 = gang.status();
      return;
    }
    result1 = rank1->TrainEpoch(*data_, nullptr, gang->get());
  });
  t0.join();
  t1.join();
  ASSERT_TRUE(result0.ok()) << result0.status();
  ASSERT_TRUE(result1.ok()) << result1.status();
  EXPECT_EQ(rank0->epochs_done(), 1);
  EXPECT_EQ(rank1->epochs_done(), 1);
  // Each rank saw half of every batch and rank 1 started from other weights, yet both hold
  // the same supernet.
  const auto a = rank0->supernet()->named_parameters();
  const auto b = rank1->supernet()->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  const auto sa = rank0->supernet()->named_buffers();
  const auto sb = rank1->supernet()->named_buffers();
  for (const auto& p : sa) EXPECT_TRUE(torch::equal(p.value(), sb[p.key()])) << p.key();
  // And it trained as one worker on whole batches does: the same mean loss over the epoch
  // but for batch norm normalising over half batches (0.1% apart here). Weights are no
  // measure of that: batch norm leaves the scale of the weights before it free.
  EXPECT_NEAR(result0->final_loss, alone_result->final_loss, 0.02 * alone_result->final_loss);
  EXPECT_EQ(result0->final_loss, result1->final_loss);
}

TEST_F(SupernetTest, AGangWhoseRanksDoNotAllJoinFailsNamingTheWait) {
  bool published = false;
  absl::StatusOr<std::unique_ptr<Gang>> gang =
      Gang::Open({0, 2, "127.0.0.1", "", absl::Seconds(2)}, [&](const std::string& a) {
        published = !a.empty();
        return absl::OkStatus();
      });
  EXPECT_TRUE(published);
  ASSERT_EQ(gang.status().code(), absl::StatusCode::kDeadlineExceeded) << gang.status();
  EXPECT_NE(gang.status().message().find("not all ranks joined"), std::string::npos)
      << gang.status();
  EXPECT_EQ(Gang::Open({1, 2, "127.0.0.1", "no-port", absl::Seconds(2)}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nas
