#include "trainer/dataset.h"

#include <cstdlib>
#include <fstream>
#include <set>

#include "gtest/gtest.h"

namespace nas {
namespace {

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

std::string TempDir(const std::string& name) {
  const std::string dir =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
  EXPECT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  return dir;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// `n` CIFAR records: label bytes, then 3 x 32 x 32 pixels where pixel (c, y, x) of record i is
// (i + 7c + y + x) mod 256, so that the test can check every byte landed where it belongs.
std::string CifarRecords(int n, int first, const std::vector<int>& label_bytes_of,
                         int labels_per_record) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    for (int b = 0; b < labels_per_record; ++b) {
      out.push_back(static_cast<char>(label_bytes_of[(first + i) % label_bytes_of.size()] + b));
    }
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x)
          out.push_back(static_cast<char>((first + i + 7 * c + y + x) % 256));
      }
    }
  }
  return out;
}

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A plain (not gzipped) IDX pair of `n` h x w images with labels i % classes.
void WriteIdx(const std::string& dir, const std::string& prefix, int n, int h, int w, int classes) {
  std::string images = BigEndian(0x803) + BigEndian(n) + BigEndian(h) + BigEndian(w);
  std::string labels = BigEndian(0x801) + BigEndian(n);
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < h * w; ++p) images.push_back(static_cast<char>((i * 3 + p) % 256));
    labels.push_back(static_cast<char>(i % classes));
  }
  WriteFile(dir + "/" + prefix + "-images-idx3-ubyte", images);
  WriteFile(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
}

TEST(DatasetTest, LoadsTheRealFashionMnist) {
  absl::StatusOr<ImageDataset> d = LoadDataset(FashionMnist());
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
  absl::StatusOr<ImageDataset> d = LoadDataset(FashionMnist());
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
  const std::string dir =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/corrupt-fmnist";
  ASSERT_EQ(std::system(("mkdir -p " + dir + " && cp " + kFashionMnist + "/* " + dir +
                         " && gunzip -f " + dir +
                         "/train-labels-idx1-ubyte.gz && truncate -s "
                         "1000 " +
                         dir + "/train-labels-idx1-ubyte")
                            .c_str()),
            0);
  absl::StatusOr<ImageDataset> corrupt = LoadIdxDataset(dir);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find(dir + "/train-labels-idx1-ubyte"), std::string::npos)
      << corrupt.status();
}

TEST(DatasetTest, ReadsCifar10BinaryFilesWithTheirClassNames) {
  const std::string dir = TempDir("cifar10");
  for (int b = 1; b <= 5; ++b) {
    WriteFile(dir + "/data_batch_" + std::to_string(b) + ".bin",
              CifarRecords(20, (b - 1) * 20, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1));
  }
  WriteFile(dir + "/test_batch.bin", CifarRecords(10, 0, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 1));
  WriteFile(dir + "/batches.meta.txt",
            "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  absl::StatusOr<DatasetSource> source = ParseDatasetSource("cifar10=cifar10:" + dir);
  ASSERT_TRUE(source.ok()) << source.status();
  absl::StatusOr<ImageDataset> d = LoadDataset(*source);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "cifar10");
  EXPECT_EQ(d->channels, 3);
  EXPECT_EQ(d->height, 32);
  EXPECT_EQ(d->width, 32);
  EXPECT_EQ(d->train.count, 100);
  EXPECT_EQ(d->test.count, 10);
  ASSERT_EQ(d->classes.size(), 10u);
  EXPECT_EQ(d->classes[9], "truck");
  EXPECT_EQ(d->train.labels[47], 7);
  EXPECT_EQ(d->test.labels[0], 9);
  // Record 47 of the training set, channel 2, row 5, column 11.
  EXPECT_EQ(d->train.pixels[((47 * 3 + 2) * 32 + 5) * 32 + 11], (47 + 14 + 5 + 11) % 256);
  ASSERT_EQ(d->mean.size(), 3u);
  EXPECT_GT(d->mean[2], d->mean[0]);  // Channel 2's pixels are 14 higher by construction.
}

TEST(DatasetTest, ReadsCifar100FineLabels) {
  const std::string dir = TempDir("cifar100");
  // Two label bytes a record: coarse label L, fine label L + 1.
  WriteFile(dir + "/train.bin", CifarRecords(30, 0, {10, 50, 98}, 2));
  WriteFile(dir + "/test.bin", CifarRecords(5, 0, {0}, 2));
  absl::StatusOr<ImageDataset> d = LoadCifarDataset(dir, /*cifar100=*/true);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->train.count, 30);
  EXPECT_EQ(d->train.labels[1], 51);
  EXPECT_EQ(d->train.labels[2], 99);
  EXPECT_EQ(d->test.labels[0], 1);
  ASSERT_EQ(d->classes.size(), 100u);  // No names file: the label numbers.
  EXPECT_EQ(d->classes[51], "51");
}

TEST(DatasetTest, CorruptCifarFilesAreNamed) {
  const std::string dir = TempDir("cifar-corrupt");
  for (int b = 1; b <= 5; ++b) {
    WriteFile(dir + "/data_batch_" + std::to_string(b) + ".bin", CifarRecords(4, 0, {1}, 1));
  }
  WriteFile(dir + "/test_batch.bin", CifarRecords(4, 0, {1}, 1).substr(0, 3000));
  absl::StatusOr<ImageDataset> truncated = LoadCifarDataset(dir, false);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find(dir + "/test_batch.bin"), std::string::npos)
      << truncated.status();

  WriteFile(dir + "/test_batch.bin", CifarRecords(4, 0, {1, 12}, 1));  // Label 12 of 10.
  absl::StatusOr<ImageDataset> bad_label = LoadCifarDataset(dir, false);
  EXPECT_EQ(bad_label.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad_label.status().message().find("record 1 has label 12"), std::string::npos)
      << bad_label.status();

  EXPECT_EQ(std::system(("rm " + dir + "/data_batch_3.bin").c_str()), 0);
  absl::StatusOr<ImageDataset> missing = LoadCifarDataset(dir, false);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir + "/data_batch_3.bin"), std::string::npos);
}

TEST(DatasetTest, ReadsAUserNamedIdxDirectoryWithClassNames) {
  const std::string dir = TempDir("idx-digits");
  WriteIdx(dir, "train", 50, 12, 10, 3);
  WriteIdx(dir, "t10k", 9, 12, 10, 3);
  absl::StatusOr<DatasetSource> source = ParseDatasetSource("shapes=idx:" + dir);
  ASSERT_TRUE(source.ok()) << source.status();
  absl::StatusOr<ImageDataset> numbered = LoadDataset(*source);
  ASSERT_TRUE(numbered.ok()) << numbered.status();
  EXPECT_EQ(numbered->height, 12);
  EXPECT_EQ(numbered->width, 10);
  EXPECT_EQ(numbered->classes, (std::vector<std::string>{"0", "1", "2"}));

  WriteFile(dir + "/classes.txt", "circle\nsquare\ntriangle\n");
  absl::StatusOr<ImageDataset> named = LoadDataset(*source);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->classes[2], "triangle");

  WriteFile(dir + "/classes.txt", "circle\nsquare\n");  // Too few names for label 2.
  absl::StatusOr<ImageDataset> short_names = LoadDataset(*source);
  EXPECT_EQ(short_names.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(short_names.status().message().find(dir + "/classes.txt"), std::string::npos);
}

TEST(DatasetTest, DatasetFlagsAreParsedOrRefusedWithTheReason) {
  absl::StatusOr<DatasetSource> ok = ParseDatasetSource("cifar-100=cifar100:/data/c100");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->name, "cifar-100");
  EXPECT_EQ(ok->format, DatasetFormat::kCifar100);
  EXPECT_EQ(ok->dir, "/data/c100");
  for (const auto& [text, reason] : std::vector<std::pair<std::string, std::string>>{
           {"cifar10", "expected NAME=FORMAT:DIR"},
           {"Bad Name=idx:/d", "the name must be"},
           {"x=png:/d", "format \"png\" is not one of"},
           {"x=idx:", "no directory"}}) {
    absl::StatusOr<DatasetSource> bad = ParseDatasetSource(text);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(bad.status().message().find(reason), std::string::npos) << bad.status();
  }
}

}  // namespace
}  // namespace nas
