// Training throughput of the trainer, for tests/training_speed_benchmark.sh to compare with
// python3-torch on the same architectures, batch and threads.
//
//   training_benchmark --arch=ARCH.textproto --batches=30 --batch=128 --threads=1
//
// Prints one line: samples/s, achieved GFLOP/s of training (3 x forward MACs x 2 per sample),
// and the machine's peak as measured by a large matmul in LibTorch on the same threads.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "trainer/training.h"

ABSL_FLAG(std::string, arch, "", "Architecture text proto");
ABSL_FLAG(int, batches, 30, "Timed training batches (after 3 warm-up batches)");
ABSL_FLAG(int, batch, 128, "Batch size");
ABSL_FLAG(int, threads, 1, "Intra-op threads");
ABSL_FLAG(bool, print_json, false, "Print the architecture as JSON (for the Python peer) and exit");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  std::ifstream in(absl::GetFlag(FLAGS_arch));
  std::stringstream text;
  text << in.rdbuf();
  nas::v1::Architecture arch;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &arch)) {
    std::cerr << "cannot parse --arch\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_print_json)) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(arch, &json);
    std::cout << json << "\n";
    return 0;
  }
  torch::manual_seed(0);
  absl::StatusOr<nas::Network> net = nas::BuildNetwork(arch, nas::NetworkOptions());
  if (!net.ok()) {
    std::cerr << net.status() << "\n";
    return 1;
  }
  const int batch = absl::GetFlag(FLAGS_batch);
  // Random inputs of the dataset's shape: this measures compute, not data loading.
  const torch::Tensor x = torch::rand({batch, 1, 28, 28});
  const torch::Tensor y = torch::randint(0, 10, {batch}, torch::kInt64);
  torch::optim::SGD opt((*net)->parameters(),
                        torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(5e-4));
  (*net)->train();
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy((*net)->forward(x), y);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < absl::GetFlag(FLAGS_batches); ++i) step();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double samples_per_s = absl::GetFlag(FLAGS_batches) * batch / secs;
  // Training costs about three forward passes (forward, input and weight gradients).
  const double gflops = samples_per_s * (*net)->macs() * 2.0 * 3.0 / 1e9;

  torch::NoGradGuard no_grad;
  const torch::Tensor a = torch::rand({1024, 1024}), b = torch::rand({1024, 1024});
  torch::mm(a, b);
  const auto m0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) torch::mm(a, b);
  const double mm_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count();
  const double peak = 10 * 2.0 * 1024 * 1024 * 1024 / mm_secs / 1e9;
  std::cout << samples_per_s << " " << gflops << " " << peak << " " << (*net)->macs() << "\n";
  return 0;
}
