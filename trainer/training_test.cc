#include "trainer/training.h"

#include <set>

#include "gtest/gtest.h"

namespace nas {
namespace {

class TrainingTest : public ::testing::Test {
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

  // A small ResNet: LibTorch 1.13's CPU backward of stride-1 depthwise convolutions is slow
  // (see the trainer notes in docs/), and this test is about learning, not about the space.
  static nas::v1::Architecture Small() {
    nas::v1::Architecture a;
    a.set_space("resnet");
    a.set_resolution(20);
    a.set_stem_width(8);
    for (int width : {8, 16, 32}) {
      a.add_stages()->set_width(width);
      a.mutable_stages(a.stages_size() - 1)->add_blocks();
    }
    return a;
  }

  static nas::v1::TrainingRecipe Recipe() {
    nas::v1::TrainingRecipe r;
    r.set_epochs(1);
    r.set_batch_size(32);
    r.set_train_subset(4000);
    r.set_seed(3);
    return r;
  }

  static TensorData* data_;
  static NetworkOptions* options_;
};

TensorData* TrainingTest::data_ = nullptr;
NetworkOptions* TrainingTest::options_ = nullptr;

TEST_F(TrainingTest, AShortRealRunBeatsChanceByAWideMargin) {
  torch::manual_seed(3);
  Network net = *BuildNetwork(Small(), *options_);
  const double before = Evaluate(net, data_->val_images, data_->val_labels);
  int calls = 0;
  absl::StatusOr<TrainResult> r =
      Train(net, *data_, Recipe(), nas::v1::Fidelity(), [&](const TrainProgress& p) {
        ++calls;
        EXPECT_EQ(p.epochs, 1);
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->samples, 4000);
  EXPECT_EQ(calls, 125);  // 4000 / 32 batches.
  const double after = Evaluate(net, data_->val_images, data_->val_labels);
  EXPECT_GT(after, 0.65) << "before training: " << before;  // Chance is 0.10.
  EXPECT_GT(r->samples_per_second, 0);
}

TEST_F(TrainingTest, SeededRunsRepeatExactly) {
  std::vector<double> losses;
  for (int i = 0; i < 2; ++i) {
    torch::manual_seed(5);
    Network net = *BuildNetwork(Small(), *options_);
    nas::v1::TrainingRecipe recipe = Recipe();
    recipe.set_train_subset(500);
    recipe.set_augment_crop(true);
    recipe.set_optimizer(nas::v1::OPTIMIZER_ADAMW);
    recipe.set_label_smoothing(0.1);
    losses.push_back(Train(net, *data_, recipe, nas::v1::Fidelity(), nullptr)->final_loss);
  }
  EXPECT_EQ(losses[0], losses[1]);
}

TEST_F(TrainingTest, ProgressCallbackStopsTraining) {
  torch::manual_seed(1);
  Network net = *BuildNetwork(Small(), *options_);
  absl::StatusOr<TrainResult> r =
      Train(net, *data_, Recipe(), nas::v1::Fidelity(), [](const TrainProgress&) { return false; });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stopped);
  EXPECT_EQ(r->samples, 32);
}

TEST_F(TrainingTest, ALowerRungTrainsOnItsFractionOfTheExamples) {
  torch::manual_seed(2);
  Network net = *BuildNetwork(Small(), *options_);
  nas::v1::Fidelity rung0;
  rung0.set_train_fraction(1.0 / 8);
  absl::StatusOr<TrainResult> r = Train(net, *data_, Recipe(), rung0, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->samples, 500);  // 4000 / 8
}

// A training stopped after an epoch and resumed from its checkpoint in another network (as a
// second worker would) ends with exactly the weights of one never stopped: same weights,
// optimizer state, schedule and data order. A checkpoint of another training is refused and
// nothing of it is loaded.
TEST_F(TrainingTest, AResumedTrainingEndsExactlyWhereAnUninterruptedOneDoes) {
  nas::v1::TrainingRecipe recipe = Recipe();
  recipe.set_epochs(3);
  recipe.set_train_subset(320);
  recipe.set_augment_crop(true);
  recipe.set_schedule(nas::v1::LR_SCHEDULE_ONE_CYCLE);
  recipe.set_precision(nas::v1::PRECISION_FP32);  // bit-exact comparisons
  std::vector<std::pair<int, std::string>> saved;
  TrainingCheckpoints straight;
  straight.identity = "search 1 candidate 2";
  straight.save = [&](int epochs, const std::string& state) { saved.push_back({epochs, state}); };
  torch::manual_seed(9);
  Network uninterrupted = *BuildNetwork(Small(), *options_);
  absl::StatusOr<TrainResult> a =
      Train(uninterrupted, *data_, recipe, nas::v1::Fidelity(), nullptr, straight);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->resumed_epochs, 0);
  ASSERT_EQ(saved.size(), 2u);  // after epochs 1 and 2, not after the last
  EXPECT_EQ(saved[0].first, 1);
  EXPECT_EQ(saved[1].first, 2);

  TrainingCheckpoints resume;
  resume.identity = straight.identity;
  resume.resume_from = saved[0].second;
  torch::manual_seed(10);  // other initial weights: the checkpoint's replace them
  Network resumed = *BuildNetwork(Small(), *options_);
  absl::StatusOr<TrainResult> b =
      Train(resumed, *data_, recipe, nas::v1::Fidelity(), nullptr, resume);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->resumed_epochs, 1);
  EXPECT_EQ(b->samples, 2 * 320);  // two epochs trained here
  const std::vector<torch::Tensor> pa = uninterrupted->parameters(), pb = resumed->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i << " differs";
  }
  const std::vector<torch::Tensor> ba = uninterrupted->buffers(), bb = resumed->buffers();
  for (size_t i = 0; i < ba.size(); ++i) {
    EXPECT_TRUE(torch::equal(ba[i], bb[i])) << "buffer " << i << " differs";
  }

  TrainingCheckpoints foreign = resume;
  foreign.identity = "search 1 candidate 3";
  torch::manual_seed(11);
  Network other = *BuildNetwork(Small(), *options_);
  std::vector<torch::Tensor> before;
  for (const torch::Tensor& p : other->parameters()) before.push_back(p.detach().clone());
  absl::StatusOr<TrainResult> c =
      Train(other, *data_, recipe, nas::v1::Fidelity(), nullptr, foreign);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(before[i], other->parameters()[i])) << "loaded from a refused one";
  }
  // Nor is a file that is not a checkpoint.
  foreign.identity = straight.identity;
  foreign.resume_from = "not a checkpoint";
  EXPECT_EQ(Train(other, *data_, recipe, nas::v1::Fidelity(), nullptr, foreign).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TrainingExamplesTest, SubsetThenFractionButAtLeastOneBatch) {
  nas::v1::TrainingRecipe recipe;
  recipe.set_batch_size(100);
  nas::v1::Fidelity f;
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 50000);
  f.set_train_fraction(1.0 / 9);
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 5556);
  recipe.set_train_subset(900);
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 100);
  f.set_train_fraction(1.0 / 81);
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 100);  // one batch, not 11 examples
  EXPECT_EQ(TrainingExamples(40, recipe, f), 40);      // fewer than a batch: all of them
  f.set_train_subset(3000);                            // the fidelity's subset wins
  f.set_train_fraction(0.5);
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 1500);
  f.set_train_fraction(1);
  EXPECT_EQ(TrainingExamples(50000, recipe, f), 3000);
}

TEST_F(TrainingTest, LatencyIsMeasuredAtBatchOne) {
  Network net = *BuildNetwork(Small(), *options_);
  LatencyStats s = MeasureLatency(net, {1, 1, 28, 28}, 2, 11);
  EXPECT_GT(s.median_ms, 0);
  EXPECT_GE(s.iqr_ms, 0);
  EXPECT_EQ(s.runs, 11);
  EXPECT_EQ(s.threads, 1);
  EXPECT_GE(s.ci_ms, 0);
}

TEST(MedianCiTest, HalfTheSpanOfTheOrderStatisticsAroundTheMedian) {
  std::vector<double> ms;
  for (int i = 0; i < 100; ++i) ms.push_back(i);
  // n = 100: ranks 50 -+ 9.8, so 40 and 60.
  EXPECT_DOUBLE_EQ(MedianCiHalfWidth(ms), 10);
  EXPECT_EQ(MedianCiHalfWidth({1.0}), 0);
}

TEST_F(TrainingTest, LatencyIsMeasuredUntilSettledOrSaysItIsNot) {
  Network net = *BuildNetwork(Small(), *options_);
  LatencyPrecision loose;
  loose.relative_ci = 10;  // any interval will do: one round
  loose.min_runs = 20;
  LatencyStats s = MeasureLatencyUntilSettled(net, {1, 1, 28, 28}, loose, 2);
  EXPECT_TRUE(s.settled);
  EXPECT_EQ(s.runs, 20);
  LatencyPrecision impossible;
  impossible.relative_ci = 0;  // never tight enough: stops at the most runs, unsettled
  impossible.min_runs = 20;
  impossible.max_runs = 60;
  s = MeasureLatencyUntilSettled(net, {1, 1, 28, 28}, impossible, 2);
  EXPECT_FALSE(s.settled);
  EXPECT_EQ(s.runs, 60);
  EXPECT_GT(s.ci_ms, 0);
}

}  // namespace
}  // namespace nas

namespace nas {
namespace {

// A dataset of `n` 2x2 images whose pixels and labels are their index (mod 256 and 10).
ImageDataset Indexed(int64_t train, int64_t test) {
  ImageDataset d;
  d.channels = 1;
  d.height = d.width = 2;
  auto fill = [](ImageSet& set, int64_t n, int64_t offset) {
    set.count = n;
    for (int64_t i = 0; i < n; ++i) {
      for (int p = 0; p < 4; ++p) set.pixels.push_back(static_cast<uint8_t>((i + offset) % 256));
      set.labels.push_back((i + offset) % 10);
    }
  };
  fill(d.train, train, 0);
  fill(d.test, test, 1000);
  return d;
}

// The tensors of a small dataset's split hold exactly the split's examples: the validation
// ones are none of the training ones, and together they are every training example once.
TEST(MakeTensorDataTest, SplitsOfASmallDatasetAreDisjointAndComplete) {
  const ImageDataset d = Indexed(200, 30);
  const DatasetSplit split = SplitTrainValidation(d, 33, 0);
  const TensorData t = MakeTensorData(d, split);
  ASSERT_EQ(t.val_images.size(0), 33);
  ASSERT_EQ(t.train_images.size(0), 167);
  ASSERT_EQ(t.test_images.size(0), 30);
  std::set<int> seen;
  for (const torch::Tensor& images : {t.train_images, t.val_images}) {
    for (int64_t i = 0; i < images.size(0); ++i) {
      EXPECT_TRUE(seen.insert(images[i][0][0][0].item<int>()).second) << "example seen twice";
    }
  }
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_EQ(t.test_images[0][0][0][0].item<int>(), 1000 % 256);
}

// An empty side of a split is no example, never "all of them" (which once validated candidates
// on what they trained on).
TEST(MakeTensorDataTest, AnEmptySideIsEmpty) {
  const ImageDataset d = Indexed(20, 5);
  const TensorData none = MakeTensorData(d, SplitTrainValidation(d, 0, 0));
  EXPECT_EQ(none.val_images.size(0), 0);
  EXPECT_EQ(none.val_labels.size(0), 0);
  EXPECT_EQ(none.train_images.size(0), 20);
}

}  // namespace
}  // namespace nas
