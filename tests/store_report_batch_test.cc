// Group commit of reports (Store::ReportResults): a batch stores exactly what the same reports
// stored one at a time would, and a refused report in the middle of a batch changes nothing
// while the others are stored.
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/store/store.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

// The search's fronts as (profile, architecture hash) pairs, and its FRONT_CHANGED events as
// (profile, hypervolume) in the order they were stored.
struct FrontsSeen {
  std::vector<std::pair<std::string, std::string>> members;
  std::vector<std::pair<std::string, double>> changes;
};

FrontsSeen ReadFronts(pqxx::connection& db, int64_t search_id) {
  pqxx::work tx(db);
  FrontsSeen seen;
  for (const pqxx::row& r : tx.exec_params("SELECT hp.name, c.arch_hash FROM pareto_members m "
                                           "JOIN candidates c ON c.id = m.candidate_id "
                                           "JOIN hardware_profiles hp ON hp.id = m.profile_id "
                                           "WHERE m.search_id = $1 ORDER BY hp.name, c.arch_hash",
                                           search_id)) {
    seen.members.push_back({r[0].as<std::string>(), r[1].as<std::string>()});
  }
  for (const pqxx::row& r : tx.exec_params(
           "SELECT profile_id, COALESCE(hypervolume, -1) FROM events WHERE search_id = $1 "
           "  AND kind = $2 "
           "ORDER BY id",
           search_id, static_cast<int>(nas::v1::SEARCH_EVENT_KIND_FRONT_CHANGED))) {
    seen.changes.push_back({r[0].as<std::string>(), r[1].as<double>()});
  }
  return seen;
}

TEST(StoreReportBatchTest, ABatchStoresWhatTheSameReportsOneAtATimeWould) {
  absl::StatusOr<std::unique_ptr<ControllerHarness>> harness = ControllerHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  const std::string token = (*harness)->NewUserToken("alice");
  constexpr int kCandidates = 30;
  std::vector<int64_t> searches;
  for (int i = 0; i < 2; ++i) {
    // Twice the same search (same seed): the same architectures, in the same order.
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::SubmitSearchRequest req;
    nas::v1::SearchSpec* spec = req.mutable_spec();
    spec->mutable_strategy()->set_seed(7);
    for (const char* p : {"host-cpu", "rpi4-cortex-a72", "cortex-m7"}) spec->add_profile_ids(p);
    spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
    spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
    spec->add_objectives()->set_metric(nas::v1::METRIC_PEAK_ACTIVATION_BYTES);
    spec->mutable_budget()->set_max_candidates(kCandidates);
    spec->mutable_budget()->set_max_parallel(kCandidates);
    nas::v1::Search search;
    ASSERT_TRUE((*harness)->Nas()->SubmitSearch(&ctx, req, &search).ok());
    searches.push_back(search.id());
  }
  TestWorker worker(harness->get());
  TestWorker other(harness->get());
  ASSERT_TRUE(worker.Register().ok());
  ASSERT_TRUE(other.Register().ok());
  std::map<int64_t, std::vector<nas::v1::LeaseWorkResponse>> leases;  // by search
  for (int i = 0; i < 2 * kCandidates; ++i) {
    nas::v1::LeaseWorkResponse lease;
    ASSERT_TRUE(worker.Lease(&lease).ok());
    ASSERT_NE(lease.lease_id(), 0) << "only " << i << " leases";
    leases[lease.search_id()].push_back(lease);
  }
  ASSERT_EQ(leases[searches[0]].size(), static_cast<size_t>(kCandidates));
  ASSERT_EQ(leases[searches[1]].size(), static_cast<size_t>(kCandidates));
  for (int i = 0; i < kCandidates; ++i) {
    ASSERT_EQ(leases[searches[0]][i].architecture().SerializeAsString(),
              leases[searches[1]][i].architecture().SerializeAsString())
        << "the two searches should propose the same architectures";
  }
  const auto request = [&](const nas::v1::LeaseWorkResponse& lease, int64_t worker_id) {
    nas::v1::ReportResultRequest r;
    r.set_worker_id(worker_id);
    r.set_lease_id(lease.lease_id());
    *r.mutable_metrics() = TestWorker::MetricsFor(lease);
    return r;
  };

  StoreOptions options;
  options.database_url = (*harness)->database_url();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  // The first search's reports one at a time.
  std::vector<nas::v1::ReportResultRequest> first;
  for (const nas::v1::LeaseWorkResponse& lease : leases[searches[0]]) {
    first.push_back(request(lease, worker.worker_id()));
    auto alone = (*store)->ReportResults({&first.back()});
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_EQ(alone->size(), 1u);
    const absl::StatusOr<ReportOutcome>& o = (*alone)[0];
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_FALSE(o->duplicate);
  }
  // The second's in one batch, with refused reports among them.
  std::vector<nas::v1::ReportResultRequest> batch;
  std::vector<absl::StatusCode> expected;
  std::vector<bool> expected_duplicate;
  const auto add = [&](nas::v1::ReportResultRequest r, absl::StatusCode code, bool duplicate) {
    batch.push_back(std::move(r));
    expected.push_back(code);
    expected_duplicate.push_back(duplicate);
  };
  for (int i = 0; i < kCandidates; ++i) {
    const nas::v1::LeaseWorkResponse& lease = leases[searches[1]][i];
    if (i == 10) {
      // Another worker's report on this lease: refused, and the real one after it is stored.
      add(request(lease, other.worker_id()), absl::StatusCode::kPermissionDenied, false);
      nas::v1::ReportResultRequest unknown = request(lease, worker.worker_id());
      unknown.set_lease_id(lease.lease_id() + 100000);
      add(unknown, absl::StatusCode::kNotFound, false);
      // A report of the first search (stored above) again: a duplicate, changing nothing.
      add(first[3], absl::StatusCode::kOk, true);
    }
    add(request(lease, worker.worker_id()), absl::StatusCode::kOk, false);
    // The same report twice in one batch: the second is a duplicate.
    if (i == 20) add(request(lease, worker.worker_id()), absl::StatusCode::kOk, true);
  }
  std::vector<const nas::v1::ReportResultRequest*> pointers;
  for (const nas::v1::ReportResultRequest& r : batch) pointers.push_back(&r);
  absl::StatusOr<std::vector<absl::StatusOr<ReportOutcome>>> outcomes =
      (*store)->ReportResults(pointers);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].status().code(), expected[i])
        << "report " << i << ": " << (*outcomes)[i].status();
    if ((*outcomes)[i].ok()) {
      EXPECT_EQ((*outcomes)[i]->duplicate, expected_duplicate[i]) << i;
    }
  }

  pqxx::connection db(options.database_url);
  const FrontsSeen one_at_a_time = ReadFronts(db, searches[0]);
  const FrontsSeen batched = ReadFronts(db, searches[1]);
  EXPECT_FALSE(one_at_a_time.members.empty());
  EXPECT_EQ(batched.members, one_at_a_time.members);
  ASSERT_EQ(batched.changes.size(), one_at_a_time.changes.size());
  for (size_t i = 0; i < batched.changes.size(); ++i) {
    EXPECT_EQ(batched.changes[i].first, one_at_a_time.changes[i].first) << i;
    EXPECT_DOUBLE_EQ(batched.changes[i].second, one_at_a_time.changes[i].second) << i;
  }
  pqxx::work tx(db);
  for (int64_t id : searches) {
    const pqxx::row r = tx.exec_params1(
        "SELECT (SELECT count(*) FROM candidates WHERE search_id = $1 AND state = 'EVALUATED'), "
        "  (SELECT count(*) FROM evaluations WHERE search_id = $1), "
        "  (SELECT count(*) FROM profile_metrics WHERE search_id = $1), "
        "  (SELECT n_evaluated FROM searches WHERE id = $1), "
        "  (SELECT state FROM searches WHERE id = $1)",
        id);
    EXPECT_EQ(r[0].as<int>(), kCandidates) << "search " << id;
    EXPECT_EQ(r[1].as<int>(), kCandidates) << "search " << id;
    EXPECT_EQ(r[2].as<int>(), 3 * kCandidates) << "search " << id;
    EXPECT_EQ(r[3].as<int>(), kCandidates) << "search " << id;
    EXPECT_EQ(r[4].as<std::string>(), "SUCCEEDED") << "search " << id;
  }
}

}  // namespace
}  // namespace nas
