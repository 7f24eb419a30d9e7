// How well a weight-sharing supernet ranks the subnets of the MobileNetV2 space on
// Fashion-MNIST, and what that costs, against training each subnet from scratch.
//
//   supernet_benchmark --epochs=3 --subnets=50     # see docs/weight_sharing.md for the time
//   supernet_benchmark --epochs=2 --supernet_subset=5000 --standalone_epochs=0
//       --cheaper_estimates=1000x5,500x4             # (one command) what cheaper estimates lose
//
// Trains a supernet (trainer/supernet.h: sandwich rule, uniform single-path samples) for
// --epochs on --supernet_subset examples, then for --subnets random subnets:
// - the supernet's estimate: extract, recalibrate batch norm on --recal_batches batches,
//   validation accuracy (and, for comparison, the same without recalibration);
// - the stand-alone accuracy: the subnet trained from scratch, --standalone_epochs on
//   --standalone_subset examples at batch 64 (by default one epoch on 2,000, the real-task
//   recipe of tests/benchmarks/strategy_benchmark), twice with two seeds, so that the agreement of
//   two stand-alone runs bounds what any estimator can reach.
// Prints Markdown: trainer-seconds of each part, subnets estimated per minute, and Kendall's tau
// of each estimator (the supernet with and without recalibration, MACs, a second stand-alone
// seed) against the stand-alone accuracy of the first seed (--standalone_epochs=0: no
// stand-alone training). --cheaper_estimates=VALxRECAL,... also estimates every subnet on the
// first VAL validation images after RECAL recalibration batches (the `estimate_examples` and
// `recalibration_batches` settings of a weight-sharing search): their speed, and their tau
// against the full estimate and the stand-alone accuracy.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/text_format.h"
#include "search/rank_correlation.h"
#include "search/search_space.h"
#include "trainer/supernet.h"

ABSL_FLAG(std::string, space_spec, "name: \"mobilenetv2\"", "SearchSpace text proto");
ABSL_FLAG(int, epochs, 3, "Supernet training epochs");
ABSL_FLAG(int, supernet_subset, 10000, "Training examples per supernet epoch (0: all)");
ABSL_FLAG(int, random_subnets, 2, "Random subnets per supernet step, besides the sandwich");
ABSL_FLAG(int, subnets, 50, "Random subnets estimated and trained stand-alone");
ABSL_FLAG(int, standalone_subset, 2000, "Training examples of the stand-alone recipe");
ABSL_FLAG(int, standalone_epochs, 1, "Epochs of the stand-alone recipe (0: no stand-alone runs)");
ABSL_FLAG(int, recal_batches, 10, "Batches of 128 for batch-norm recalibration");
ABSL_FLAG(std::string, cheaper_estimates, "",
          "Comma-separated VALxRECAL: estimates on the first VAL validation images after RECAL "
          "recalibration batches, beside the full one");
ABSL_FLAG(int, threads, 1, "Intra-op threads");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the supernet, the subnets and the first stand-alone run");

namespace nas {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What a worker's estimate does: extract, recalibrate batch norm on `recal` batches of 128
// training images, validation accuracy on the first `examples` held-out images. The seconds
// all of them took go to *seconds.
std::vector<double> Estimates(Supernet& supernet, const std::vector<nas::v1::Architecture>& subnets,
                              const TensorData& data, int64_t examples, int recal, uint64_t seed,
                              double* seconds) {
  examples = std::min<int64_t>(examples, data.val_images.size(0));
  std::vector<double> out;
  const auto t0 = std::chrono::steady_clock::now();
  for (const nas::v1::Architecture& subnet : subnets) {
    Network net = *ExtractSubnet(supernet, subnet);
    RecalibrateBatchNorm(net, data.train_images, recal, 128, seed);
    out.push_back(Evaluate(net, data.val_images.narrow(0, 0, examples),
                           data.val_labels.narrow(0, 0, examples)));
  }
  *seconds = SecondsSince(t0);
  return out;
}

struct CheaperEstimate {
  int examples = 0;
  int recal = 0;
};

int Run() {
  torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  nas::v1::SearchSpace request;
  if (!google::protobuf::TextFormat::ParseFromString(absl::GetFlag(FLAGS_space_spec), &request)) {
    std::cerr << "--space_spec: not a SearchSpace text proto\n";
    return 2;
  }
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(request);
  absl::StatusOr<ImageDataset> dataset = LoadDataset(FashionMnist());
  if (!space.ok() || !dataset.ok()) {
    std::cerr << (space.ok() ? dataset.status() : space.status()) << "\n";
    return 1;
  }
  const TensorData data = MakeTensorData(*dataset, SplitTrainValidation(*dataset, 2000, 1));
  NetworkOptions options;
  options.mean = dataset->mean;
  options.stddev = dataset->stddev;
  const uint64_t seed = absl::GetFlag(FLAGS_seed);

  nas::v1::TrainingRecipe supernet_recipe;
  supernet_recipe.set_batch_size(64);
  supernet_recipe.set_train_subset(absl::GetFlag(FLAGS_supernet_subset));
  supernet_recipe.set_seed(seed);
  SupernetTrainer::Options supernet_options;
  supernet_options.epochs = absl::GetFlag(FLAGS_epochs);
  supernet_options.random_subnets = absl::GetFlag(FLAGS_random_subnets);
  absl::StatusOr<std::unique_ptr<SupernetTrainer>> trainer =
      SupernetTrainer::Create(*space, options, supernet_recipe, supernet_options);
  if (!trainer.ok()) {
    std::cerr << trainer.status() << "\n";
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int e = 1; e <= supernet_options.epochs; ++e) {
    absl::StatusOr<TrainResult> r = (*trainer)->TrainEpoch(data, nullptr);
    if (!r.ok()) {
      std::cerr << r.status() << "\n";
      return 1;
    }
    std::cerr << "supernet epoch " << e << ": loss " << r->final_loss << ", " << r->seconds
              << " s\n";
  }
  const double supernet_seconds = SecondsSince(t0);

  std::mt19937_64 rng(seed);
  std::vector<nas::v1::Architecture> subnets;
  for (int i = 0; i < absl::GetFlag(FLAGS_subnets); ++i) {
    subnets.push_back(SampleArchitecture(*space, rng));
  }
  double estimate_seconds = 0;
  const std::vector<double> estimate =
      Estimates((*trainer)->supernet(), subnets, data, data.val_images.size(0),
                absl::GetFlag(FLAGS_recal_batches), seed, &estimate_seconds);
  std::vector<CheaperEstimate> cheaper;
  for (absl::string_view item :
       absl::StrSplit(absl::GetFlag(FLAGS_cheaper_estimates), ',', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> parts = absl::StrSplit(item, 'x');
    CheaperEstimate c;
    if (!absl::SimpleAtoi(parts.first, &c.examples) || !absl::SimpleAtoi(parts.second, &c.recal) ||
        c.examples < 1 || c.recal < 1) {
      std::cerr << "--cheaper_estimates: '" << item << "' is not VALxRECAL\n";
      return 2;
    }
    cheaper.push_back(c);
  }
  std::vector<std::vector<double>> cheaper_estimates(cheaper.size());
  std::vector<double> cheaper_seconds(cheaper.size());
  for (size_t v = 0; v < cheaper.size(); ++v) {
    cheaper_estimates[v] = Estimates((*trainer)->supernet(), subnets, data, cheaper[v].examples,
                                     cheaper[v].recal, seed, &cheaper_seconds[v]);
  }
  std::vector<double> inherited, macs;
  for (const nas::v1::Architecture& subnet : subnets) {
    Network net = *ExtractSubnet((*trainer)->supernet(), subnet);
    inherited.push_back(Evaluate(net, data.val_images, data.val_labels));
    macs.push_back(static_cast<double>(net->macs()));
  }

  std::vector<std::vector<double>> standalone(2);
  double standalone_seconds = 0;
  const bool stand_alone = absl::GetFlag(FLAGS_standalone_epochs) > 0;
  for (int run = 0; run < 2 && stand_alone; ++run) {
    nas::v1::TrainingRecipe recipe;
    recipe.set_epochs(absl::GetFlag(FLAGS_standalone_epochs));
    recipe.set_batch_size(64);
    recipe.set_train_subset(absl::GetFlag(FLAGS_standalone_subset));
    recipe.set_seed(seed + 1000 * run);
    for (size_t i = 0; i < subnets.size(); ++i) {
      torch::manual_seed(recipe.seed());
      Network net = *BuildNetwork(subnets[i], options);
      absl::StatusOr<TrainResult> r = Train(net, data, recipe, nas::v1::Fidelity(), nullptr);
      if (!r.ok()) {
        std::cerr << r.status() << "\n";
        return 1;
      }
      if (run == 0) standalone_seconds += r->seconds;
      standalone[run].push_back(Evaluate(net, data.val_images, data.val_labels));
      std::cerr << "subnet " << i << ": estimate " << estimate[i] << ", without recalibration "
                << inherited[i] << ", stand-alone " << standalone[run].back() << " (seed "
                << recipe.seed() << ")\n";
    }
  }

  const double n = static_cast<double>(subnets.size());
  std::cout << absl::StrFormat(
      "| supernet: %d epochs of %d examples | %.0f s |\n", supernet_options.epochs,
      static_cast<int>(TrainingExamples(data.train_images.size(0), supernet_recipe, {})),
      supernet_seconds);
  if (stand_alone) {
    std::cout << absl::StrFormat(
        "| %d subnets trained stand-alone (%d epochs of %d examples) | %.0f s, %.1f s each |\n",
        static_cast<int>(n), absl::GetFlag(FLAGS_standalone_epochs),
        absl::GetFlag(FLAGS_standalone_subset), standalone_seconds, standalone_seconds / n);
  }
  std::cout << absl::StrFormat(
      "| supernet estimates (BN recalibration on %d x 128 images) | %.1f s, %.0f subnets per "
      "minute |\n\n",
      absl::GetFlag(FLAGS_recal_batches), estimate_seconds, 60 * n / estimate_seconds);
  if (!cheaper.empty()) {
    std::cout << absl::StrFormat(
        "| estimate (validation images x recalibration batches of 128) | seconds per subnet "
        "| subnets per minute | Kendall tau against the full estimate | against stand-alone "
        "|\n|---|---|---|---|---|\n| %d x %d (full) | %.2f | %.0f | 1 | %s |\n",
        static_cast<int>(data.val_images.size(0)), absl::GetFlag(FLAGS_recal_batches),
        estimate_seconds / n, 60 * n / estimate_seconds,
        stand_alone ? absl::StrFormat("%.3f", KendallTau(estimate, standalone[0])) : "");
    for (size_t v = 0; v < cheaper.size(); ++v) {
      std::cout << absl::StrFormat(
          "| %d x %d | %.2f | %.0f | %.3f | %s |\n", cheaper[v].examples, cheaper[v].recal,
          cheaper_seconds[v] / n, 60 * n / cheaper_seconds[v],
          KendallTau(cheaper_estimates[v], estimate),
          stand_alone ? absl::StrFormat("%.3f", KendallTau(cheaper_estimates[v], standalone[0]))
                      : "");
    }
    std::cout << "\n";
  }
  if (!stand_alone) return 0;
  std::cout << "| estimator | Kendall tau against stand-alone accuracy | mean accuracy |\n";
  std::cout << "|---|---|---|\n";
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  std::cout << absl::StrFormat("| supernet, BN recalibrated | %.3f | %.4f |\n",
                               KendallTau(estimate, standalone[0]), mean(estimate));
  std::cout << absl::StrFormat("| supernet, inherited BN statistics | %.3f | %.4f |\n",
                               KendallTau(inherited, standalone[0]), mean(inherited));
  std::cout << absl::StrFormat("| MACs | %.3f | |\n", KendallTau(macs, standalone[0]));
  std::cout << absl::StrFormat("| stand-alone, another seed | %.3f | %.4f |\n",
                               KendallTau(standalone[1], standalone[0]), mean(standalone[1]));
  return 0;
}

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return nas::Run();
}
