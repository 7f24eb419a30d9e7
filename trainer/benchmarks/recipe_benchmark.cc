// What test accuracy a training recipe reaches, per architecture, epochs, precision and seed,
// on Fashion-MNIST's 10,000 test images (docs/precision.md):
//
//   - bf16 against fp32 (parity): the same recipe in both precisions over several seeds;
//     bf16 passes when its difference from fp32 is within what changing the seed moves:
//       recipe_benchmark --arch=A.textproto,B.textproto --seeds=1,2 --epochs=3
//           --train_subset=15000 --precisions=fp32,bf16 --threads=2
//   - time to accuracy: the test accuracy after k epochs (a run of k epochs each, so that the
//     schedule anneals in each):
//       recipe_benchmark --preset=resnet18 --epochs=2,4 --train_subset=0 --precisions=bf16
//           --schedule=one_cycle --learning_rate=0.2 --threads=2
//
// The recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, label smoothing
// 0.1, random crop (and --flip), the schedule and peak rate given. Prints a markdown table, a row
// per network and epochs: each precision's test accuracy per seed, their mean, samples/s and
// wall time, and with two precisions the mean difference and the seeds' spread.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/benchmarks/benchmark_inputs.h"
#include "trainer/training.h"

ABSL_FLAG(std::vector<std::string>, arch, {}, "Architecture text protos");
ABSL_FLAG(std::vector<std::string>, preset, {},
          "Presets' reference networks at 28 x 28 (resnet18, mobilenetv2-1.0), besides --arch");
ABSL_FLAG(std::vector<std::string>, seeds, std::vector<std::string>({"1"}), "Seeds");
ABSL_FLAG(std::vector<std::string>, epochs, std::vector<std::string>({"2"}),
          "Epochs, one run each");
ABSL_FLAG(std::vector<std::string>, precisions, std::vector<std::string>({"fp32", "bf16"}),
          "fp32, bf16");
ABSL_FLAG(int, train_subset, 10000, "Training examples per epoch (0: all 50,000)");
ABSL_FLAG(std::string, schedule, "one_cycle", "cosine, one_cycle or cosine_warmup");
ABSL_FLAG(double, learning_rate, 0.1, "Peak learning rate");
ABSL_FLAG(bool, flip, false, "Random horizontal flips besides the crops");
ABSL_FLAG(int, threads, 2, "Intra-op threads");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist", "IDX dataset directory");

namespace {

std::vector<std::pair<std::string, nas::v1::Architecture>> Networks() {
  std::vector<std::pair<std::string, std::string>> wanted;  // (preset, path)
  for (const std::string& preset : absl::GetFlag(FLAGS_preset)) wanted.push_back({preset, ""});
  for (const std::string& path : absl::GetFlag(FLAGS_arch)) wanted.push_back({"", path});
  std::vector<std::pair<std::string, nas::v1::Architecture>> out;
  for (const auto& [preset, path] : wanted) {
    absl::StatusOr<nas::v1::Architecture> arch = nas::LoadBenchmarkNetwork(preset, path);
    if (!arch.ok()) {
      std::cerr << arch.status().message() << "\n";
      std::exit(2);
    }
    out.push_back({preset.empty() ? path.substr(path.find_last_of('/') + 1) : preset, *arch});
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

double Spread(const std::vector<double>& v) {
  return v.empty() ? 0
                   : *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  const std::string schedule = absl::GetFlag(FLAGS_schedule);
  nas::v1::LrSchedule lr_schedule = nas::v1::LR_SCHEDULE_ONE_CYCLE;
  if (schedule == "cosine") {
    lr_schedule = nas::v1::LR_SCHEDULE_COSINE;
  } else if (schedule == "cosine_warmup") {
    lr_schedule = nas::v1::LR_SCHEDULE_COSINE_WARMUP;
  } else if (schedule != "one_cycle") {
    std::cerr << "--schedule: cosine, one_cycle or cosine_warmup\n";
    return 2;
  }
  absl::StatusOr<nas::BenchmarkData> inputs = nas::LoadBenchmarkData(absl::GetFlag(FLAGS_data_dir));
  if (!inputs.ok()) {
    std::cerr << inputs.status() << "\n";
    return 1;
  }
  const nas::TensorData& data = inputs->data;
  const nas::NetworkOptions& options = inputs->options;
  const std::vector<std::string> precisions = absl::GetFlag(FLAGS_precisions);
  std::cout << "| network | MACs | epochs |";
  for (const std::string& p : precisions) {
    std::cout << " " << p << " test acc (per seed) | " << p << " mean | " << p << " samples/s | "
              << p << " minutes |";
  }
  if (precisions.size() == 2)
    std::cout << " " << precisions[1] << " - " << precisions[0] << " | seeds' spread |";
  std::cout << "\n|---|---|---|";
  for (size_t i = 0; i < precisions.size(); ++i) std::cout << "---|---|---|---|";
  if (precisions.size() == 2) std::cout << "---|---|";
  std::cout << std::endl;
  for (const auto& [name, arch] : Networks()) {
    for (const std::string& epochs_text : absl::GetFlag(FLAGS_epochs)) {
      const int epochs = std::stoi(epochs_text);
      std::vector<std::vector<double>> acc(precisions.size()), speed(precisions.size()),
          minutes(precisions.size());
      int64_t macs = 0;
      for (size_t p = 0; p < precisions.size(); ++p) {
        if (precisions[p] != "fp32" && precisions[p] != "bf16") {
          std::cerr << "--precisions: fp32 or bf16, not " << precisions[p] << "\n";
          return 2;
        }
        for (const std::string& seed_text : absl::GetFlag(FLAGS_seeds)) {
          const uint64_t seed = std::stoull(seed_text);
          nas::v1::TrainingRecipe recipe;
          recipe.set_epochs(epochs);
          recipe.set_batch_size(128);
          recipe.set_learning_rate(absl::GetFlag(FLAGS_learning_rate));
          recipe.set_schedule(lr_schedule);
          recipe.set_label_smoothing(0.1);
          recipe.set_augment_crop(true);
          recipe.set_augment_flip(absl::GetFlag(FLAGS_flip));
          recipe.set_train_subset(absl::GetFlag(FLAGS_train_subset));
          recipe.set_seed(seed);
          recipe.set_precision(precisions[p] == "fp32" ? nas::v1::PRECISION_FP32
                                                       : nas::v1::PRECISION_BF16);
          torch::manual_seed(seed);
          absl::StatusOr<nas::Network> net = nas::BuildNetwork(arch, options);
          if (!net.ok()) {
            std::cerr << net.status() << "\n";
            return 1;
          }
          macs = (*net)->macs();
          const auto start = std::chrono::steady_clock::now();
          int last_epoch = 0;
          absl::StatusOr<nas::TrainResult> r = nas::Train(
              *net, data, recipe, nas::v1::Fidelity(), [&](const nas::TrainProgress& progress) {
                if (progress.epoch != last_epoch) {
                  last_epoch = progress.epoch;
                  std::cerr << name << " " << precisions[p] << " seed " << seed << ": epoch "
                            << progress.epoch << "/" << progress.epochs << "\n";
                }
                return true;
              });
          if (!r.ok()) {
            std::cerr << r.status() << "\n";
            return 1;
          }
          acc[p].push_back(nas::Evaluate(*net, data.test_images, data.test_labels));
          speed[p].push_back(r->samples_per_second);
          minutes[p].push_back(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60);
          std::cerr << name << " " << precisions[p] << " seed " << seed << ", " << epochs
                    << " epochs: test " << acc[p].back() << ", " << r->samples_per_second
                    << " samples/s\n";
        }
      }
      std::cout << absl::StrFormat("| %s | %.0fM | %d |", name, macs / 1e6, epochs);
      for (size_t p = 0; p < precisions.size(); ++p) {
        std::string list;
        for (double a : acc[p])
          absl::StrAppend(&list, list.empty() ? "" : " / ", absl::StrFormat("%.4f", a));
        std::cout << absl::StrFormat(" %s | %.4f | %.0f | %.1f |", list, Mean(acc[p]),
                                     Mean(speed[p]), Mean(minutes[p]));
      }
      if (precisions.size() == 2) {
        std::cout << absl::StrFormat(" %+.2f points | %.2f points |",
                                     100 * (Mean(acc[1]) - Mean(acc[0])),
                                     100 * std::max(Spread(acc[0]), Spread(acc[1])));
      }
      std::cout << std::endl;
    }
  }
  return 0;
}
