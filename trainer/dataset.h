// Image classification datasets, decoded once and shared by every task of a worker.
//
//   absl::StatusOr<DatasetSource> src = ParseDatasetSource("cifar10=cifar10:/data/cifar-10");
//   absl::StatusOr<ImageDataset> data = LoadDataset(*src);        // or FashionMnist()
//   DatasetSplit split = SplitTrainValidation(*data, /*validation=*/10000, /*seed=*/1);
//
// Formats: IDX files (MNIST, Fashion-MNIST, any IDX image set), plain or gzip-compressed, and
// the CIFAR-10 / CIFAR-100 binary versions. The validation split is carved from the training
// set by a seeded permutation; the test set is never used to select. A missing file is
// NotFound and a corrupt one DataLoss, each naming the file.
// This header has no torch in it: trainer/training.h turns examples into tensors.
#ifndef NAS_TRAINER_DATASET_H_
#define NAS_TRAINER_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nas {

// ImageSet: N images of C x H x W bytes, row-major, with their labels.
struct ImageSet {
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // count * channels * height * width
  std::vector<int64_t> labels;  // count
};

struct ImageDataset {
  std::string name;
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<std::string> classes;
  // Per-channel mean and standard deviation of the training pixels in [0, 1].
  std::vector<float> mean;
  std::vector<float> stddev;
  ImageSet train;
  ImageSet test;
};

enum class DatasetFormat { kIdx, kCifar10, kCifar100 };

// Where a worker finds a dataset, and the name searches use for it.
struct DatasetSource {
  std::string name;
  DatasetFormat format = DatasetFormat::kIdx;
  std::string dir;
};

// Fashion-MNIST from Debian's dataset-fashion-mnist package, the service's built-in dataset.
DatasetSource FashionMnist();

// ParseDatasetSource() reads NAME=FORMAT:DIR, FORMAT one of idx, cifar10, cifar100, NAME
// 1 to 64 of [a-z0-9._-]. InvalidArgument says which part is wrong.
absl::StatusOr<DatasetSource> ParseDatasetSource(const std::string& text);

// LoadDataset() decodes a dataset in the source's format. Class names come from the format's
// names file (CIFAR's batches.meta.txt / fine_label_names.txt, or classes.txt beside IDX
// files, one name a line), else the built-in Fashion-MNIST names for "fashion-mnist", else
// the label numbers.
absl::StatusOr<ImageDataset> LoadDataset(const DatasetSource& source);

// LoadIdxDataset() reads train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz) from `dir`.
absl::StatusOr<ImageDataset> LoadIdxDataset(const std::string& dir);

// LoadCifarDataset() reads the CIFAR binary version: data_batch_1..5.bin and test_batch.bin
// (CIFAR-10), or train.bin and test.bin with their fine labels (CIFAR-100).
absl::StatusOr<ImageDataset> LoadCifarDataset(const std::string& dir, bool cifar100);

// The Fashion-MNIST class names, in label order.
std::vector<std::string> FashionMnistClasses();

// Indices into ImageDataset::train for training and for validation.
struct DatasetSplit {
  std::vector<int64_t> train;
  std::vector<int64_t> validation;
};

// SplitTrainValidation() holds out `validation` training examples, chosen by a seeded
// permutation, so that the same seed always gives the same split.
DatasetSplit SplitTrainValidation(const ImageDataset& data, int64_t validation, uint64_t seed);

}  // namespace nas

#endif  // NAS_TRAINER_DATASET_H_
