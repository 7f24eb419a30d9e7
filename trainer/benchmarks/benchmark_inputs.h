// What the trainer's benchmarks train on: Fashion-MNIST with 10,000 validation examples held
// out, the network options its images imply, and a network from a text proto or a preset.
//
//   absl::StatusOr<BenchmarkData> data = LoadBenchmarkData("/usr/share/datasets/fashion-mnist");
//   absl::StatusOr<nas::v1::Architecture> arch = LoadBenchmarkNetwork("resnet18", "");
#ifndef NAS_TRAINER_BENCHMARKS_BENCHMARK_INPUTS_H_
#define NAS_TRAINER_BENCHMARKS_BENCHMARK_INPUTS_H_

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "search/reference.h"
#include "trainer/training.h"

namespace nas {

struct BenchmarkData {
  TensorData data;
  NetworkOptions options;
};

inline absl::StatusOr<BenchmarkData> LoadBenchmarkData(const std::string& idx_dir) {
  absl::StatusOr<ImageDataset> dataset = LoadIdxDataset(idx_dir);
  if (!dataset.ok()) return dataset.status();
  BenchmarkData out;
  out.data = MakeTensorData(*dataset, SplitTrainValidation(*dataset, 10000, 0));
  out.options.mean = dataset->mean;
  out.options.stddev = dataset->stddev;
  return out;
}

// LoadBenchmarkNetwork() is `preset`'s reference network at 28 x 28 when `preset` is given,
// else the architecture in the text proto at `path`.
inline absl::StatusOr<nas::v1::Architecture> LoadBenchmarkNetwork(const std::string& preset,
                                                                  const std::string& path) {
  if (!preset.empty()) return PresetReferenceNetwork(preset, 28);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  nas::v1::Architecture arch;
  if (!in || !google::protobuf::TextFormat::ParseFromString(text.str(), &arch)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse ", path));
  }
  return arch;
}

}  // namespace nas

#endif  // NAS_TRAINER_BENCHMARKS_BENCHMARK_INPUTS_H_
