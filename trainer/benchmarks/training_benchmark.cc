// Training throughput of the trainer's own path (nas::Train on real data), for
// tests/benchmarks/training_speed_benchmark.sh to compare with python3-torch on the same
// architecture, recipe, batch and threads.
//
//   training_benchmark --arch=ARCH.textproto --batches=30 --batch=128 --threads=1
//       --precision=fp32|bf16
//
// Prints one line: samples/s, achieved GFLOP/s of training (3 x forward MACs x 2 per sample),
// the machine's peak in that precision as measured by a large matmul in LibTorch on the same
// threads (fp32, or bf16 operands, which oneDNN runs on AVX512-BF16's dot products), and MACs.
// The recipe is SGD with Nesterov momentum, cosine schedule, label smoothing 0.1, random crop
// and flip: the peer (tests/benchmarks/training_speed_peer.py) does the same.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "search/cost_model.h"
#include "trainer/benchmarks/benchmark_inputs.h"
#include "trainer/training.h"

ABSL_FLAG(std::string, arch, "", "Architecture text proto");
ABSL_FLAG(std::string, preset, "",
          "Instead of --arch: a preset's reference network at 28 x 28 (resnet18, "
          "mobilenetv2-1.0)");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist", "IDX dataset directory");
ABSL_FLAG(int, batches, 30, "Timed training batches (after 3 warm-up batches)");
ABSL_FLAG(int, batch, 128, "Batch size");
ABSL_FLAG(int, threads, 1, "Intra-op threads");
ABSL_FLAG(std::string, precision, "fp32", "Training arithmetic: fp32 or bf16");
ABSL_FLAG(bool, print_json, false, "Print the architecture as JSON (for the Python peer) and exit");

namespace {

double MatmulPeakGflops(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  const torch::Tensor a = torch::rand({1024, 1024}).to(dtype);
  const torch::Tensor b = torch::rand({1024, 1024}).to(dtype);
  torch::mm(a, b);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) torch::mm(a, b);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 10 * 2.0 * 1024 * 1024 * 1024 / secs / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  absl::StatusOr<nas::v1::Architecture> loaded =
      nas::LoadBenchmarkNetwork(absl::GetFlag(FLAGS_preset), absl::GetFlag(FLAGS_arch));
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 2;
  }
  const nas::v1::Architecture& arch = *loaded;
  if (absl::GetFlag(FLAGS_print_json)) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(arch, &json);
    std::cout << json << "\n";
    return 0;
  }
  absl::StatusOr<nas::BenchmarkData> inputs = nas::LoadBenchmarkData(absl::GetFlag(FLAGS_data_dir));
  if (!inputs.ok()) {
    std::cerr << inputs.status() << "\n";
    return 1;
  }
  const nas::TensorData& data = inputs->data;
  const nas::NetworkOptions& options = inputs->options;
  torch::manual_seed(0);
  absl::StatusOr<nas::Network> net = nas::BuildNetwork(arch, options);
  if (!net.ok()) {
    std::cerr << net.status() << "\n";
    return 1;
  }
  const int batch = absl::GetFlag(FLAGS_batch);
  nas::v1::TrainingRecipe recipe;
  recipe.set_epochs(1);
  recipe.set_batch_size(batch);
  recipe.set_optimizer(nas::v1::OPTIMIZER_SGD);
  recipe.set_schedule(nas::v1::LR_SCHEDULE_COSINE);
  recipe.set_label_smoothing(0.1);
  recipe.set_augment_crop(true);
  recipe.set_augment_flip(true);
  recipe.set_seed(1);
  const std::string precision = absl::GetFlag(FLAGS_precision);
  if (precision != "fp32" && precision != "bf16") {
    std::cerr << "--precision: fp32 or bf16, not \"" << precision << "\"\n";
    return 2;
  }
  const bool bf16 = precision == "bf16";
  recipe.set_precision(bf16 ? nas::v1::PRECISION_BF16 : nas::v1::PRECISION_FP32);
  nas::v1::Fidelity warmup, timed;
  warmup.set_train_subset(3 * batch);
  timed.set_train_subset(absl::GetFlag(FLAGS_batches) * batch);
  if (!nas::Train(*net, data, recipe, warmup, nullptr).ok()) return 1;
  absl::StatusOr<nas::TrainResult> r = nas::Train(*net, data, recipe, timed, nullptr);
  if (!r.ok()) {
    std::cerr << r.status() << "\n";
    return 1;
  }
  std::cerr << "arithmetic intensity: "
            << nas::MacsPerOutputElement(nas::EstimateCost(arch, nas::FashionMnistInput()))
            << " MACs per element written\n";
  // Training costs about three forward passes (forward, input and weight gradients).
  const double gflops = r->samples_per_second * (*net)->macs() * 2.0 * 3.0 / 1e9;
  std::cout << r->samples_per_second << " " << gflops << " "
            << MatmulPeakGflops(bf16 ? torch::kBFloat16 : torch::kFloat32) << " " << (*net)->macs()
            << "\n";
  return 0;
}
