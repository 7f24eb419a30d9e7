#include "trainer/dataset.h"

#include <cstdlib>
#include <fstream>
#include <set>

#include "gtest/gtest.h"

namespace nas {
namespace {

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

TEST(DatasetTest, LoadsTheRealFashionMnist) {
  absl::StatusOr<ImageDataset> d = LoadIdxDataset(kFashionMnist);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->train.count, 60000);
  EXPECT_EQ(d->test.count, 10000);
  EXPECT_EQ(d->height, 28);
  EXPECT_EQ(d->width, 28);
  EXPECT_EQ(d->classes.size(), 10u);
  EXPECT_EQ(d->classes[9], "ankle boot");
  EXPECT_EQ(d->train.pixels.size(), 60000u * 28 * 28);
  // The published statistics of Fashion-MNIST's training set.
  EXPECT_NEAR(d->mean[0], 0.2860, 1e-3);
  EXPECT_NEAR(d->stddev[0], 0.3530, 1e-3);
  std::set<int64_t> labels(d->test.labels.begin(), d->test.labels.end());
  EXPECT_EQ(labels.size(), 10u);
}

TEST(DatasetTest, SplitIsDeterministicAndDisjoint) {
  absl::StatusOr<ImageDataset> d = LoadIdxDataset(kFashionMnist);
  ASSERT_TRUE(d.ok());
  DatasetSplit a = SplitTrainValidation(*d, 10000, 7), b = SplitTrainValidation(*d, 10000, 7);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_EQ(a.train.size(), 50000u);
  std::set<int64_t> val(a.validation.begin(), a.validation.end());
  for (int64_t i : a.train) ASSERT_EQ(val.count(i), 0u);
  EXPECT_NE(SplitTrainValidation(*d, 10000, 8).validation, a.validation);
}

TEST(DatasetTest, MissingAndCorruptFilesAreNamed) {
  absl::StatusOr<ImageDataset> missing = LoadIdxDataset("/nonexistent-dataset-dir");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("train-images-idx3-ubyte"), std::string::npos);

  // A copy of the real dataset whose training labels are cut short.
  const std::string dir = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                          "/corrupt-fmnist";
  ASSERT_EQ(std::system(("mkdir -p " + dir + " && cp " + kFashionMnist + "/* " + dir +
                         " && gunzip -f " + dir + "/train-labels-idx1-ubyte.gz && truncate -s "
                         "1000 " + dir + "/train-labels-idx1-ubyte")
                            .c_str()),
            0);
  absl::StatusOr<ImageDataset> corrupt = LoadIdxDataset(dir);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find(dir + "/train-labels-idx1-ubyte"), std::string::npos)
      << corrupt.status();
}

}  // namespace
}  // namespace nas
