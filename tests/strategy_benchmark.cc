// Search strategies on the real task: random search, regularized evolution and NSGA-II, each
// with and without successive halving, searching the MobileNetV2 space on Fashion-MNIST with
// real nas-trainer workers (trained and measured by LibTorch, two worker threads) through a
// real controller and PostgreSQL, with the same seeds and the same wall-clock budget on the
// same two workers (so the same worker-seconds, every overhead included). Objectives:
// validation accuracy and latency on the rpi4-cortex-a72 profile (a roofline model, so
// latencies do not depend on what else this machine runs), under a latency constraint
// (--max_latency_ms, 0 for none): the user wants a model that runs within it.
//
//   strategy_benchmark --seeds=4 --seconds=150   # about an hour
//   strategy_benchmark --strategies=random,evolution,evolution:tie_break=crowding
//
// A strategy may carry settings after a colon, `name:key=value;key=value`. For each run it
// prints the hypervolume of the front of finished models (full-recipe results; lower rungs
// only rank) after each quarter of the budget, reference point (accuracy 0, the latency bound),
// as mean +- standard deviation over the seeds, and each configuration's difference from the
// first, paired by seed. See docs/benchmarks.md.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "search/hypervolume.h"
#include "tests/controller_harness.h"
#include "trainer/worker.h"

ABSL_FLAG(int, seeds, 4, "Seeds 1..N per configuration");
ABSL_FLAG(int, seconds, 150, "Wall-clock budget of each search, seconds (two workers)");
ABSL_FLAG(int, population, 8, "Population of evolution and NSGA-II");
ABSL_FLAG(int, train_subset, 2000, "Training examples of the full recipe (one epoch)");
ABSL_FLAG(int, validation_examples, 2000, "Held-out training examples each candidate is scored on");
ABSL_FLAG(int, rungs, 3, "Successive-halving rungs of the multi-fidelity configurations");
ABSL_FLAG(int, eta, 3, "Successive halving's reduction factor");
ABSL_FLAG(std::string, strategies, "random,evolution,nsga2", "Strategies to compare");
ABSL_FLAG(double, max_latency_ms, 2.0,
          "Latency constraint on the profile, ms; also the hypervolume's reference (0: none, "
          "reference 2 ms)");
ABSL_FLAG(std::string, multi_fidelity, "both",
          "Each strategy without successive halving (off), with it (on), or both");

namespace nas {
namespace {

struct Point {
  double seconds;  // since submission
  double accuracy;
  double latency_ms;
};

struct Run {
  std::vector<Point> finished;  // full-recipe results, in completion order
  int evaluations = 0;          // at every rung
};

double LatencyBound() {
  const double bound = absl::GetFlag(FLAGS_max_latency_ms);
  return bound > 0 ? bound : 2.0;
}

// `strategy` is a name, optionally followed by ":key=value;key=value" settings.
Run RunSearch(ControllerHarness& h, const std::string& token, const std::string& strategy,
              bool multi_fidelity, uint64_t seed) {
  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  spec->set_display_name(absl::StrCat(strategy, multi_fidelity ? "+sh-" : "-", seed));
  spec->mutable_space()->set_name("mobilenetv2");
  const std::pair<std::string, std::string> name_settings = absl::StrSplit(strategy, ':');
  spec->mutable_strategy()->set_name(name_settings.first);
  spec->mutable_strategy()->set_seed(seed);
  auto& settings = *spec->mutable_strategy()->mutable_settings();
  if (name_settings.first != "random") {
    settings["population"] = absl::StrCat(absl::GetFlag(FLAGS_population));
  }
  for (absl::string_view kv : absl::StrSplit(name_settings.second, ';', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> setting = absl::StrSplit(kv, '=');
    settings[setting.first] = setting.second;
  }
  spec->add_profile_ids("rpi4-cortex-a72");
  spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  if (absl::GetFlag(FLAGS_max_latency_ms) > 0) {
    nas::v1::Constraint* c = spec->add_constraints();
    c->set_metric(nas::v1::METRIC_LATENCY);
    c->set_bound(absl::GetFlag(FLAGS_max_latency_ms));
  }
  spec->mutable_budget()->set_max_candidates(100000);  // the clock ends the search
  spec->mutable_budget()->set_max_parallel(2);
  spec->mutable_budget()->set_max_wall_seconds(absl::GetFlag(FLAGS_seconds));
  spec->mutable_recipe()->set_epochs(1);
  spec->mutable_recipe()->set_batch_size(64);
  spec->mutable_recipe()->set_train_subset(absl::GetFlag(FLAGS_train_subset));
  spec->mutable_recipe()->set_seed(seed);
  if (multi_fidelity) {
    spec->mutable_multi_fidelity()->set_rungs(absl::GetFlag(FLAGS_rungs));
    spec->mutable_multi_fidelity()->set_eta(absl::GetFlag(FLAGS_eta));
  }
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
  while (true) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetSearchRequest get;
    get.set_search_id(search.id());
    nas::v1::Search s;
    if (h.Nas()->GetSearch(&ctx, get, &s).ok() && s.state() != nas::v1::SEARCH_STATE_RUNNING) break;
    absl::SleepFor(absl::Milliseconds(500));
  }

  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, token);
  nas::v1::ListCandidatesRequest list;
  list.set_search_id(search.id());
  list.set_limit(10000);
  nas::v1::ListCandidatesResponse resp;
  (void)h.Nas()->ListCandidates(&ctx, list, &resp);
  absl::Time start;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, search.created_at(), &start, &error)) {
    std::cerr << "created_at: " << error << "\n";
    return {};
  }
  const int final_rung = multi_fidelity ? absl::GetFlag(FLAGS_rungs) - 1 : 0;
  Run run;
  for (const auto& c : resp.candidates()) {
    if (c.state() != nas::v1::CANDIDATE_STATE_EVALUATED) continue;
    ++run.evaluations;
    absl::Time at;
    if (c.fidelity().rung() != final_rung ||
        !absl::ParseTime(absl::RFC3339_full, c.evaluated_at(), &at, &error)) {
      continue;
    }
    run.finished.push_back({absl::ToDoubleSeconds(at - start), c.metrics().val_accuracy(),
                            c.profile_metrics(0).latency_ms()});
  }
  return run;
}

double HypervolumeUntil(const std::vector<Point>& points, double seconds) {
  std::vector<std::vector<double>> front;
  for (const Point& p : points) {
    if (p.seconds <= seconds) front.push_back({-p.accuracy, p.latency_ms});
  }
  return *Hypervolume(front, {0, LatencyBound()});
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
  nas::ControllerHarness& h = **harness;
  const std::string token = h.NewUserToken("bench");
  // Two workers serve every search in turn; a search's leases die with it.
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&] {
      nas::WorkerOptions o;
      o.controller = absl::StrCat("127.0.0.1:", h.port());
      o.worker_token = nas::kTestWorkerToken;
      o.lease_wait = absl::Seconds(1);
      o.validation_examples = absl::GetFlag(FLAGS_validation_examples);
      absl::Status st = nas::Worker(o).Run(&stop);
      if (!st.ok()) std::cerr << "worker: " << st << "\n";
    });
  }
  absl::SleepFor(absl::Seconds(5));  // datasets loaded, workers polling

  std::vector<std::pair<std::string, bool>> configs;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_strategies), ',')) {
    const std::string mode = absl::GetFlag(FLAGS_multi_fidelity);
    if (mode != "on") configs.push_back({std::string(s), false});
    if (mode != "off") configs.push_back({std::string(s), true});
  }
  auto label = [](const std::pair<std::string, bool>& c) {
    return c.second ? absl::StrCat(c.first, " + successive halving") : c.first;
  };
  const double budget = absl::GetFlag(FLAGS_seconds);
  std::map<std::string, std::vector<nas::Run>> runs;
  int status = 0;
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds) && status == 0; ++seed) {
    for (const auto& config : configs) {
      nas::Run run = nas::RunSearch(h, token, config.first, config.second, seed);
      if (run.evaluations == 0) {
        status = 1;
        break;
      }
      std::cerr << label(config) << ", seed " << seed << ": " << run.evaluations
                << " evaluations, " << run.finished.size() << " finished models, hypervolume "
                << nas::HypervolumeUntil(run.finished, budget) << "\n";
      runs[label(config)].push_back(std::move(run));
    }
  }
  stop = true;
  for (auto& t : workers) t.join();
  if (status != 0) return status;

  std::cout << absl::StrFormat(
      "| configuration | evaluations | finished models | hypervolume at 25%% | 50%% | 75%% | "
      "100%% of %.0f s (mean +- sd over %d seeds) | difference from %s at 100%%, paired by "
      "seed (mean +- sd, seeds won) |\n",
      budget, absl::GetFlag(FLAGS_seeds), label(configs[0]));
  std::cout << "|---|---|---|---|---|---|---|---|\n";
  auto mean_sd = [](const std::vector<double>& v) {
    double sum = 0, sumsq = 0;
    for (double x : v) {
      sum += x;
      sumsq += x * x;
    }
    const double n = static_cast<double>(v.size());
    const double mean = sum / n;
    return std::make_pair(mean, std::sqrt(std::max(0.0, sumsq / n - mean * mean)));
  };
  for (const auto& config : configs) {
    const std::vector<nas::Run>& r = runs[label(config)];
    std::vector<double> evaluations, finished;
    for (const nas::Run& run : r) {
      evaluations.push_back(run.evaluations);
      finished.push_back(run.finished.size());
    }
    std::cout << "| " << label(config)
              << absl::StrFormat(" | %.1f | %.1f", mean_sd(evaluations).first,
                                 mean_sd(finished).first);
    for (double f : {0.25, 0.5, 0.75, 1.0}) {
      std::vector<double> hv;
      for (const nas::Run& run : r) hv.push_back(nas::HypervolumeUntil(run.finished, f * budget));
      const auto [mean, sd] = mean_sd(hv);
      std::cout << absl::StrFormat(" | %.4f +- %.4f", mean, sd);
    }
    std::vector<double> difference;
    int won = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      difference.push_back(nas::HypervolumeUntil(r[i].finished, budget) -
                           nas::HypervolumeUntil(runs[label(configs[0])][i].finished, budget));
      won += difference.back() > 0;
    }
    const auto [mean, sd] = mean_sd(difference);
    std::cout << absl::StrFormat(" | %+.4f +- %.4f, %d of %d |\n", mean, sd, won,
                                 static_cast<int>(r.size()));
  }
  return 0;
}
