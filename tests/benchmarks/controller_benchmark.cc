// Controller overhead: lease -> report -> front update round trips per second, with many
// concurrent simulated workers over real gRPC against a real (durable) PostgreSQL, and how the
// cost of one result changes as a search grows.
//
//   bazel run -c opt //tests/benchmarks:controller_benchmark -- --workers=64 --candidates=100000
//   ... --controllers=3   # three controllers on the one database, workers spread over them
//
// Every worker thread loops: LeaseWork, then ReportResult with made-up metrics; the controller
// stores the result, computes the cost on three hardware profiles and updates three Pareto
// fronts in one transaction, and the scheduler keeps the queue filled from the strategy.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/controller_harness.h"

ABSL_FLAG(int, workers, 64, "Concurrent simulated workers");
ABSL_FLAG(int, candidates, 100000, "Candidates in all, split evenly between the searches");
ABSL_FLAG(int, searches, 1, "Concurrent searches (reports of one search are serialised)");
ABSL_FLAG(std::string, windows, "1000,10000,50000,100000",
          "Report the per-result cost over the 1,000 results ending at each of these counts");
ABSL_FLAG(int, db_pool_size, 16, "Database connections of each controller");
ABSL_FLAG(int, controllers, 1,
          "Controllers on the one database (in this process); worker w uses controller w % N");
ABSL_FLAG(std::string, database_url, "",
          "An empty database on a running PostgreSQL to use (default: a private durable one)");
ABSL_FLAG(bool, durable, true, "fsync and synchronous commit on (off only to find bottlenecks)");

namespace nas {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int Main() {
  const int workers = absl::GetFlag(FLAGS_workers);
  const int candidates = absl::GetFlag(FLAGS_candidates);
  std::unique_ptr<TestPostgres> own;
  absl::StatusOr<std::unique_ptr<ControllerHarness>> h;
  if (!absl::GetFlag(FLAGS_database_url).empty()) {
    h = ControllerHarness::CreateOn(absl::GetFlag(FLAGS_database_url), {},
                                    absl::GetFlag(FLAGS_db_pool_size));
  } else {
    TestPostgresOptions durable;
    durable.durable = absl::GetFlag(FLAGS_durable);  // On by default, as in production.
    absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start(durable);
    if (!pg.ok()) {
      std::fprintf(stderr, "%s\n", pg.status().ToString().c_str());
      return 1;
    }
    own = *std::move(pg);
    h = ControllerHarness::Create(own.get(), {}, absl::GetFlag(FLAGS_db_pool_size));
  }
  if (!h.ok()) {
    std::fprintf(stderr, "%s\n", h.status().ToString().c_str());
    return 1;
  }
  ControllerHarness* harness = h->get();
  const std::string token = harness->NewUserToken("bench");
  std::vector<std::unique_ptr<ControllerHarness>> more;
  for (int i = 1; i < absl::GetFlag(FLAGS_controllers); ++i) {
    absl::StatusOr<std::unique_ptr<ControllerHarness>> c =
        ControllerHarness::CreateOn(harness->database_url(), {}, absl::GetFlag(FLAGS_db_pool_size));
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
      return 1;
    }
    more.push_back(*std::move(c));
  }
  const auto controller_of = [&](int w) {
    const int i = w % (1 + static_cast<int>(more.size()));
    return i == 0 ? harness : more[i - 1].get();
  };

  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  spec->set_display_name("controller-benchmark");
  spec->mutable_strategy()->set_seed(1);
  for (const char* p : {"host-cpu", "rpi4-cortex-a72", "cortex-m7"}) spec->add_profile_ids(p);
  spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_PEAK_ACTIVATION_BYTES);
  const int searches = absl::GetFlag(FLAGS_searches);
  spec->mutable_budget()->set_max_candidates(candidates / searches);
  spec->mutable_budget()->set_max_parallel(std::min(1024, workers * 2));
  for (int i = 0; i < searches; ++i) {
    spec->mutable_strategy()->set_seed(i + 1);
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::Search search;
    grpc::Status st = harness->Nas()->SubmitSearch(&ctx, req, &search);
    if (!st.ok()) {
      std::fprintf(stderr, "submit: %s\n", st.error_message().c_str());
      return 1;
    }
  }

  std::vector<absl::Time> completed_at(candidates + 1);
  std::vector<std::vector<double>> report_ms(workers), lease_ms(workers);
  std::atomic<int> completed{0};
  std::atomic<int> errors{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      TestWorker worker(controller_of(w));
      if (!worker.Register().ok()) {
        ++errors;
        return;
      }
      int idle = 0;
      while (completed.load() < candidates && idle < 10) {
        nas::v1::LeaseWorkResponse lease;
        const absl::Time t0 = absl::Now();
        if (!worker.Lease(&lease, 1000).ok()) {
          ++errors;
          continue;
        }
        if (lease.lease_id() == 0) {
          ++idle;
          continue;
        }
        idle = 0;
        const absl::Time t1 = absl::Now();
        if (!worker.Report(lease.lease_id(), TestWorker::MetricsFor(lease)).ok()) {
          ++errors;
          continue;
        }
        const absl::Time t2 = absl::Now();
        lease_ms[w].push_back(absl::ToDoubleMilliseconds(t1 - t0));
        report_ms[w].push_back(absl::ToDoubleMilliseconds(t2 - t1));
        const int n = ++completed;
        if (n <= candidates) completed_at[n] = t2;
        if (n % 5000 == 0) {
          std::fprintf(stderr, "  %d/%d results, %.0f/s so far\n", n, candidates,
                       n / absl::ToDoubleSeconds(t2 - start));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int done = std::min(completed.load(), candidates);
  if (candidates % searches != 0) {
    std::fprintf(stderr, "--candidates must divide evenly into --searches\n");
    return 1;
  }

  std::vector<double> all_report, all_lease;
  for (int w = 0; w < workers; ++w) {
    all_report.insert(all_report.end(), report_ms[w].begin(), report_ms[w].end());
    all_lease.insert(all_lease.end(), lease_ms[w].begin(), lease_ms[w].end());
  }
  std::printf(
      "Controller benchmark: %d workers, %d candidates in %d search(es), 3 profiles, %d "
      "controller(s), durable PostgreSQL\n\n",
      workers, candidates, searches, 1 + static_cast<int>(more.size()));
  std::printf(
      "| results | wall s | round trips/s | lease p50 ms | report p50 ms | report p99 ms "
      "| errors |\n|---|---|---|---|---|---|---|\n");
  std::printf("| %d | %.1f | %.0f | %.2f | %.2f | %.2f | %d |\n\n", done, seconds, done / seconds,
              Percentile(all_lease, 0.5), Percentile(all_report, 0.5), Percentile(all_report, 0.99),
              errors.load());

  std::printf(
      "| results so far | ms per result (over the last 1,000) | ratio to the first |\n"
      "|---|---|---|\n");
  double first = 0;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_windows), ',')) {
    int end = 0;
    if (!absl::SimpleAtoi(part, &end) || end < 1000 || end > done) continue;
    const double ms =
        absl::ToDoubleMilliseconds(completed_at[end] - completed_at[end - 999]) / 999.0;
    if (first == 0) first = ms;
    std::printf("| %d | %.3f | %.2f |\n", end, ms, ms / first);
  }
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return nas::Main();
}
