// The controller end to end, through the real gRPC API, on a real PostgreSQL.
//
// Long (about 1,200 lines) on purpose: every scenario is one whole search through the same
// fixture and helpers (Spec, Submit, RunWorker, BruteForceFront), and reads best next to the
// others it varies; the lifecycle's decisions themselves are unit-tested without a database in
// engine/lifecycle_test.cc.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/error_reason.h"
#include "gtest/gtest.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/latency_table.h"
#include "search/search_space.h"
#include "search/successive_halving.h"
#include "services/crypto.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

using nas::v1::Candidate;
using nas::v1::Search;

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  void StartController(SchedulerOptions scheduler = {}) {
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create(scheduler);
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
    bob_ = harness_->NewUserToken("bob");
    ASSERT_FALSE(alice_.empty());
    ASSERT_FALSE(bob_.empty());
  }

  static nas::v1::SearchSpec Spec(int candidates, int parallel) {
    nas::v1::SearchSpec spec;
    spec.set_display_name("integration");
    spec.mutable_space()->set_name("mobilenetv2");
    spec.mutable_strategy()->set_name("random");
    spec.mutable_strategy()->set_seed(42);
    spec.add_profile_ids("host-cpu");
    spec.add_profile_ids("rpi4-cortex-a72");
    spec.add_profile_ids("cortex-m7");
    spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
    spec.add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
    spec.add_objectives()->set_metric(nas::v1::METRIC_PEAK_ACTIVATION_BYTES);
    spec.mutable_budget()->set_max_candidates(candidates);
    spec.mutable_budget()->set_max_parallel(parallel);
    return spec;
  }

  grpc::Status Submit(const std::string& token, const nas::v1::SearchSpec& spec, Search* out) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::SubmitSearchRequest req;
    *req.mutable_spec() = spec;
    return harness_->Nas()->SubmitSearch(&ctx, req, out);
  }

  grpc::Status GetSearch(const std::string& token, int64_t id, Search* out) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetSearchRequest req;
    req.set_search_id(id);
    return harness_->Nas()->GetSearch(&ctx, req, out);
  }

  std::vector<Candidate> Candidates(const std::string& token, int64_t search_id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::ListCandidatesRequest req;
    req.set_search_id(search_id);
    req.set_limit(10000);
    nas::v1::ListCandidatesResponse resp;
    EXPECT_TRUE(harness_->Nas()->ListCandidates(&ctx, req, &resp).ok());
    return {resp.candidates().begin(), resp.candidates().end()};
  }

  // Leases and evaluates until `search_id` ends or `max_evaluations` are done.
  int RunWorker(TestWorker& worker, int64_t search_id, int max_evaluations = 1 << 30) {
    int done = 0;
    for (int idle = 0; done < max_evaluations && idle < 20;) {
      Search s;
      if (GetSearch(alice_, search_id, &s).ok() && s.state() != nas::v1::SEARCH_STATE_RUNNING) {
        break;
      }
      nas::v1::LeaseWorkResponse lease;
      grpc::Status st = worker.Lease(&lease, 500);
      EXPECT_TRUE(st.ok()) << st.error_message();
      if (lease.lease_id() == 0) {
        ++idle;
        continue;
      }
      st = worker.Evaluate(lease);
      EXPECT_TRUE(st.ok()) << st.error_message();
      ++done;
    }
    return done;
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::string alice_, bob_;
};

// The value of one series in Prometheus' text format ("name{labels} value"); NaN if absent.
double SeriesValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series + " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return std::nan("");
}

// The oracles below are written here, from the API's fields and the definitions, so that they
// share nothing with the production code they check (search/objectives.cc, search/pareto.cc,
// search/hypervolume.cc).

// A stored result's value of an objective the tests use, to minimise (accuracy negated): the
// accuracy a profile ranks by is its int8 accuracy where it measured one, else the fp32
// validation accuracy (docs/objectives.md).
double TestObjective(nas::v1::Metric metric, const Candidate& c,
                     const nas::v1::ProfileMetrics& pm) {
  switch (metric) {
    case nas::v1::METRIC_ACCURACY:
      return -(pm.accuracy_kind().empty() ? c.metrics().val_accuracy() : pm.accuracy());
    case nas::v1::METRIC_LATENCY:
      return pm.latency_ms();
    case nas::v1::METRIC_PEAK_ACTIVATION_BYTES:
      return static_cast<double>(pm.peak_activation_bytes());
    case nas::v1::METRIC_PARAMS:
      return static_cast<double>(c.metrics().params());
    case nas::v1::METRIC_INT8_MODEL_BYTES:
      return static_cast<double>(c.metrics().int8_model_bytes() > 0 ? c.metrics().int8_model_bytes()
                                                                    : c.metrics().params());
    default:
      ADD_FAILURE() << "no test oracle for " << nas::v1::Metric_Name(metric);
      return 0;
  }
}

// The feasible evaluated results on one profile as points to minimise, with their ids.
std::vector<std::pair<int64_t, std::vector<double>>> TestPoints(
    const std::vector<Candidate>& candidates, const nas::v1::SearchSpec& spec, int profile_index) {
  std::vector<std::pair<int64_t, std::vector<double>>> points;
  for (const Candidate& c : candidates) {
    if (c.state() != nas::v1::CANDIDATE_STATE_EVALUATED) continue;
    const nas::v1::ProfileMetrics& pm = c.profile_metrics(profile_index);
    if (!pm.feasible()) continue;
    std::vector<double> v;
    for (const auto& o : spec.objectives()) v.push_back(TestObjective(o.metric(), c, pm));
    points.emplace_back(c.id(), std::move(v));
  }
  return points;
}

// a dominates b: no worse in every objective, better in one.
bool TestDominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k] > b[k]) return false;
    better |= a[k] < b[k];
  }
  return better;
}

// The brute-force front of the stored results on one profile, as candidate ids: every point no
// other point dominates.
std::set<int64_t> BruteForceFront(const std::vector<Candidate>& candidates,
                                  const nas::v1::SearchSpec& spec, int profile_index) {
  const auto points = TestPoints(candidates, spec, profile_index);
  std::set<int64_t> front;
  for (const auto& [id, p] : points) {
    bool dominated = false;
    for (const auto& [other, q] : points) dominated |= TestDominates(q, p);
    if (!dominated) front.insert(id);
  }
  return front;
}

// The hypervolume by its definition, on a grid: the region between the points and the
// reference is cut at every coordinate any point has, and each cell counts whole when some point
// dominates its lower corner. Exact, O(n^(d+1)); fine for the tests' few dozen points.
double GridHypervolume(const std::vector<std::vector<double>>& points,
                       const std::vector<double>& reference) {
  const size_t d = reference.size();
  std::vector<std::vector<double>> cuts(d);
  for (size_t k = 0; k < d; ++k) {
    for (const auto& p : points) {
      if (p[k] < reference[k]) cuts[k].push_back(p[k]);
    }
    cuts[k].push_back(reference[k]);
    std::sort(cuts[k].begin(), cuts[k].end());
    cuts[k].erase(std::unique(cuts[k].begin(), cuts[k].end()), cuts[k].end());
  }
  double volume = 0;
  std::vector<size_t> cell(d, 0);
  while (true) {
    bool inside = true;
    for (size_t k = 0; k < d; ++k) inside &= cell[k] + 1 < cuts[k].size();
    if (inside) {
      bool covered = false;
      for (const auto& p : points) {
        bool below = true;
        for (size_t k = 0; k < d; ++k) below &= p[k] <= cuts[k][cell[k]];
        covered |= below;
      }
      if (covered) {
        double v = 1;
        for (size_t k = 0; k < d; ++k) v *= cuts[k][cell[k] + 1] - cuts[k][cell[k]];
        volume += v;
      }
    }
    size_t k = 0;
    while (k < d && ++cell[k] >= cuts[k].size()) cell[k++] = 0;
    if (k == d) break;
  }
  return volume;
}

TEST_F(ControllerIntegrationTest, SearchRunsToTheEndWithRightFrontsModelsAndPrivacy) {
  StartController();
  Search search;
  ASSERT_TRUE(Submit(alice_, Spec(/*candidates=*/24, /*parallel=*/4), &search).ok());
  EXPECT_EQ(search.state(), nas::v1::SEARCH_STATE_RUNNING);
  EXPECT_EQ(search.progress().queued(), 4);               // Queued before SubmitSearch answered.
  EXPECT_EQ(search.spec().profile_ids(0), "host-cpu@1");  // Pinned to a version.

  // Watch the search while it runs.
  std::vector<nas::v1::SearchEvent> events;
  std::thread watcher([&] {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    nas::v1::WatchSearchRequest req;
    req.set_search_id(search.id());
    auto reader = harness_->Nas()->WatchSearch(&ctx, req);
    nas::v1::SearchEvent e;
    while (reader->Read(&e)) events.push_back(e);
    EXPECT_TRUE(reader->Finish().ok());
  });

  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  EXPECT_EQ(RunWorker(worker, search.id()), 24);
  watcher.join();

  ASSERT_TRUE(GetSearch(alice_, search.id(), &search).ok());
  EXPECT_EQ(search.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << search.message();
  EXPECT_EQ(search.progress().evaluated(), 24);
  EXPECT_GT(search.best_accuracy(), 0.8);

  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().kind(), nas::v1::SEARCH_EVENT_KIND_SNAPSHOT);
  EXPECT_EQ(events.back().kind(), nas::v1::SEARCH_EVENT_KIND_SEARCH_ENDED);
  EXPECT_EQ(events.back().search().state(), nas::v1::SEARCH_STATE_SUCCEEDED);
  int evaluated_events = 0;
  for (const auto& e : events) {
    evaluated_events += e.kind() == nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED;
  }
  EXPECT_EQ(evaluated_events, 24);

  std::vector<Candidate> candidates = Candidates(alice_, search.id());
  ASSERT_EQ(candidates.size(), 24u);
  std::set<std::string> hashes;
  for (const Candidate& c : candidates) {
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
    EXPECT_EQ(c.attempts(), 1);
    EXPECT_TRUE(c.has_artifact());
    ASSERT_EQ(c.profile_metrics_size(), 3);
    EXPECT_EQ(c.profile_metrics(0).profile_id(), "host-cpu@1");
    EXPECT_EQ(c.profile_metrics(0).latency_source(), nas::v1::LATENCY_SOURCE_MEASURED);
    EXPECT_EQ(c.profile_metrics(1).latency_source(), nas::v1::LATENCY_SOURCE_MODELLED);
    hashes.insert(c.architecture_hash());
  }
  EXPECT_EQ(hashes.size(), 24u);  // Deduplicated.

  // Each profile's stored front is exactly the brute-force front of the stored results.
  const std::vector<std::string> profiles = {"host-cpu", "rpi4-cortex-a72", "cortex-m7@1"};
  for (int p = 0; p < 3; ++p) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(search.id());
    req.set_profile_id(profiles[p]);
    nas::v1::ParetoFront front;
    grpc::Status st = harness_->Nas()->GetParetoFront(&ctx, req, &front);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::set<int64_t> got;
    for (const auto& m : front.members()) {
      got.insert(m.candidate_id());
      EXPECT_EQ(m.objective_values_size(), 3);
    }
    const std::set<int64_t> expected = BruteForceFront(candidates, search.spec(), p);
    EXPECT_EQ(got, expected) << profiles[p];
    // Its hypervolume is that of every feasible result (dominated ones add nothing), and the
    // normalised one its share of the box from the reference to accuracy 1 at no cost.
    std::vector<std::vector<double>> points;
    for (const auto& [id, v] : TestPoints(candidates, search.spec(), p)) points.push_back(v);
    ASSERT_EQ(front.hypervolume_reference_size(), 3);
    EXPECT_EQ(front.hypervolume_reference(0), 0);  // accuracy
    EXPECT_GT(front.hypervolume(), 0);
    const std::vector<double> reference = {front.hypervolume_reference().begin(),
                                           front.hypervolume_reference().end()};
    EXPECT_NEAR(front.hypervolume(), GridHypervolume(points, reference), 1e-9 * front.hypervolume())
        << profiles[p];
    EXPECT_NEAR(front.normalized_hypervolume(),
                front.hypervolume() / ((reference[0] + 1) * reference[1] * reference[2]), 1e-12)
        << profiles[p];
    EXPECT_GT(front.normalized_hypervolume(), 0);
    EXPECT_LE(front.normalized_hypervolume(), 1);
    EXPECT_FALSE(got.empty()) << profiles[p];
    EXPECT_EQ(front.evaluated(), 24);
    // The controller's metrics read the same front from the store.
    const std::string labels =
        absl::StrCat("{profile=\"", front.profile_id(), "\",search=\"", search.id(), "\"}");
    const std::string text = harness_->metrics().Text();
    EXPECT_EQ(SeriesValue(text, "nas_search_front_size" + labels), front.members_size()) << text;
    EXPECT_NEAR(SeriesValue(text, "nas_search_hypervolume" + labels), front.hypervolume(),
                1e-9 * front.hypervolume())
        << text;
    for (int i = 1; i < front.members_size(); ++i) {
      EXPECT_GE(front.members(i - 1).objective_values(0), front.members(i).objective_values(0));
    }
  }

  // FetchModel streams back exactly the uploaded bytes, with their SHA-256.
  for (int64_t id : {candidates[0].id(), candidates[1].id(), candidates[2].id()}) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(id);
    auto reader = harness_->Nas()->FetchModel(&ctx, req);
    nas::v1::FetchModelResponse msg;
    ASSERT_TRUE(reader->Read(&msg));
    ASSERT_TRUE(msg.has_metadata());
    const nas::v1::ModelMetadata meta = msg.metadata();
    std::string data;
    while (reader->Read(&msg)) data += msg.chunk();
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(data, TestWorker::ModelFor(id));
    EXPECT_EQ(meta.sha256(), Sha256Hex(data));
    EXPECT_EQ(meta.size_bytes(), static_cast<int64_t>(data.size()));
    EXPECT_EQ(meta.candidate_id(), id);
  }

  // Bob sees none of it: every id of Alice's answers NOT_FOUND, and his list is empty.
  {
    Search s;
    EXPECT_EQ(GetSearch(bob_, search.id(), &s).error_code(), grpc::StatusCode::NOT_FOUND);
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::ListSearchesResponse list;
    ASSERT_TRUE(harness_->Nas()->ListSearches(&ctx, {}, &list).ok());
    EXPECT_EQ(list.searches_size(), 0);
  }
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::GetCandidateRequest req;
    req.set_candidate_id(candidates[0].id());
    Candidate c;
    EXPECT_EQ(harness_->Nas()->GetCandidate(&ctx, req, &c).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(candidates[0].id());
    auto reader = harness_->Nas()->FetchModel(&ctx, req);
    nas::v1::FetchModelResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(search.id());
    req.set_profile_id("host-cpu");
    nas::v1::ParetoFront front;
    EXPECT_EQ(harness_->Nas()->GetParetoFront(&ctx, req, &front).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ControllerIntegrationTest, ExpiredLeaseIsRequeuedAndItsLateReportFenced) {
  SchedulerOptions fast;
  fast.lease_ttl = absl::Seconds(1);
  fast.sweep_interval = absl::Milliseconds(100);
  StartController(fast);
  Search search;
  ASSERT_TRUE(Submit(alice_, Spec(/*candidates=*/2, /*parallel=*/1), &search).ok());

  TestWorker slow(harness_.get()), fresh(harness_.get());
  ASSERT_TRUE(slow.Register().ok());
  ASSERT_TRUE(fresh.Register().ok());
  nas::v1::LeaseWorkResponse stale;
  ASSERT_TRUE(slow.Lease(&stale).ok());
  ASSERT_NE(stale.lease_id(), 0);

  // The slow worker goes silent; the sweep re-queues the candidate and the fresh worker gets it.
  nas::v1::LeaseWorkResponse second;
  ASSERT_TRUE(fresh.Lease(&second, 5000).ok());
  ASSERT_NE(second.lease_id(), 0);
  EXPECT_EQ(second.candidate_id(), stale.candidate_id());
  EXPECT_NE(second.lease_id(), stale.lease_id());

  // Everything the slow worker says now is fenced and changes nothing.
  nas::v1::CandidateMetrics bogus = TestWorker::MetricsFor(stale);
  bogus.set_val_accuracy(0.99);
  grpc::Status late = slow.Report(stale.lease_id(), bogus);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(late.error_message().find("expired"), std::string::npos) << late.error_message();
  // The fence says so explicitly, in the status details, for the worker to act on.
  EXPECT_EQ(ReasonOfDetails(late.error_details()), ErrorReason::kLeaseFenced);
  EXPECT_EQ(slow.Heartbeat(stale.lease_id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(
      slow.Upload(stale.lease_id(), TestWorker::ModelFor(1), Sha256Hex(TestWorker::ModelFor(1)))
          .error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetCandidateRequest req;
    req.set_candidate_id(stale.candidate_id());
    Candidate c;
    ASSERT_TRUE(harness_->Nas()->GetCandidate(&ctx, req, &c).ok());
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_LEASED);
    EXPECT_EQ(c.attempts(), 2);
    EXPECT_FALSE(c.has_metrics());
  }

  // A FAILED_PRECONDITION of the protocol on a live lease is no fence: no reason, not counted.
  {
    nas::v1::PublishRendezvousRequest req;
    req.set_worker_id(fresh.worker_id());
    req.set_lease_id(second.lease_id());
    req.set_store_address("127.0.0.1:29500");
    nas::v1::PublishRendezvousResponse resp;
    grpc::ClientContext ctx;
    ControllerHarness::AuthorizeWorker(&ctx);
    const grpc::Status not_a_gang = harness_->Trainer()->PublishRendezvous(&ctx, req, &resp);
    EXPECT_EQ(not_a_gang.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(ReasonOfDetails(not_a_gang.error_details()), ErrorReason::kNone);
  }

  // The live lease reports; a retried report is accepted as a duplicate and stores nothing new.
  ASSERT_TRUE(fresh.Evaluate(second).ok());
  nas::v1::ReportResultResponse again;
  ASSERT_TRUE(fresh.Report(second.lease_id(), TestWorker::MetricsFor(second), &again).ok());
  EXPECT_TRUE(again.duplicate());
  // Another worker cannot report on that lease.
  EXPECT_EQ(slow.Report(second.lease_id(), bogus).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  std::vector<Candidate> candidates = Candidates(alice_, search.id());
  for (const Candidate& c : candidates) {
    if (c.id() == stale.candidate_id()) {
      EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
      EXPECT_DOUBLE_EQ(c.metrics().val_accuracy(), TestWorker::MetricsFor(second).val_accuracy());
    }
  }

  // The metrics tell the same story: one expiry, the late report, heartbeat and upload fenced
  // (the rendezvous refused on a live lease is not), one result stored (the duplicate is not
  // counted twice), and the search's candidates by state.
  const std::string text = harness_->metrics().Text();
  EXPECT_EQ(SeriesValue(text, "nas_leases_total{outcome=\"expired\"}"), 1) << text;
  EXPECT_EQ(SeriesValue(text, "nas_leases_total{outcome=\"fenced\"}"), 3) << text;
  EXPECT_EQ(SeriesValue(text, "nas_evaluations_total{outcome=\"ok\"}"), 1) << text;
  EXPECT_EQ(SeriesValue(text, "nas_leases_total{outcome=\"completed\"}"), 1) << text;
  EXPECT_EQ(SeriesValue(text, absl::StrCat("nas_search_candidates{search=\"", search.id(),
                                           "\",state=\"EVALUATED\"}")),
            1)
      << text;
  EXPECT_EQ(SeriesValue(text, "nas_searches{state=\"RUNNING\"}"), 1) << text;
  EXPECT_EQ(SeriesValue(text, "nas_store_up"), 1) << text;
  EXPECT_GT(SeriesValue(text,
                        "nas_grpc_server_handled_total{grpc_code=\"FAILED_PRECONDITION\","
                        "grpc_method=\"ReportResult\",grpc_service=\"nas.v1.TrainerService\"}"),
            0)
      << text;
}

// A lease live across a controller restart is given a fresh TTL; if its worker is never heard
// from again (the lease's answer may have died with the controller) its expiry is not charged
// to the candidate. A worker that heartbeats after the restart and then vanishes is charged.
TEST_F(ControllerIntegrationTest, ALeaseUnheardSinceARestartIsNotCharged) {
  SchedulerOptions fast;
  fast.lease_ttl = absl::Seconds(1);
  fast.sweep_interval = absl::Milliseconds(100);
  StartController(fast);
  Search search;
  ASSERT_TRUE(Submit(alice_, Spec(/*candidates=*/2, /*parallel=*/2), &search).ok());
  TestWorker silent(harness_.get()), heard(harness_.get());
  ASSERT_TRUE(silent.Register().ok());
  ASSERT_TRUE(heard.Register().ok());
  nas::v1::LeaseWorkResponse a, b;
  ASSERT_TRUE(silent.Lease(&a).ok());
  ASSERT_TRUE(heard.Lease(&b).ok());
  ASSERT_NE(a.lease_id(), 0);
  ASSERT_NE(b.lease_id(), 0);

  ASSERT_TRUE(harness_->Restart().ok());
  heard.Reconnect();
  ASSERT_TRUE(heard.Heartbeat(b.lease_id()).ok());  // heard after the restart, then gone
  const absl::Time until = absl::Now() + absl::Seconds(10);
  std::vector<Candidate> candidates;
  auto both_requeued = [&] {
    candidates = Candidates(alice_, search.id());
    return candidates.size() == 2 && candidates[0].state() == nas::v1::CANDIDATE_STATE_QUEUED &&
           candidates[1].state() == nas::v1::CANDIDATE_STATE_QUEUED;
  };
  while (!both_requeued() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(both_requeued());
  for (const Candidate& c : candidates) {
    EXPECT_EQ(c.attempts(), c.id() == a.candidate_id() ? 0 : 1) << "candidate " << c.id();
  }
}

TEST_F(ControllerIntegrationTest, SearchSurvivesAControllerRestartEvaluatingEachCandidateOnce) {
  StartController();
  const nas::v1::SearchSpec spec = Spec(/*candidates=*/30, /*parallel=*/3);
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  EXPECT_EQ(RunWorker(worker, search.id(), /*max_evaluations=*/11), 11);

  // One lease is in flight across the restart.
  nas::v1::LeaseWorkResponse in_flight;
  ASSERT_TRUE(worker.Lease(&in_flight).ok());
  ASSERT_NE(in_flight.lease_id(), 0);

  ASSERT_TRUE(harness_->Restart().ok());
  worker.Reconnect();
  ASSERT_TRUE(worker.Evaluate(in_flight).ok());  // The lease lives in the store, not in memory.
  RunWorker(worker, search.id());

  ASSERT_TRUE(GetSearch(alice_, search.id(), &search).ok());
  EXPECT_EQ(search.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << search.message();
  EXPECT_EQ(search.progress().evaluated(), 30);
  EXPECT_EQ(search.progress().queued() + search.progress().leased(), 0);
  std::vector<Candidate> candidates = Candidates(alice_, search.id());
  ASSERT_EQ(candidates.size(), 30u);
  for (const Candidate& c : candidates) {
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
    EXPECT_EQ(c.attempts(), 1) << "candidate " << c.id();
  }

  // The restarted strategy proposed what an uninterrupted one proposes with the same seed.
  Search uninterrupted;
  ASSERT_TRUE(Submit(alice_, spec, &uninterrupted).ok());
  RunWorker(worker, uninterrupted.id());
  std::vector<Candidate> reference = Candidates(alice_, uninterrupted.id());
  ASSERT_EQ(reference.size(), candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    EXPECT_EQ(candidates[i].architecture_hash(), reference[i].architecture_hash()) << i;
  }
}

TEST_F(ControllerIntegrationTest, CancelStopsTheSearchAndRevokesLeases) {
  StartController();
  Search search;
  ASSERT_TRUE(Submit(alice_, Spec(10, 3), &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  nas::v1::LeaseWorkResponse lease;
  ASSERT_TRUE(worker.Lease(&lease).ok());

  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::CancelSearchRequest req;
  req.set_search_id(search.id());
  Search cancelled;
  ASSERT_TRUE(harness_->Nas()->CancelSearch(&ctx, req, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), nas::v1::SEARCH_STATE_CANCELLED);
  EXPECT_EQ(cancelled.progress().queued(), 0);
  EXPECT_EQ(cancelled.progress().leased(), 0);
  // The counters agree with the candidates themselves.
  int n_cancelled = 0;
  for (const Candidate& c : Candidates(alice_, search.id())) {
    n_cancelled += c.state() == nas::v1::CANDIDATE_STATE_CANCELLED;
  }
  EXPECT_EQ(cancelled.progress().cancelled(), n_cancelled);
  EXPECT_EQ(n_cancelled, 3);

  EXPECT_EQ(worker.Evaluate(lease).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  nas::v1::LeaseWorkResponse none;
  ASSERT_TRUE(worker.Lease(&none, 200).ok());
  EXPECT_EQ(none.lease_id(), 0);

  grpc::ClientContext again;
  ControllerHarness::Authorize(&again, alice_);
  EXPECT_EQ(harness_->Nas()->CancelSearch(&again, req, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ControllerIntegrationTest, EveryStrategyRunsASearchThroughTheController) {
  StartController();
  for (const std::string name : {"random", "evolution", "nsga2"}) {
    nas::v1::SearchSpec spec = Spec(/*candidates=*/30, /*parallel=*/4);
    spec.mutable_strategy()->set_name(name);
    if (name != "random") (*spec.mutable_strategy()->mutable_settings())["population"] = "8";
    Search search;
    ASSERT_TRUE(Submit(alice_, spec, &search).ok()) << name;
    TestWorker worker(harness_.get());
    ASSERT_TRUE(worker.Register().ok());
    RunWorker(worker, search.id());
    ASSERT_TRUE(GetSearch(alice_, search.id(), &search).ok());
    EXPECT_EQ(search.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << name << search.message();
    EXPECT_EQ(search.progress().evaluated(), 30) << name;
    std::set<std::string> keys;
    for (const Candidate& c : Candidates(alice_, search.id()))
      keys.insert(CanonicalKey(c.architecture()));
    EXPECT_EQ(keys.size(), 30u) << name << ": candidates are distinct networks";
  }
  // Settings are checked at submission.
  nas::v1::SearchSpec bad = Spec(4, 1);
  bad.mutable_strategy()->set_name("nsga2");
  (*bad.mutable_strategy()->mutable_settings())["population"] = "2";
  Search ignored;
  grpc::Status refused = Submit(alice_, bad, &ignored);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("spec.strategy.settings[population]"), std::string::npos)
      << refused.error_message();
}

TEST_F(ControllerIntegrationTest, SuccessiveHalvingPromotesTheBestAndFrontsHoldFinishedModels) {
  StartController();
  nas::v1::SearchSpec spec = Spec(/*candidates=*/18, /*parallel=*/4);
  spec.mutable_strategy()->set_name("evolution");
  (*spec.mutable_strategy()->mutable_settings())["population"] = "6";
  spec.mutable_multi_fidelity()->set_rungs(3);
  spec.mutable_multi_fidelity()->set_eta(3);
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  EXPECT_EQ(search.progress().target(), 18 + 6 + 2);
  EXPECT_EQ(search.progress().evaluated_per_rung_size(), 3);
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  RunWorker(worker, search.id());
  ASSERT_TRUE(GetSearch(alice_, search.id(), &search).ok());
  ASSERT_EQ(search.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << search.message();
  EXPECT_NE(search.message().find("26 evaluated (per rung 18, 6, 2), 0 failed"), std::string::npos)
      << search.message();

  // 18 distinct architectures at rung 0; a third of them (all feasible here) at rung 1, a
  // third of those at rung 2, each at its rung's fraction of the data.
  const std::vector<Candidate> all = Candidates(alice_, search.id());
  std::map<int, std::vector<Candidate>> by_rung;
  std::map<std::string, std::set<int>> rungs_of;
  for (const Candidate& c : all) {
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
    by_rung[c.fidelity().rung()].push_back(c);
    rungs_of[c.architecture_hash()].insert(c.fidelity().rung());
  }
  ASSERT_EQ(by_rung[0].size(), 18u);
  ASSERT_EQ(by_rung[1].size(), 6u);
  ASSERT_EQ(by_rung[2].size(), 2u);
  EXPECT_EQ(rungs_of.size(), 18u);
  EXPECT_EQ(std::vector<int>(search.progress().evaluated_per_rung().begin(),
                             search.progress().evaluated_per_rung().end()),
            (std::vector<int>{18, 6, 2}));
  EXPECT_DOUBLE_EQ(by_rung[0][0].fidelity().train_fraction(), 1.0 / 9);
  EXPECT_DOUBLE_EQ(by_rung[1][0].fidelity().train_fraction(), 1.0 / 3);
  EXPECT_EQ(by_rung[2][0].fidelity().train_fraction(), 0);
  for (int rung : {1, 2}) {
    for (const Candidate& c : by_rung[rung]) {
      EXPECT_TRUE(rungs_of[c.architecture_hash()].count(rung - 1))
          << "candidate " << c.id() << " reached rung " << rung << " without rung " << rung - 1;
    }
  }
  // The two finished models were the best third of rung 1 by rank and crowding on the first
  // profile: at the end, Promotable() has nobody left to promote.
  std::vector<RungResult> rung1;
  absl::flat_hash_set<int64_t> promoted;
  for (const Candidate& c : by_rung[1]) {
    const nas::v1::ProfileMetrics& pm = c.profile_metrics(0);
    std::vector<double> v;
    for (const auto& o : spec.objectives()) v.push_back(TestObjective(o.metric(), c, pm));
    rung1.push_back({c.id(), {v, pm.feasible() ? 0.0 : 1.0}});
    for (const Candidate& top : by_rung[2]) {
      if (top.architecture_hash() == c.architecture_hash()) promoted.insert(c.id());
    }
  }
  EXPECT_EQ(promoted.size(), 2u);
  EXPECT_TRUE(Promotable(rung1, 3, promoted).empty());

  // Fronts and the best accuracy come from finished models only.
  double best = 0;
  for (const Candidate& c : by_rung[2]) best = std::max(best, c.metrics().val_accuracy());
  EXPECT_DOUBLE_EQ(search.best_accuracy(), best);
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::GetParetoFrontRequest req;
  req.set_search_id(search.id());
  req.set_profile_id("host-cpu");
  nas::v1::ParetoFront front;
  ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
  EXPECT_EQ(front.evaluated(), 2);
  std::set<int64_t> members;
  for (const auto& m : front.members()) members.insert(m.candidate_id());
  EXPECT_EQ(members, BruteForceFront(by_rung[2], spec, 0));

  // Bad rungs are refused at submission, naming the field.
  nas::v1::SearchSpec bad = Spec(4, 1);
  bad.mutable_multi_fidelity()->set_rungs(3);
  bad.mutable_multi_fidelity()->set_eta(1);
  Search ignored;
  grpc::Status refused = Submit(alice_, bad, &ignored);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("spec.multi_fidelity.eta"), std::string::npos)
      << refused.error_message();
  bad.mutable_multi_fidelity()->set_eta(3);
  bad.mutable_multi_fidelity()->set_rungs(9);
  refused = Submit(alice_, bad, &ignored);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("spec.multi_fidelity.rungs"), std::string::npos)
      << refused.error_message();
}

TEST_F(ControllerIntegrationTest, AMicrocontrollerSearchQueuesOnlyArchitecturesThatFit) {
  StartController();
  nas::v1::SearchSpec spec = Spec(/*candidates=*/10, /*parallel=*/4);
  spec.clear_profile_ids();
  spec.add_profile_ids("cortex-m7");  // 320 KiB SRAM, 1 MiB flash, int8
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  RunWorker(worker, search.id());
  const std::vector<Candidate> all = Candidates(alice_, search.id());
  EXPECT_EQ(all.size(), 10u);
  for (const Candidate& c : all) {
    const ArchitectureCost cost = EstimateCost(c.architecture(), FashionMnistInput());
    EXPECT_LE(cost.model_bytes_int8, 1024 * 1024) << c.id();
    EXPECT_LE(cost.peak_activation_bytes / 4, 320 * 1024) << c.id();
  }
}

// An objective added through the registry alone (search/objectives.cc): validated, bounded by
// a constraint the strategy's static filter applies, ranked in the fronts.
TEST_F(ControllerIntegrationTest, TheInt8ModelBytesObjectiveWorksEndToEnd) {
  StartController();
  nas::v1::SearchSpec spec = Spec(/*candidates=*/8, /*parallel=*/4);
  spec.clear_profile_ids();
  spec.add_profile_ids("rpi4-cortex-a72");  // fp32 weights: model_bytes is 4 per weight
  spec.clear_objectives();
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec.add_objectives()->set_metric(nas::v1::METRIC_INT8_MODEL_BYTES);
  constexpr int64_t kBound = 150'000;
  nas::v1::Constraint* c = spec.add_constraints();
  c->set_metric(nas::v1::METRIC_INT8_MODEL_BYTES);
  c->set_bound(kBound);
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  RunWorker(worker, search.id());
  const std::vector<Candidate> all = Candidates(alice_, search.id());
  ASSERT_EQ(all.size(), 8u);
  for (const Candidate& cand : all) {
    // Known before training: the strategy queued nothing over the bound.
    EXPECT_LE(EstimateCost(cand.architecture(), FashionMnistInput()).model_bytes_int8, kBound);
  }
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::GetParetoFrontRequest req;
  req.set_search_id(search.id());
  req.set_profile_id("rpi4-cortex-a72");
  nas::v1::ParetoFront front;
  ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
  // The test worker reports made-up int8 sizes (its parameter counts), so the constraint judges
  // those.
  int feasible = 0;
  for (const Candidate& cand : all) {
    ASSERT_EQ(cand.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
    const nas::v1::ProfileMetrics& pm = cand.profile_metrics(0);
    EXPECT_EQ(pm.feasible(), cand.metrics().params() <= kBound) << cand.id();
    if (pm.feasible()) {
      ++feasible;
    } else {
      EXPECT_TRUE(absl::StrContains(absl::StrJoin(pm.violations(), "; "), "int8_model_bytes"))
          << absl::StrJoin(pm.violations(), "; ");
    }
  }
  std::set<int64_t> ids;
  for (const auto& m : front.members()) {
    ids.insert(m.candidate_id());
    ASSERT_EQ(m.objective_values_size(), 2);
    EXPECT_EQ(m.objective_values(1), static_cast<double>(m.metrics().params()));
    EXPECT_EQ(m.profile_metrics().model_bytes(), 4 * m.metrics().params());
  }
  EXPECT_EQ(ids, BruteForceFront(all, spec, 0));
  // Deterministic (the strategy's seed, the test worker's figures): some fit, some do not.
  EXPECT_GT(feasible, 0);
  EXPECT_LT(feasible, 8);
  EXPECT_GT(front.members_size(), 0);
  EXPECT_GT(front.hypervolume(), 0);
}

// A bound on the accuracy drop against the reference: results that arrive before the
// reference's await it (not feasible, and not counted against them by the strategy), are judged
// in the transaction that stores the reference's result, and the fronts then hold exactly the
// results within the bound.
TEST_F(ControllerIntegrationTest, AnAccuracyDropBoundIsJudgedOnceTheReferenceArrives) {
  StartController();
  nas::v1::SearchSpec spec = Spec(/*candidates=*/10, /*parallel=*/4);
  spec.clear_profile_ids();
  spec.add_profile_ids("rpi4-cortex-a72");
  spec.clear_objectives();
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec.add_objectives()->set_metric(nas::v1::METRIC_PARAMS);
  const absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(spec.space());
  ASSERT_TRUE(space.ok()) << space.status();
  std::mt19937_64 rng(7);
  const nas::v1::Architecture reference = SampleArchitecture(*space, rng);
  *spec.mutable_reference()->mutable_architecture() = reference;
  constexpr double kMaxDrop = 1;  // points
  nas::v1::Constraint* c = spec.add_constraints();
  c->set_metric(nas::v1::METRIC_ACCURACY_DROP);
  c->set_bound(kMaxDrop);
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());

  // The reference is queued first, so it is among the first four leases: report it last.
  std::vector<nas::v1::LeaseWorkResponse> leases(4);
  for (nas::v1::LeaseWorkResponse& lease : leases) {
    ASSERT_TRUE(worker.Lease(&lease, 2000).ok());
    ASSERT_NE(lease.lease_id(), 0);
  }
  const auto is_reference = [&](const nas::v1::LeaseWorkResponse& l) {
    return CanonicalKey(l.architecture()) == CanonicalKey(reference);
  };
  std::stable_partition(leases.begin(), leases.end(),
                        [&](const auto& l) { return !is_reference(l); });
  ASSERT_TRUE(is_reference(leases.back()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(worker.Evaluate(leases[i]).ok());
  int awaiting = 0;
  for (const Candidate& cand : Candidates(alice_, search.id())) {
    if (cand.state() != nas::v1::CANDIDATE_STATE_EVALUATED) continue;
    const nas::v1::ProfileMetrics& pm = cand.profile_metrics(0);
    EXPECT_TRUE(pm.awaiting_reference()) << cand.id();
    EXPECT_FALSE(pm.feasible()) << cand.id();
    EXPECT_FALSE(pm.has_accuracy_drop()) << cand.id();
    ++awaiting;
  }
  EXPECT_EQ(awaiting, 3);
  ASSERT_TRUE(worker.Evaluate(leases.back()).ok());
  RunWorker(worker, search.id());

  const std::vector<Candidate> all = Candidates(alice_, search.id());
  const double reference_accuracy = TestWorker::MetricsFor(leases.back()).val_accuracy();
  int within = 0, over = 0;
  for (const Candidate& cand : all) {
    ASSERT_EQ(cand.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << cand.id();
    const nas::v1::ProfileMetrics& pm = cand.profile_metrics(0);
    EXPECT_FALSE(pm.awaiting_reference()) << cand.id();
    ASSERT_TRUE(pm.has_accuracy_drop()) << cand.id();
    const double drop = 100 * (reference_accuracy - cand.metrics().val_accuracy());
    EXPECT_NEAR(pm.accuracy_drop(), drop, 1e-9) << cand.id();
    EXPECT_NEAR(pm.accuracy_drop(), -100 * cand.vs_reference().val_accuracy_delta(), 1e-9);
    EXPECT_EQ(pm.feasible(), drop <= kMaxDrop) << cand.id() << ": " << drop;
    (drop <= kMaxDrop ? within : over)++;
  }
  // Deterministic (the seeds, the test worker's figures): some within the bound, some not.
  EXPECT_GT(within, 1);
  EXPECT_GT(over, 0);
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::GetParetoFrontRequest req;
  req.set_search_id(search.id());
  req.set_profile_id("rpi4-cortex-a72");
  nas::v1::ParetoFront front;
  ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
  std::set<int64_t> ids;
  for (const auto& m : front.members()) {
    ids.insert(m.candidate_id());
    EXPECT_LE(m.profile_metrics().accuracy_drop(), kMaxDrop);
  }
  EXPECT_EQ(ids, BruteForceFront(all, spec, 0));
  EXPECT_FALSE(ids.empty());
}

TEST_F(ControllerIntegrationTest, ALookupTableProfilePredictsEveryCandidatesLatency) {
  StartController();
  nas::v1::SearchSpace narrow;
  narrow.set_name("mobilenetv2");
  narrow.add_kernels(3);
  narrow.add_expansions(1);
  narrow.add_resolutions(20);
  narrow.add_width_multipliers_percent(50);
  narrow.set_max_depth(2);
  nas::v1::RegisterHardwareProfileRequest reg;
  nas::v1::HardwareProfile* board = reg.mutable_profile();
  board->set_name("alices-board");
  board->set_kind(nas::v1::PROFILE_KIND_LUT);
  board->mutable_latency_table()->set_overhead_ms(0.25);
  board->mutable_latency_table()->set_threads(1);
  double ms = 0.01;
  for (const LatencyOp& op : SpaceOperators(*ResolveSearchSpace(narrow), FashionMnistInput())) {
    nas::v1::LutEntry* e = board->mutable_latency_table()->add_entries();
    e->set_key(op.Key());
    e->set_mean_ms(ms += 0.01);
    e->set_count(30);
  }
  nas::v1::HardwareProfile registered;
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    grpc::Status st = harness_->Nas()->RegisterHardwareProfile(&ctx, reg, &registered);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  nas::v1::SearchSpec spec = Spec(/*candidates=*/6, /*parallel=*/2);
  *spec.mutable_space() = narrow;
  spec.clear_profile_ids();
  spec.add_profile_ids("alices-board");
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  RunWorker(worker, search.id());
  const std::vector<Candidate> all = Candidates(alice_, search.id());
  ASSERT_EQ(all.size(), 6u);
  for (const Candidate& c : all) {
    ASSERT_EQ(c.profile_metrics_size(), 1);
    const nas::v1::ProfileMetrics& pm = c.profile_metrics(0);
    EXPECT_EQ(pm.latency_source(), nas::v1::LATENCY_SOURCE_PREDICTED) << c.id();
    EXPECT_DOUBLE_EQ(pm.latency_ms(), *PredictLatencyMs(registered.latency_table(),
                                                        c.architecture(), FashionMnistInput()));
  }
  // Bob cannot use Alice's private profile.
  Search ignored;
  EXPECT_EQ(Submit(bob_, spec, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A measured profile of a device nobody trains on: the training worker (host-cpu) leaves its
// latency unmeasured (infeasible, named), a measure-only worker of that device takes each
// finished candidate, times it, and the profile's front fills; workers of other devices get
// no measurement work, and a measurement does not count as an evaluation.
TEST_F(ControllerIntegrationTest, MeasureOnlyWorkersTimeCandidatesTrainedElsewhere) {
  StartController();
  nas::v1::RegisterHardwareProfileRequest reg;
  nas::v1::HardwareProfile* board = reg.mutable_profile();
  board->set_name("tiny-board");
  board->set_kind(nas::v1::PROFILE_KIND_MEASURED);
  board->set_device_tag("tiny-board");
  board->mutable_limits()->set_max_latency_ms(50);
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::HardwareProfile registered;
    grpc::Status st = harness_->Nas()->RegisterHardwareProfile(&ctx, reg, &registered);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  nas::v1::SearchSpec spec = Spec(/*candidates=*/4, /*parallel=*/2);
  spec.clear_profile_ids();
  spec.add_profile_ids("host-cpu");
  spec.add_profile_ids("tiny-board");
  Search search;
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());

  TestWorker trainer(harness_.get());
  ASSERT_TRUE(trainer.Register().ok());
  EXPECT_EQ(RunWorker(trainer, search.id()), 4);
  for (const Candidate& c : Candidates(alice_, search.id())) {
    ASSERT_EQ(c.profile_metrics_size(), 2);
    EXPECT_FALSE(c.profile_metrics(1).feasible()) << "unmeasured yet";
  }

  TestWorker other(harness_.get(), "another-board");
  ASSERT_TRUE(other.Register({}, /*measure_only=*/true).ok());
  nas::v1::LeaseWorkResponse none;
  ASSERT_TRUE(other.Lease(&none, 200).ok());
  EXPECT_EQ(none.lease_id(), 0);

  TestWorker meter(harness_.get(), "tiny-board");
  ASSERT_TRUE(meter.Register({}, /*measure_only=*/true).ok());
  std::set<int64_t> measured;
  for (int i = 0; i < 4; ++i) {
    nas::v1::LeaseWorkResponse lease;
    ASSERT_TRUE(meter.Lease(&lease, 1000).ok());
    ASSERT_NE(lease.lease_id(), 0) << i;
    EXPECT_TRUE(lease.measure_only());
    ASSERT_EQ(lease.measure_profile_ids_size(), 1);
    EXPECT_EQ(lease.measure_profile_ids(0), "tiny-board@1");
    measured.insert(lease.candidate_id());
    nas::v1::CandidateMetrics latency;
    latency.set_latency_ms(10.0 + lease.candidate_id() % 7);
    latency.set_latency_threads(1);
    grpc::Status st = meter.Report(lease.lease_id(), latency);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(measured.size(), 4u);
  nas::v1::LeaseWorkResponse done;
  ASSERT_TRUE(meter.Lease(&done, 200).ok());
  EXPECT_EQ(done.lease_id(), 0);  // Each candidate is measured once.

  for (const Candidate& c : Candidates(alice_, search.id())) {
    const nas::v1::ProfileMetrics& pm = c.profile_metrics(1);
    EXPECT_EQ(pm.latency_source(), nas::v1::LATENCY_SOURCE_MEASURED) << c.id();
    EXPECT_DOUBLE_EQ(pm.latency_ms(), 10.0 + c.id() % 7);
    EXPECT_TRUE(pm.feasible()) << c.id();
    // The host-cpu figures are the training worker's, untouched.
    EXPECT_EQ(c.profile_metrics(0).latency_source(), nas::v1::LATENCY_SOURCE_MEASURED);
  }
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::GetParetoFrontRequest req;
  req.set_search_id(search.id());
  req.set_profile_id("tiny-board");
  nas::v1::ParetoFront front;
  ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
  EXPECT_FALSE(front.members().empty());
  EXPECT_EQ(front.infeasible(), 0);
  const std::string text = harness_->metrics().Text();
  EXPECT_EQ(SeriesValue(text, "nas_evaluations_total{outcome=\"ok\"}"), 4) << text;
}

TEST_F(ControllerIntegrationTest, SearchesGoOnlyToWorkersServingTheirDataset) {
  StartController();
  nas::v1::SearchSpec spec = Spec(2, 2);
  spec.set_dataset("cifar10");
  Search search;
  // Nobody serves cifar10 yet: refused at once, with the way to fix it.
  grpc::Status refused = Submit(alice_, spec, &search);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("spec.dataset"), std::string::npos);
  EXPECT_NE(refused.error_message().find("--dataset=cifar10="), std::string::npos)
      << refused.error_message();

  TestWorker fashion(harness_.get());  // Declares nothing: fashion-mnist.
  ASSERT_TRUE(fashion.Register().ok());
  TestWorker cifar(harness_.get());
  ASSERT_TRUE(cifar.Register({"cifar10", "fashion-mnist"}).ok());
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());

  nas::v1::LeaseWorkResponse none;
  ASSERT_TRUE(fashion.Lease(&none, 300).ok());
  EXPECT_EQ(none.lease_id(), 0) << "a fashion-mnist worker was leased a cifar10 candidate";
  nas::v1::LeaseWorkResponse lease;
  ASSERT_TRUE(cifar.Lease(&lease).ok());
  ASSERT_NE(lease.lease_id(), 0);
  EXPECT_EQ(lease.dataset(), "cifar10");
  EXPECT_EQ(lease.search_id(), search.id());
}

TEST_F(ControllerIntegrationTest, ShutdownAnswersLongPollsPromptly) {
  StartController();
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  absl::Time answered;
  std::thread poll([&] {
    nas::v1::LeaseWorkResponse lease;
    worker.Lease(&lease, /*wait_ms=*/20000);  // Nothing is queued: this waits.
    EXPECT_EQ(lease.lease_id(), 0);
    answered = absl::Now();
  });
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time stop = absl::Now();
  // A long grace: the poll must end because the controller answers it, not because the grace
  // ran out and gRPC cancelled it.
  harness_->Stop(/*grace=*/absl::Seconds(10));
  poll.join();
  EXPECT_LT(answered - stop, absl::Seconds(3));
}

}  // namespace
}  // namespace nas

namespace nas {
namespace {

grpc::Status Extend(ControllerHarness* harness, const std::string& token, int64_t id,
                    int add_candidates, Search* out, int64_t add_wall_seconds = 0) {
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, token);
  nas::v1::ExtendSearchRequest req;
  req.set_search_id(id);
  req.set_add_candidates(add_candidates);
  req.set_add_wall_seconds(add_wall_seconds);
  return harness->Nas()->ExtendSearch(&ctx, req, out);
}

TEST_F(ControllerIntegrationTest, TheDefaultDatasetIsCheckedLikeAnyOther) {
  StartController();
  nas::v1::SearchSpec spec = Spec(2, 2);  // names no dataset: the default, fashion-mnist
  Search search;
  // No worker yet: accepted (workers may still be starting), with a warning saying so.
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  ASSERT_EQ(search.warnings_size(), 1) << search.DebugString();
  EXPECT_NE(search.warnings(0).find("no worker has registered yet"), std::string::npos);
  // The only worker serves another dataset: this search would wait forever, so it is refused.
  TestWorker digits(harness_.get());
  ASSERT_TRUE(digits.Register({"digits"}).ok());
  grpc::Status refused = Submit(alice_, spec, &search);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find(
                "no registered worker serves \"fashion-mnist\" (the default, as the spec names "
                "none); served: digits"),
            std::string::npos)
      << refused.error_message();
  spec.set_dataset("digits");
  ASSERT_TRUE(Submit(alice_, spec, &search).ok());
  EXPECT_EQ(search.warnings_size(), 0) << search.DebugString();
}

TEST_F(ControllerIntegrationTest, AnUnknownProfileIsAnsweredWithTheProfilesThereAre) {
  StartController();
  nas::v1::SearchSpec spec = Spec(2, 2);
  spec.add_profile_ids("raspbery-pi");
  Search search;
  grpc::Status refused = Submit(alice_, spec, &search);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* known : {"spec.profile_ids[3]", "host-cpu@1", "rpi4-cortex-a72@1", "cortex-m7@1",
                            "nasctl profiles"}) {
    EXPECT_NE(refused.error_message().find(known), std::string::npos)
        << known << " missing from: " << refused.error_message();
  }
}

TEST_F(ControllerIntegrationTest, AFinishedSearchIsExtendedAndACancelledOneResumed) {
  StartController();
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  Search search;
  ASSERT_TRUE(Submit(alice_, Spec(4, 2), &search).ok());
  EXPECT_EQ(RunWorker(worker, search.id()), 4);
  Search out;
  // Running searches need something to add; ended ones with a spent budget too.
  grpc::Status nothing = Extend(harness_.get(), alice_, search.id(), 0, &out);
  EXPECT_EQ(nothing.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(nothing.error_message().find("give add_candidates"), std::string::npos)
      << nothing.error_message();
  EXPECT_EQ(Extend(harness_.get(), bob_, search.id(), 2, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Extend(harness_.get(), alice_, search.id(), -1, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(Extend(harness_.get(), alice_, search.id(), 3, &out).ok());
  EXPECT_EQ(out.state(), nas::v1::SEARCH_STATE_RUNNING);
  EXPECT_EQ(out.spec().budget().max_candidates(), 7);
  EXPECT_EQ(out.progress().target(), 7);
  EXPECT_GE(out.progress().queued(), 1) << "the extension queued nothing at once";
  EXPECT_EQ(RunWorker(worker, search.id()), 3);
  ASSERT_TRUE(GetSearch(alice_, search.id(), &out).ok());
  EXPECT_EQ(out.state(), nas::v1::SEARCH_STATE_SUCCEEDED);
  EXPECT_EQ(out.progress().evaluated(), 7);
  std::set<std::string> hashes;
  for (const Candidate& c : Candidates(alice_, search.id())) hashes.insert(c.architecture_hash());
  EXPECT_EQ(hashes.size(), 7u) << "the strategy proposed a network twice after the extension";

  // Cancelled with candidates queued: resumed, they run, and the budget is met.
  Search cancelled;
  ASSERT_TRUE(Submit(alice_, Spec(6, 2), &cancelled).ok());
  EXPECT_EQ(RunWorker(worker, cancelled.id(), /*max_evaluations=*/2), 2);
  // The refill after those results is asynchronous: cancel once candidates are queued again.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(GetSearch(alice_, cancelled.id(), &cancelled).ok());
    if (cancelled.progress().queued() > 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(cancelled.progress().queued(), 0);
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::CancelSearchRequest req;
    req.set_search_id(cancelled.id());
    ASSERT_TRUE(harness_->Nas()->CancelSearch(&ctx, req, &cancelled).ok());
  }
  ASSERT_GE(cancelled.progress().cancelled(), 1);
  ASSERT_TRUE(Extend(harness_.get(), alice_, cancelled.id(), 0, &out).ok());
  EXPECT_EQ(out.state(), nas::v1::SEARCH_STATE_RUNNING);
  EXPECT_EQ(out.progress().cancelled(), 0);
  EXPECT_GE(out.progress().queued(), cancelled.progress().cancelled());
  EXPECT_EQ(out.message(), "");
  EXPECT_EQ(RunWorker(worker, cancelled.id()), 4);
  ASSERT_TRUE(GetSearch(alice_, cancelled.id(), &out).ok());
  EXPECT_EQ(out.state(), nas::v1::SEARCH_STATE_SUCCEEDED);
  EXPECT_EQ(out.progress().evaluated(), 6);
}

TEST_F(ControllerIntegrationTest, AWarmStartSeedsTheFrontAndReusesTrainingsAlike) {
  StartController();
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  Search earlier;
  ASSERT_TRUE(Submit(alice_, Spec(8, 2), &earlier).ok());
  EXPECT_EQ(RunWorker(worker, earlier.id()), 8);
  std::set<int64_t> front_ids;
  for (const std::string& profile : earlier.spec().profile_ids()) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(earlier.id());
    req.set_profile_id(profile);
    nas::v1::ParetoFront front;
    ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
    for (const auto& m : front.members()) front_ids.insert(m.candidate_id());
  }
  ASSERT_GE(front_ids.size(), 2u);
  std::set<std::string> front_hashes;
  for (const Candidate& c : Candidates(alice_, earlier.id())) {
    if (front_ids.count(c.id())) front_hashes.insert(c.architecture_hash());
  }

  // Seeded with the front, trained alike (same dataset and recipe): evaluated at submission.
  nas::v1::SearchSpec spec = Spec(static_cast<int>(front_ids.size()) + 2, 2);
  spec.mutable_warm_start()->set_search_id(earlier.id());
  Search warm;
  ASSERT_TRUE(Submit(alice_, spec, &warm).ok());
  EXPECT_EQ(warm.spec().warm_start().seeds(), "front");
  EXPECT_EQ(warm.progress().evaluated(), static_cast<int>(front_ids.size()));
  std::set<std::string> seeded;
  for (const Candidate& c : Candidates(alice_, warm.id())) {
    if (c.state() == nas::v1::CANDIDATE_STATE_EVALUATED) {
      seeded.insert(c.architecture_hash());
      EXPECT_TRUE(c.has_artifact()) << "a reused seed's model was not carried over";
    }
  }
  EXPECT_EQ(seeded, front_hashes);
  EXPECT_EQ(RunWorker(worker, warm.id()), 2) << "only the strategy's own candidates train";
  Search done;
  ASSERT_TRUE(GetSearch(alice_, warm.id(), &done).ok());
  EXPECT_EQ(done.state(), nas::v1::SEARCH_STATE_SUCCEEDED);
  EXPECT_EQ(done.progress().evaluated(), static_cast<int>(front_ids.size()) + 2);

  // Every evaluated candidate, at most 3, under another recipe: queued, trained again.
  spec = Spec(5, 2);
  spec.mutable_warm_start()->set_search_id(earlier.id());
  spec.mutable_warm_start()->set_seeds("all");
  spec.mutable_warm_start()->set_max_seeds(3);
  spec.mutable_recipe()->set_epochs(2);
  ASSERT_TRUE(Submit(alice_, spec, &warm).ok());
  EXPECT_EQ(warm.progress().evaluated(), 0);
  EXPECT_GE(warm.progress().queued(), 2);  // the seeds, within max_parallel

  // Someone else's search, or none: the field is named.
  spec.mutable_warm_start()->set_seeds("");
  spec.mutable_warm_start()->clear_max_seeds();
  Search refused;
  grpc::Status st = Submit(bob_, spec, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("spec.warm_start.search_id"), std::string::npos)
      << st.error_message();
  spec.mutable_warm_start()->set_seeds("best");
  st = Submit(alice_, spec, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("spec.warm_start.seeds"), std::string::npos)
      << st.error_message();
}

}  // namespace
}  // namespace nas
