// The soak: one long search under load while random faults hit it every 20-60 s (the
// controller killed with 0-20 s of downtime, PostgreSQL stopped for 5-20 s, workers killed and
// replaced). At the end it prints what the chaos suite checks, over the whole run: acknowledged
// results lost, candidates evaluated twice, healthy candidates FAILED, and per fault kind the
// time from recovery to the next result. Not part of `bazel test`; run tests/chaos/soak.sh.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/chaos/chaos_harness.h"
#include "tests/postgres_fixture.h"

ABSL_FLAG(int, minutes, 30, "How long to inject faults");
ABSL_FLAG(int, workers, 16, "Simulated workers");
ABSL_FLAG(int, fault_min_seconds, 20, "Shortest gap between faults");
ABSL_FLAG(int, fault_max_seconds, 60, "Longest gap between faults");
ABSL_FLAG(double, poison, 0.02, "Fraction of poison candidates (fail on every worker)");
ABSL_FLAG(int, seed, 1, "Seed of the fault schedule");

namespace nas::chaos {
namespace {

struct Fault {
  std::string kind;
  double outage_seconds = 0;
  absl::Time recovered;
  double next_result_seconds = -1;
  bool not_serving_seen = false;  // database outages: health said NOT_SERVING
};

void Log(const std::string& line) {
  std::printf("[%s] %s\n", absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
              line.c_str());
  std::fflush(stdout);
}

int Main() {
  const std::string dir = "/tmp/nas-soak";
  std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
  absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start({.durable = true});
  if (!pg.ok()) {
    Log(pg.status().ToString());
    return 1;
  }
  absl::StatusOr<std::string> url = (*pg)->NewDatabase();
  if (!url.ok()) return 1;
  ControllerProcess controller(Runfile("services/nas-controller"), *url, dir, absl::Seconds(5));
  controller.Start();
  if (!controller.WaitServing(absl::Seconds(60))) {
    Log("the controller did not start; see " + dir + "/controller.log");
    return 1;
  }
  const double poison = absl::GetFlag(FLAGS_poison);
  absl::StatusOr<int64_t> search = SubmitSearch(controller.address(), 1000000, 64);
  if (!search.ok()) {
    Log(search.status().ToString());
    return 1;
  }
  Fleet fleet(controller.address(),
              {.workers = absl::GetFlag(FLAGS_workers), .poison_fraction = poison});
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<Fault> faults;
  const absl::Time end = absl::Now() + absl::Minutes(absl::GetFlag(FLAGS_minutes));
  Log(absl::StrCat("soak: ", absl::GetFlag(FLAGS_minutes), " minutes, ",
                   absl::GetFlag(FLAGS_workers), " workers, search ", *search));
  while (absl::Now() < end) {
    absl::SleepFor(absl::Seconds(
        uniform(absl::GetFlag(FLAGS_fault_min_seconds), absl::GetFlag(FLAGS_fault_max_seconds))));
    if (absl::Now() >= end) break;
    Fault f;
    switch (uniform(0, 2)) {
      case 0: {
        f.kind = "controller kill -9";
        f.outage_seconds = uniform(0, 20);
        controller.Kill();
        absl::SleepFor(absl::Seconds(f.outage_seconds));
        controller.Start();
        if (!controller.WaitServing(absl::Seconds(60))) Log("controller did not come back");
        break;
      }
      case 1: {
        f.kind = "database stopped";
        f.outage_seconds = uniform(5, 20);
        if (!(*pg)->Stop().ok()) Log("pg_ctl stop failed");
        const absl::Time until = absl::Now() + absl::Seconds(f.outage_seconds);
        while (absl::Now() < until) {
          if (controller.Health() == 0) f.not_serving_seen = true;
          absl::SleepFor(absl::Milliseconds(250));
        }
        if (!(*pg)->Resume().ok()) Log("pg_ctl start failed");
        break;
      }
      default: {
        f.kind = "workers killed";
        const int n = uniform(1, 4);
        f.outage_seconds = 0;
        fleet.Vanish(n);
        fleet.Add(n);
        break;
      }
    }
    f.recovered = absl::Now();
    faults.push_back(f);
    Log(absl::StrCat("fault ", faults.size(), ": ", f.kind, ", ", f.outage_seconds,
                     " s; results so far ", fleet.successes()));
  }
  absl::SleepFor(absl::Seconds(10));  // the last fault's recovery
  for (Fault& f : faults) {
    const absl::Time next = fleet.FirstAckAfter(f.recovered);
    if (next < absl::InfiniteFuture()) {
      f.next_result_seconds = absl::ToDoubleSeconds(next - f.recovered);
    }
  }
  // Let the leases out finish, then stop the search and count.
  if (absl::Status st = CancelSearch(controller.address(), *search); !st.ok()) {
    Log("cancel: " + st.ToString());
  }
  absl::SleepFor(absl::Seconds(3));
  fleet.Stop();
  absl::StatusOr<Figures> figures = Measure(*url, *search, fleet, poison);
  if (!figures.ok()) {
    Log(figures.status().ToString());
    return 1;
  }
  std::printf("\nsoak figures: %s\n", figures->ToString().c_str());
  std::printf(
      "\n| fault | count | outage s (min-max) | next result after recovery, s (min / median / max) "
      "| NOT_SERVING seen |\n|---|---|---|---|---|\n");
  for (const char* kind : {"controller kill -9", "database stopped", "workers killed"}) {
    std::vector<double> next, outage;
    int seen = 0, count = 0, never = 0;
    for (const Fault& f : faults) {
      if (f.kind != kind) continue;
      ++count;
      outage.push_back(f.outage_seconds);
      if (f.next_result_seconds >= 0) {
        next.push_back(f.next_result_seconds);
      } else {
        ++never;
      }
      seen += f.not_serving_seen;
    }
    if (count == 0) continue;
    std::sort(next.begin(), next.end());
    std::sort(outage.begin(), outage.end());
    std::printf("| %s | %d | %.0f-%.0f | %s | %s |\n", kind, count, outage.front(), outage.back(),
                next.empty() ? "none"
                             : absl::StrFormat("%.2f / %.2f / %.2f%s", next.front(),
                                               next[next.size() / 2], next.back(),
                                               never ? absl::StrCat(" (", never, " without)") : "")
                                   .c_str(),
                std::string(kind) == "database stopped" ? absl::StrCat(seen, " of ", count).c_str()
                                                        : "n/a");
  }
  const auto surprises = fleet.Surprises();
  std::printf("\nunexpected answers: %zu\n", surprises.size());
  for (size_t i = 0; i < surprises.size() && i < 20; ++i) {
    std::printf("  %s\n", surprises[i].c_str());
  }
  const bool ok = figures->lost == 0 && figures->evaluated_twice == 0 &&
                  figures->healthy_failed == 0 && figures->poison_evaluated == 0;
  std::printf("%s\n", ok ? "soak: PASSED" : "soak: FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace nas::chaos

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return nas::chaos::Main();
}
