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
//   strategy_benchmark --strategies=evolution,weight_sharing --reuse_profiles=jetson-nano:2
//   strategy_benchmark --strategies=weight_sharing --reuse_profiles=cortex-m7:10
//       --reuse_against=evolution+sh   # a new profile against a from-scratch search on it
//
// A strategy may carry settings after a colon, `name:key=value;key=value`, and end in `+sh` to
// run with successive halving whatever --multi_fidelity says (`random,evolution+sh`). For each run
// it prints the hypervolume of the front of finished models (full-recipe results; lower rungs and
// supernet estimates only rank) after each quarter of the budget, reference point (accuracy 0, the
// latency bound), as mean +- standard deviation over the seeds; each configuration's difference
// from the first, paired by seed; and when each reached the first's final hypervolume. The cost
// measure is worker-seconds: the two workers' wall clock, everything included (a weight-sharing
// search's supernet epochs, during which one worker trains and the other waits). After each
// weight-sharing search, --reuse_profiles starts one search per profile on its trained supernet
// (`supernet_search`) and prints what a new profile costs; --reuse_against then runs a from-scratch
// search on each such profile and prints the worker-seconds each took to reach the smaller of the
// two fronts. For the weight-sharing searches it also prints how long estimate leases were held and
// how long a worker went between one and its next (what leasing estimates in batches could save).
// See docs/benchmarks.md and docs/weight_sharing.md.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "search/hypervolume.h"
#include "tests/controller_harness.h"
#include "trainer/worker.h"

ABSL_FLAG(int, seeds, 4, "Seeds 1..N per configuration");
ABSL_FLAG(int, seconds, 150, "Wall-clock budget of each search, seconds (two workers)");
ABSL_FLAG(int, population, 8, "Population of evolution and NSGA-II");
ABSL_FLAG(int, train_subset, 2000, "Training examples of the full recipe");
ABSL_FLAG(int, epochs, 1, "Epochs of the full recipe");
ABSL_FLAG(int, validation_examples, 2000, "Held-out training examples each candidate is scored on");
ABSL_FLAG(int, rungs, 3, "Successive-halving rungs of the multi-fidelity configurations");
ABSL_FLAG(int, eta, 3, "Successive halving's reduction factor");
ABSL_FLAG(std::string, strategies, "random,evolution,nsga2",
          "Strategies to compare; one ending in +sh runs with successive halving only");
ABSL_FLAG(double, max_latency_ms, 2.0,
          "Latency constraint on the profile, ms; also the hypervolume's reference (0: none, "
          "reference 2 ms)");
ABSL_FLAG(std::string, multi_fidelity, "both",
          "Each strategy without successive halving (off), with it (on), or both; "
          "weight_sharing runs without (it has its own rungs)");
ABSL_FLAG(std::string, reuse_profiles, "",
          "After each weight_sharing search, one search per PROFILE:BOUND_MS on its supernet "
          "(latency constraint and hypervolume reference BOUND_MS)");
ABSL_FLAG(int, reuse_candidates, 40, "Subnets each reuse search estimates (a tenth fine-tuned)");
ABSL_FLAG(std::string, reuse_against, "",
          "After the reuse searches of a seed, a from-scratch search with this strategy (a "
          "trailing +sh: with successive halving) on each reuse profile, same seed and "
          "--seconds, compared with the reuse search");
ABSL_FLAG(int, reuse_against_seconds, 0,
          "Wall-clock budget of the --reuse_against searches, seconds (0: --seconds)");

namespace nas {
namespace {

constexpr char kProfile[] = "rpi4-cortex-a72";
constexpr int kWorkers = 2;

struct Point {
  double seconds;  // since submission
  double accuracy;
  double latency_ms;
};

struct Run {
  int64_t search_id = 0;
  std::vector<Point> finished;  // full-recipe results, in completion order
  int evaluations = 0;          // at every rung (supernet estimates too)
  int supernet_epochs = 0;      // trained by this search
  double wall_seconds = 0;      // submission to the search's end
};

// One search of the benchmark: what it searches for and what it may spend.
struct SearchArgs {
  std::string strategy;  // a name, optionally followed by ":key=value;key=value" settings
  bool multi_fidelity = false;
  uint64_t seed = 1;
  std::string profile = kProfile;
  double bound_ms = 0;  // latency constraint, 0 for none
  int max_wall_seconds = 0;
  int max_candidates = 100000;  // by default the clock ends the search
};

bool IsWeightSharingName(const std::string& strategy) {
  return absl::StartsWith(strategy, "weight_sharing");
}

double Reference(double bound_ms) { return bound_ms > 0 ? bound_ms : 2.0; }

std::string Label(const std::string& strategy, bool multi_fidelity) {
  return multi_fidelity ? absl::StrCat(strategy, " + successive halving") : strategy;
}

absl::StatusOr<double> SecondsSince(const std::string& from, const std::string& to) {
  absl::Time a, b;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, from, &a, &error) ||
      !absl::ParseTime(absl::RFC3339_full, to, &b, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("timestamp: ", error));
  }
  return absl::ToDoubleSeconds(b - a);
}

absl::StatusOr<Run> RunSearch(ControllerHarness& h, const std::string& token,
                              const SearchArgs& args) {
  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  spec->set_display_name(absl::StrCat(args.strategy, args.multi_fidelity ? "+sh-" : "-",
                                      args.profile, "-", args.seed));
  spec->mutable_space()->set_name("mobilenetv2");
  const std::pair<std::string, std::string> name_settings = absl::StrSplit(args.strategy, ':');
  spec->mutable_strategy()->set_name(name_settings.first);
  spec->mutable_strategy()->set_seed(args.seed);
  auto& settings = *spec->mutable_strategy()->mutable_settings();
  if (name_settings.first != "random") {
    settings["population"] = absl::StrCat(absl::GetFlag(FLAGS_population));
  }
  for (absl::string_view kv : absl::StrSplit(name_settings.second, ';', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> setting = absl::StrSplit(kv, '=');
    settings[setting.first] = setting.second;
  }
  spec->add_profile_ids(args.profile);
  spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  if (args.bound_ms > 0) {
    nas::v1::Constraint* c = spec->add_constraints();
    c->set_metric(nas::v1::METRIC_LATENCY);
    c->set_bound(args.bound_ms);
  }
  spec->mutable_budget()->set_max_candidates(args.max_candidates);
  spec->mutable_budget()->set_max_parallel(kWorkers);
  spec->mutable_budget()->set_max_wall_seconds(args.max_wall_seconds);
  spec->mutable_recipe()->set_epochs(absl::GetFlag(FLAGS_epochs));
  spec->mutable_recipe()->set_batch_size(64);
  spec->mutable_recipe()->set_train_subset(absl::GetFlag(FLAGS_train_subset));
  spec->mutable_recipe()->set_seed(args.seed);
  spec->mutable_recipe()->set_validation_examples(absl::GetFlag(FLAGS_validation_examples));
  if (args.multi_fidelity) {
    spec->mutable_multi_fidelity()->set_rungs(absl::GetFlag(FLAGS_rungs));
    spec->mutable_multi_fidelity()->set_eta(absl::GetFlag(FLAGS_eta));
  }
  nas::v1::Search search;
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    grpc::Status st = h.Nas()->SubmitSearch(&ctx, req, &search);
    if (!st.ok()) return absl::InternalError(absl::StrCat("submit: ", st.error_message()));
  }
  nas::v1::Search done;
  while (true) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetSearchRequest get;
    get.set_search_id(search.id());
    if (h.Nas()->GetSearch(&ctx, get, &done).ok() &&
        done.state() != nas::v1::SEARCH_STATE_RUNNING) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }

  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, token);
  nas::v1::ListCandidatesRequest list;
  list.set_search_id(search.id());
  list.set_limit(10000);
  nas::v1::ListCandidatesResponse resp;
  grpc::Status st = h.Nas()->ListCandidates(&ctx, list, &resp);
  if (!st.ok()) return absl::InternalError(absl::StrCat("candidates: ", st.error_message()));
  Run run;
  run.search_id = search.id();
  NAS_ASSIGN_OR_RETURN(run.wall_seconds, SecondsSince(search.created_at(), done.updated_at()));
  // Finished models: the last successive-halving rung, or a weight-sharing search's fine-tunes.
  const int final_rung = IsWeightSharingName(args.strategy) ? 1
                         : args.multi_fidelity              ? absl::GetFlag(FLAGS_rungs) - 1
                                                            : 0;
  for (const auto& c : resp.candidates()) {
    if (c.state() != nas::v1::CANDIDATE_STATE_EVALUATED) continue;
    if (c.fidelity().rung() < 0) {
      ++run.supernet_epochs;
      continue;
    }
    ++run.evaluations;
    if (c.fidelity().rung() != final_rung) continue;
    NAS_ASSIGN_OR_RETURN(double at, SecondsSince(search.created_at(), c.evaluated_at()));
    run.finished.push_back({at, c.metrics().val_accuracy(), c.profile_metrics(0).latency_ms()});
  }
  std::sort(run.finished.begin(), run.finished.end(),
            [](const Point& a, const Point& b) { return a.seconds < b.seconds; });
  return run;
}

double HypervolumeUntil(const std::vector<Point>& points, double seconds, double bound_ms) {
  std::vector<std::vector<double>> front;
  for (const Point& p : points) {
    if (p.seconds <= seconds) front.push_back({-p.accuracy, p.latency_ms});
  }
  return *Hypervolume(front, {0, Reference(bound_ms)});
}

// The first moment `points` reach hypervolume `target`; nullopt if they never do.
std::optional<double> SecondsToReach(const std::vector<Point>& points, double target,
                                     double bound_ms) {
  for (const Point& p : points) {  // in completion order
    if (HypervolumeUntil(points, p.seconds, bound_ms) >= target) return p.seconds;
  }
  return std::nullopt;
}

std::pair<double, double> MeanSd(const std::vector<double>& v) {
  if (v.empty()) return {0, 0};
  double sum = 0, sumsq = 0;
  for (double x : v) {
    sum += x;
    sumsq += x * x;
  }
  const double n = static_cast<double>(v.size());
  const double mean = sum / n;
  return {mean, std::sqrt(std::max(0.0, sumsq / n - mean * mean))};
}

// A new profile on a trained supernet: "name:bound_ms".
struct ReuseProfile {
  std::string name;
  double bound_ms = 0;
};

absl::StatusOr<std::vector<ReuseProfile>> ParseReuseProfiles(absl::string_view flag) {
  std::vector<ReuseProfile> out;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> name_bound = absl::StrSplit(item, ':');
    ReuseProfile p{name_bound.first, 0};
    if (!absl::SimpleAtod(name_bound.second, &p.bound_ms) || p.bound_ms <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--reuse_profiles: '", item, "' is not PROFILE:BOUND_MS"));
    }
    out.push_back(p);
  }
  return out;
}

struct ReuseResult {
  std::string profile;
  double bound_ms;
  int seed;
  Run run;
  std::optional<Run> scratch;  // --reuse_against on the same profile and seed
};

// How a weight-sharing search's estimate leases spent their time, from the store's leases
// table: what leasing several subnets at once could save is at most the gap between one
// lease's end and the same worker's next estimate lease.
struct LeaseTiming {
  int estimates = 0;
  double held_seconds = 0;  // summed, grant to report
  int gaps = 0;
  double gap_seconds = 0;  // summed, a worker's report to its next estimate lease's grant
};

absl::StatusOr<LeaseTiming> EstimateLeaseTiming(const std::string& database_url,
                                                int64_t search_id) {
  try {
    pqxx::connection c(database_url);
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec_params(
        "SELECT l.worker_id, c.rung, extract(epoch FROM l.granted_at)::FLOAT8, "
        "  extract(epoch FROM l.ended_at)::FLOAT8 "
        "FROM leases l JOIN candidates c ON c.id = l.candidate_id "
        "WHERE l.search_id = $1 AND l.state = 'COMPLETED' ORDER BY l.worker_id, l.granted_at",
        search_id);
    LeaseTiming t;
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i][1].as<int>() != 0) continue;  // rung 0: estimates
      ++t.estimates;
      t.held_seconds += r[i][3].as<double>() - r[i][2].as<double>();
      if (i + 1 < r.size() && r[i + 1][0].as<int64_t>() == r[i][0].as<int64_t>() &&
          r[i + 1][1].as<int>() == 0) {
        ++t.gaps;
        t.gap_seconds += r[i + 1][2].as<double>() - r[i][3].as<double>();
      }
    }
    return t;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("lease timing: ", e.what()));
  }
}

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<nas::ReuseProfile>> reuse =
      nas::ParseReuseProfiles(absl::GetFlag(FLAGS_reuse_profiles));
  if (!reuse.ok()) {
    std::cerr << reuse.status() << "\n";
    return 2;
  }
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
  for (int w = 0; w < nas::kWorkers; ++w) {
    workers.emplace_back([&] {
      nas::WorkerOptions o;
      o.controller = absl::StrCat("127.0.0.1:", h.port());
      o.worker_token = nas::kTestWorkerToken;
      o.lease_wait = absl::Seconds(1);
      absl::Status st = nas::Worker(o).Run(&stop);
      if (!st.ok()) std::cerr << "worker: " << st << "\n";
    });
  }
  absl::SleepFor(absl::Seconds(5));  // datasets loaded, workers polling

  std::vector<std::pair<std::string, bool>> configs;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_strategies), ',')) {
    if (absl::ConsumeSuffix(&s, "+sh")) {  // this one with successive halving only
      configs.push_back({std::string(s), true});
      continue;
    }
    const std::string mode = absl::GetFlag(FLAGS_multi_fidelity);
    const bool weight_sharing = nas::IsWeightSharingName(std::string(s));
    if (mode != "on" || weight_sharing) configs.push_back({std::string(s), false});
    if (mode != "off" && !weight_sharing) configs.push_back({std::string(s), true});
  }
  const double budget = absl::GetFlag(FLAGS_seconds);
  const double bound = absl::GetFlag(FLAGS_max_latency_ms);
  absl::string_view against_flag = absl::GetFlag(FLAGS_reuse_against);
  const bool against_sh = absl::ConsumeSuffix(&against_flag, "+sh");
  const std::string against(against_flag);
  const double against_budget = absl::GetFlag(FLAGS_reuse_against_seconds) > 0
                                    ? absl::GetFlag(FLAGS_reuse_against_seconds)
                                    : budget;
  std::map<std::string, std::vector<nas::Run>> runs;
  std::vector<nas::ReuseResult> reused;
  std::vector<nas::LeaseTiming> timings;  // of every weight-sharing search
  absl::Status status;
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds) && status.ok(); ++seed) {
    for (const auto& [strategy, multi_fidelity] : configs) {
      nas::SearchArgs args;
      args.strategy = strategy;
      args.multi_fidelity = multi_fidelity;
      args.seed = seed;
      args.bound_ms = bound;
      args.max_wall_seconds = static_cast<int>(budget);
      absl::StatusOr<nas::Run> run = nas::RunSearch(h, token, args);
      if (run.ok() && run->evaluations == 0) {
        run = absl::InternalError(absl::StrCat(strategy, ": no evaluation in the budget"));
      }
      if (!run.ok()) {
        status = run.status();
        break;
      }
      const std::string label = nas::Label(strategy, multi_fidelity);
      std::cerr << label << ", seed " << seed << ": " << run->evaluations << " evaluations, "
                << run->supernet_epochs << " supernet epochs, " << run->finished.size()
                << " finished models, hypervolume "
                << nas::HypervolumeUntil(run->finished, budget, bound) << "\n";
      if (nas::IsWeightSharingName(strategy)) {
        for (const nas::ReuseProfile& p : *reuse) {
          nas::SearchArgs again;
          again.strategy = absl::StrCat(strategy, absl::StrContains(strategy, ':') ? ";" : ":",
                                        "supernet_search=", run->search_id);
          again.seed = seed;
          again.profile = p.name;
          again.bound_ms = p.bound_ms;
          again.max_candidates = absl::GetFlag(FLAGS_reuse_candidates);
          absl::StatusOr<nas::Run> r = nas::RunSearch(h, token, again);
          if (!r.ok()) {  // e.g. the budget ended before the supernet did
            std::cerr << "  " << p.name << " on its supernet: " << r.status() << "\n";
            continue;
          }
          std::cerr << "  " << p.name << " on its supernet: " << r->wall_seconds << " s, "
                    << r->finished.size() << " finished models, hypervolume "
                    << nas::HypervolumeUntil(r->finished, r->wall_seconds, p.bound_ms) << "\n";
          absl::StatusOr<nas::LeaseTiming> t =
              nas::EstimateLeaseTiming(h.database_url(), r->search_id);
          if (t.ok()) timings.push_back(*t);
          reused.push_back({p.name, p.bound_ms, seed, *std::move(r), std::nullopt});
        }
        for (nas::ReuseResult& r : reused) {
          if (r.seed != seed || against.empty()) continue;
          nas::SearchArgs scratch;
          scratch.strategy = against;
          scratch.multi_fidelity = against_sh;
          scratch.seed = seed;
          scratch.profile = r.profile;
          scratch.bound_ms = r.bound_ms;
          scratch.max_wall_seconds = static_cast<int>(against_budget);
          absl::StatusOr<nas::Run> s = nas::RunSearch(h, token, scratch);
          if (!s.ok()) {
            status = s.status();
            break;
          }
          std::cerr << "  " << r.profile << " from scratch (" << nas::Label(against, against_sh)
                    << "): " << s->finished.size() << " finished models, hypervolume "
                    << nas::HypervolumeUntil(s->finished, against_budget, r.bound_ms) << "\n";
          r.scratch = *std::move(s);
        }
        absl::StatusOr<nas::LeaseTiming> t =
            nas::EstimateLeaseTiming(h.database_url(), run->search_id);
        if (t.ok()) timings.push_back(*t);
      }
      runs[label].push_back(*std::move(run));
      if (!status.ok()) break;
    }
  }
  stop = true;
  for (auto& t : workers) t.join();
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }

  const std::string first = nas::Label(configs[0].first, configs[0].second);
  std::cout << absl::StrFormat(
      "Recipe: %d epoch(s) on %d examples; %d workers; latency bound %.1f ms on %s.\n\n",
      absl::GetFlag(FLAGS_epochs), absl::GetFlag(FLAGS_train_subset), nas::kWorkers, bound,
      nas::kProfile);
  std::cout << absl::StrFormat(
      "| configuration | evaluations | finished models | hypervolume at 25%% | 50%% | 75%% | "
      "100%% of %.0f s (mean +- sd over %d seeds) | difference from %s at 100%%, paired by "
      "seed (mean +- sd, seeds won) | worker-seconds to %s's final hypervolume (mean, seeds "
      "reaching it) |\n",
      budget, absl::GetFlag(FLAGS_seeds), first, first);
  std::cout << "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [strategy, multi_fidelity] : configs) {
    const std::vector<nas::Run>& r = runs[nas::Label(strategy, multi_fidelity)];
    const std::vector<nas::Run>& base = runs[first];
    std::vector<double> evaluations, finished;
    for (const nas::Run& run : r) {
      evaluations.push_back(run.evaluations);
      finished.push_back(run.finished.size());
    }
    std::cout << "| " << nas::Label(strategy, multi_fidelity)
              << absl::StrFormat(" | %.1f | %.1f", nas::MeanSd(evaluations).first,
                                 nas::MeanSd(finished).first);
    for (double f : {0.25, 0.5, 0.75, 1.0}) {
      std::vector<double> hv;
      for (const nas::Run& run : r) {
        hv.push_back(nas::HypervolumeUntil(run.finished, f * budget, bound));
      }
      const auto [mean, sd] = nas::MeanSd(hv);
      std::cout << absl::StrFormat(" | %.4f +- %.4f", mean, sd);
    }
    std::vector<double> difference, to_reach;
    int won = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      const double target = nas::HypervolumeUntil(base[i].finished, budget, bound);
      difference.push_back(nas::HypervolumeUntil(r[i].finished, budget, bound) - target);
      won += difference.back() > 0;
      if (std::optional<double> t = nas::SecondsToReach(r[i].finished, target, bound)) {
        to_reach.push_back(*t * nas::kWorkers);
      }
    }
    const auto [mean, sd] = nas::MeanSd(difference);
    std::cout << absl::StrFormat(" | %+.4f +- %.4f, %d of %d", mean, sd, won,
                                 static_cast<int>(r.size()));
    std::cout << (to_reach.empty()
                      ? std::string(" | never")
                      : absl::StrFormat(" | %.0f, %d of %d", nas::MeanSd(to_reach).first,
                                        static_cast<int>(to_reach.size()),
                                        static_cast<int>(r.size())))
              << " |\n";
  }
  if (!reused.empty()) {
    std::cout << absl::StrFormat(
        "\nA new profile on each trained supernet (%d subnets estimated, the best tenth "
        "fine-tuned):\n\n| profile (latency bound) | seed | wall seconds | worker-seconds | "
        "estimates | fine-tuned models | hypervolume |\n|---|---|---|---|---|---|---|\n",
        absl::GetFlag(FLAGS_reuse_candidates));
    for (const nas::ReuseResult& r : reused) {
      std::cout << absl::StrFormat(
          "| %s (%.1f ms) | %d | %.0f | %.0f | %d | %d | %.4f |\n", r.profile, r.bound_ms, r.seed,
          r.run.wall_seconds, r.run.wall_seconds * nas::kWorkers,
          r.run.evaluations - static_cast<int>(r.run.finished.size()),
          static_cast<int>(r.run.finished.size()),
          nas::HypervolumeUntil(r.run.finished, r.run.wall_seconds, r.bound_ms));
    }
  }
  if (!against.empty() && !reused.empty()) {
    std::cout << absl::StrFormat(
        "\nEach new profile against a from-scratch %s search on it (same seed, %.0f s):\n\n"
        "| profile | seed | reuse: worker-seconds, hypervolume | from scratch: worker-seconds, "
        "hypervolume | reuse against from scratch | worker-seconds to the smaller of the two "
        "(reuse / from scratch) |\n|---|---|---|---|---|---|\n",
        nas::Label(against, against_sh), against_budget);
    for (const nas::ReuseResult& r : reused) {
      if (!r.scratch.has_value()) continue;
      const double reuse_hv = nas::HypervolumeUntil(r.run.finished, r.run.wall_seconds, r.bound_ms);
      const double scratch_hv =
          nas::HypervolumeUntil(r.scratch->finished, against_budget, r.bound_ms);
      const double target = std::min(reuse_hv, scratch_hv);
      const std::optional<double> a = nas::SecondsToReach(r.run.finished, target, r.bound_ms);
      const std::optional<double> b = nas::SecondsToReach(r.scratch->finished, target, r.bound_ms);
      std::cout << absl::StrFormat("| %s (%.1f ms) | %d | %.0f, %.4f | %.0f, %.4f | %+.1f%% | ",
                                   r.profile, r.bound_ms, r.seed,
                                   r.run.wall_seconds * nas::kWorkers, reuse_hv,
                                   r.scratch->wall_seconds * nas::kWorkers, scratch_hv,
                                   scratch_hv > 0 ? 100 * (reuse_hv / scratch_hv - 1) : 0.0);
      std::cout << (a && b && *b > 0
                        ? absl::StrFormat("%.0f / %.0f = %.2fx |\n", *a * nas::kWorkers,
                                          *b * nas::kWorkers, *a / *b)
                        : std::string("n/a (an empty front) |\n"));
    }
  }
  if (!timings.empty()) {
    nas::LeaseTiming sum;
    for (const nas::LeaseTiming& t : timings) {
      sum.estimates += t.estimates;
      sum.held_seconds += t.held_seconds;
      sum.gaps += t.gaps;
      sum.gap_seconds += t.gap_seconds;
    }
    std::cout << absl::StrFormat(
        "\nEstimate leases of the weight-sharing searches: %d, held %.2f s each on average "
        "(grant to report); between a worker's report and its next estimate lease %.1f ms on "
        "average (%d pairs), %.1f%% of an estimate's time.\n",
        sum.estimates, sum.estimates > 0 ? sum.held_seconds / sum.estimates : 0.0,
        sum.gaps > 0 ? 1000 * sum.gap_seconds / sum.gaps : 0.0, sum.gaps,
        sum.held_seconds > 0 && sum.gaps > 0
            ? 100 * (sum.gap_seconds / sum.gaps) / (sum.held_seconds / sum.estimates)
            : 0.0);
  }
  return 0;
}
