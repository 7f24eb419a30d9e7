// Does bf16 mixed precision learn what fp32 learns? The same recipe in both precisions, on
// several architectures and seeds, tested on Fashion-MNIST's 10,000 test images; bf16 passes
// when its difference from fp32 is within what changing the seed alone moves (docs/precision.md).
//
//   precision_parity_benchmark --arch=A.textproto,B.textproto --seeds=1,2 --epochs=2 \
//       --train_subset=10000 --threads=2
//
// Prints a markdown table: per architecture, each seed's test accuracy and samples/s in fp32 and
// bf16, the mean difference bf16 - fp32, and the seeds' spread (max - min over the seeds, per
// precision, the larger of the two).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "trainer/training.h"

ABSL_FLAG(std::vector<std::string>, arch, {}, "Architecture text protos");
ABSL_FLAG(std::vector<std::string>, seeds, std::vector<std::string>({"1", "2"}), "Seeds");
ABSL_FLAG(int, epochs, 2, "Epochs");
ABSL_FLAG(int, train_subset, 10000, "Training examples per epoch (0: all 50,000)");
ABSL_FLAG(int, threads, 2, "Intra-op threads");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist", "IDX dataset directory");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  absl::StatusOr<nas::ImageDataset> dataset = nas::LoadIdxDataset(absl::GetFlag(FLAGS_data_dir));
  if (!dataset.ok()) {
    std::cerr << dataset.status() << "\n";
    return 1;
  }
  const nas::TensorData data =
      nas::MakeTensorData(*dataset, nas::SplitTrainValidation(*dataset, 10000, 0));
  nas::NetworkOptions options;
  options.mean = dataset->mean;
  options.stddev = dataset->stddev;
  std::cout << "| architecture | MACs | fp32 test acc (per seed) | bf16 test acc (per seed) "
               "| bf16 - fp32 (mean) | seeds' spread | fp32 samples/s | bf16 samples/s |\n"
               "|---|---|---|---|---|---|---|---|\n";
  for (const std::string& path : absl::GetFlag(FLAGS_arch)) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    nas::v1::Architecture arch;
    if (!google::protobuf::TextFormat::ParseFromString(text.str(), &arch)) {
      std::cerr << "cannot parse " << path << "\n";
      return 2;
    }
    std::vector<double> acc[2], speed[2];
    int64_t macs = 0;
    for (int p = 0; p < 2; ++p) {
      for (const std::string& seed_text : absl::GetFlag(FLAGS_seeds)) {
        const uint64_t seed = std::stoull(seed_text);
        nas::v1::TrainingRecipe recipe;
        recipe.set_epochs(absl::GetFlag(FLAGS_epochs));
        recipe.set_batch_size(128);
        recipe.set_learning_rate(0.1);
        recipe.set_schedule(nas::v1::LR_SCHEDULE_ONE_CYCLE);
        recipe.set_label_smoothing(0.1);
        recipe.set_augment_crop(true);
        recipe.set_train_subset(absl::GetFlag(FLAGS_train_subset));
        recipe.set_seed(seed);
        recipe.set_precision(p == 0 ? nas::v1::PRECISION_FP32 : nas::v1::PRECISION_BF16);
        torch::manual_seed(seed);
        absl::StatusOr<nas::Network> net = nas::BuildNetwork(arch, options);
        if (!net.ok()) {
          std::cerr << net.status() << "\n";
          return 1;
        }
        macs = (*net)->macs();
        absl::StatusOr<nas::TrainResult> r =
            nas::Train(*net, data, recipe, nas::v1::Fidelity(), nullptr);
        if (!r.ok()) {
          std::cerr << r.status() << "\n";
          return 1;
        }
        acc[p].push_back(nas::Evaluate(*net, data.test_images, data.test_labels));
        speed[p].push_back(r->samples_per_second);
        std::cerr << path << " " << nas::PrecisionName(r->precision) << " seed " << seed
                  << ": test " << acc[p].back() << ", " << r->samples_per_second
                  << " samples/s\n";
      }
    }
    auto mean = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x;
      return v.empty() ? 0 : s / v.size();
    };
    auto spread = [](const std::vector<double>& v) {
      return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
    };
    auto list = [](const std::vector<double>& v) {
      std::string s;
      for (double x : v) absl::StrAppend(&s, s.empty() ? "" : " / ", absl::StrFormat("%.4f", x));
      return s;
    };
    std::string name = path.substr(path.find_last_of('/') + 1);
    std::cout << absl::StrFormat("| %s | %d | %s | %s | %+.2f points | %.2f points | %.0f | %.0f |\n",
                                 name, macs, list(acc[0]), list(acc[1]),
                                 100 * (mean(acc[1]) - mean(acc[0])),
                                 100 * std::max(spread(acc[0]), spread(acc[1])), mean(speed[0]),
                                 mean(speed[1]));
  }
  return 0;
}
