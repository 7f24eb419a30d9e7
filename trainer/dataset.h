// Image classification datasets, decoded once and shared by every task of a worker.
//
//   absl::StatusOr<ImageDataset> data = LoadIdxDataset("/usr/share/datasets/fashion-mnist");
//   DatasetSplit split = SplitTrainValidation(*data, /*validation=*/10000, /*seed=*/1);
//
// IDX files (MNIST, Fashion-MNIST) are read plain or gzip-compressed. The validation split is
// carved from the training set by a seeded permutation; the test set is never used to select.
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

// LoadIdxDataset() reads train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz) from `dir`.
// A missing or corrupt file is NotFound / DataLoss naming the file.
absl::StatusOr<ImageDataset> LoadIdxDataset(const std::string& dir);

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
