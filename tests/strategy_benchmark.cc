// Search strategies on the real task: random search, regularized evolution and NSGA-II, each
// searching the MobileNetV2 space on Fashion-MNIST with real nas-trainer workers (trained and
// measured by LibTorch, two worker threads) through a real controller and PostgreSQL, with the
// same budget and seeds. Objectives: validation accuracy and latency on the rpi4-cortex-a72
// profile (a roofline model, so latencies do not depend on what else this machine runs).
//
//   strategy_benchmark --seeds=2 --candidates=16 --population=6
//
// For each run it orders the results by completion and prints the hypervolume of the front
// after each quarter of the smallest total trainer-seconds among all runs ("at the same
// trainer-seconds"), reference point (accuracy 0, 2 ms). See docs/benchmarks.md.
#include <algorithm>
#include <iostream>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "search/hardware_profile.h"
#include "search/hypervolume.h"
#include "tests/controller_harness.h"
#include "trainer/worker.h"

ABSL_FLAG(int, seeds, 3, "Seeds 1..N per strategy");
ABSL_FLAG(int, candidates, 32, "Candidates per search");
ABSL_FLAG(int, population, 8, "Population of evolution and NSGA-II");
ABSL_FLAG(int, train_subset, 1000, "Training examples per candidate (one epoch)");
ABSL_FLAG(int, validation_examples, 2000, "Held-out training examples each candidate is scored on");

namespace nas {
namespace {

struct Point {
  double train_seconds;  // cumulative, in completion order
  double accuracy;
  double latency_ms;
};

std::vector<Point> RunSearch(ControllerHarness& h, const std::string& token,
                             const std::string& strategy, uint64_t seed) {
  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  spec->set_display_name(absl::StrCat(strategy, "-", seed));
  spec->mutable_space()->set_name("mobilenetv2");
  spec->mutable_strategy()->set_name(strategy);
  spec->mutable_strategy()->set_seed(seed);
  if (strategy != "random") {
    (*spec->mutable_strategy()->mutable_settings())["population"] =
        absl::StrCat(absl::GetFlag(FLAGS_population));
  }
  spec->add_profile_ids("rpi4-cortex-a72");
  spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  spec->mutable_budget()->set_max_candidates(absl::GetFlag(FLAGS_candidates));
  spec->mutable_budget()->set_max_parallel(2);
  spec->mutable_recipe()->set_epochs(1);
  spec->mutable_recipe()->set_batch_size(64);
  spec->mutable_recipe()->set_train_subset(absl::GetFlag(FLAGS_train_subset));
  spec->mutable_recipe()->set_seed(seed);
  nas::v1::Search search;
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    grpc::Status st = h.Nas()->SubmitSearch(&ctx, req, &search);
    if (!st.ok()) {
      std::cerr << "submit: " << st.error_message() << "\n";
      return {};
    }
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&] {
      WorkerOptions o;
      o.controller = absl::StrCat("127.0.0.1:", h.port());
      o.worker_token = kTestWorkerToken;
      o.lease_wait = absl::Seconds(1);
      o.validation_examples = absl::GetFlag(FLAGS_validation_examples);
      absl::Status st = Worker(o).Run(&stop);
      if (!st.ok()) std::cerr << "worker: " << st << "\n";
    });
  }
  while (true) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetSearchRequest get;
    get.set_search_id(search.id());
    nas::v1::Search s;
    if (h.Nas()->GetSearch(&ctx, get, &s).ok() && s.state() != nas::v1::SEARCH_STATE_RUNNING) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  stop = true;
  for (auto& t : workers) t.join();

  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, token);
  nas::v1::ListCandidatesRequest list;
  list.set_search_id(search.id());
  list.set_limit(10000);
  nas::v1::ListCandidatesResponse resp;
  (void)h.Nas()->ListCandidates(&ctx, list, &resp);
  std::vector<nas::v1::Candidate> done;
  for (const auto& c : resp.candidates()) {
    if (c.state() == nas::v1::CANDIDATE_STATE_EVALUATED) done.push_back(c);
  }
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) {
    return a.evaluated_at() < b.evaluated_at();
  });
  std::vector<Point> points;
  double total = 0;
  for (const auto& c : done) {
    total += c.metrics().train_seconds();
    points.push_back({total, c.metrics().val_accuracy(), c.profile_metrics(0).latency_ms()});
  }
  return points;
}

double HypervolumeUntil(const std::vector<Point>& points, double seconds) {
  std::vector<std::vector<double>> front;
  for (const Point& p : points) {
    if (p.train_seconds <= seconds) front.push_back({-p.accuracy, p.latency_ms});
  }
  return *Hypervolume(front, {0, 2.0});
}

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto harness = nas::ControllerHarness::Create();
  if (!harness.ok()) {
    std::cerr << harness.status() << "\n";
    return 1;
  }
  const std::string token = (*harness)->NewUserToken("bench");
  const std::vector<std::string> strategies = {"random", "evolution", "nsga2"};
  std::map<std::string, std::vector<std::vector<nas::Point>>> runs;
  double budget = 1e300;
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds); ++seed) {
    for (const std::string& s : strategies) {
      std::vector<nas::Point> points = nas::RunSearch(**harness, token, s, seed);
      if (points.empty()) return 1;
      budget = std::min(budget, points.back().train_seconds);
      std::cerr << s << " seed " << seed << ": " << points.size() << " results, "
                << points.back().train_seconds << " trainer-seconds\n";
      runs[s].push_back(std::move(points));
    }
  }
  std::cout << absl::StrFormat(
      "| strategy | hypervolume at 25%% | 50%% | 75%% | 100%% of %.0f trainer-seconds (mean +- sd over %d seeds) |\n",
      budget, absl::GetFlag(FLAGS_seeds));
  std::cout << "|---|---|---|---|---|\n";
  for (const std::string& s : strategies) {
    std::cout << "| " << s;
    for (double f : {0.25, 0.5, 0.75, 1.0}) {
      double sum = 0, sumsq = 0;
      for (const auto& points : runs[s]) {
        const double hv = nas::HypervolumeUntil(points, f * budget);
        sum += hv;
        sumsq += hv * hv;
      }
      const double n = static_cast<double>(runs[s].size());
      const double mean = sum / n;
      std::cout << absl::StrFormat(" | %.4f +- %.4f", mean,
                                   std::sqrt(std::max(0.0, sumsq / n - mean * mean)));
    }
    std::cout << " |\n";
  }
  return 0;
}
