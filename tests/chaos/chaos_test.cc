// The chaos suite: the real nas-controller binary over a real PostgreSQL, simulated workers over
// the real TrainerService, and faults injected while a search runs. Every scenario checks, in
// SQL and through the API: no acknowledged result lost, no candidate evaluated twice, no healthy
// candidate FAILED, the search ends by itself, and it prints the time from recovery to the next
// result. docs/reliability.md collects the figures. Over 600 lines because every scenario shares
// the fixture; the next split puts the scenarios with real nas-trainer processes in a file of
// their own.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/nas_service.grpc.pb.h"
#include "proto/trainer_service.grpc.pb.h"
#include "tests/chaos/chaos_harness.h"
#include "tests/postgres_fixture.h"

namespace nas::chaos {
namespace {

constexpr absl::Duration kTtl = absl::Seconds(5);

// A search a real nas-trainer finishes in seconds: one-block ResNets at 20 x 20, one epoch on
// `examples` training images.
nas::v1::SearchSpec SmallRealSearch(int candidates, int parallel, int examples) {
  nas::v1::SearchSpec spec;
  spec.mutable_space()->set_name("resnet");
  spec.mutable_space()->set_max_depth(1);
  spec.mutable_space()->add_width_multipliers_percent(50);
  spec.mutable_space()->add_resolutions(20);
  spec.mutable_budget()->set_max_candidates(candidates);
  spec.mutable_budget()->set_max_parallel(parallel);
  spec.mutable_recipe()->set_epochs(1);
  spec.mutable_recipe()->set_batch_size(32);
  spec.mutable_recipe()->set_train_subset(examples);
  return spec;
}

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Durable: a stopped server must keep every commit it acknowledged.
    absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start({.durable = true});
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    absl::StatusOr<std::string> url = pg_->NewDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& ch : name) {
      if (ch == '/') ch = '_';
    }
    dir_ = ::testing::TempDir() + "/" + name;
    std::system(("mkdir -p '" + dir_ + "'").c_str());
    controller_ =
        std::make_unique<ControllerProcess>(Runfile("services/nas-controller"), url_, dir_, kTtl);
    controller_->Start();
    ASSERT_TRUE(controller_->WaitServing(absl::Seconds(60))) << "see " << dir_;
  }

  void TearDown() override {
    if (HasFailure()) {
      std::printf("controller log: %s/controller.log\n", dir_.c_str());
    }
  }

  // The invariants every scenario ends with.
  // `address`: where to ask (default: the one controller).
  void ExpectNothingLost(int64_t search, Fleet& fleet, double poison = 0,
                         bool expect_success = true, std::string address = "") {
    if (address.empty()) address = controller_->address();
    if (expect_success) {
      EXPECT_EQ(WaitForEnd(address, search, absl::Minutes(3)), nas::v1::SEARCH_STATE_SUCCEEDED);
    }
    fleet.Stop();
    absl::StatusOr<Figures> f = Measure(url_, search, fleet, poison);
    ASSERT_TRUE(f.ok()) << f.status();
    std::printf("figures: %s\n", f->ToString().c_str());
    EXPECT_GT(f->acknowledged, 0);
    EXPECT_EQ(f->lost, 0);
    EXPECT_EQ(f->evaluated_twice, 0);
    EXPECT_EQ(f->healthy_failed, 0);
    EXPECT_EQ(f->poison_evaluated, 0);
    EXPECT_EQ(f->stuck, 0);
    figures_ = *f;
    for (const std::string& s : fleet.Surprises()) ADD_FAILURE() << "unexpected answer: " << s;
  }

  // Recovery: from `recovered` to the next acknowledged result.
  void PrintRecovery(const char* fault, Fleet& fleet, absl::Time recovered) {
    const absl::Time next = fleet.FirstAckAfter(recovered);
    EXPECT_LT(next, absl::InfiniteFuture()) << "no result after the " << fault;
    std::printf("recovery: %s: next result %.2f s after recovery\n", fault,
                absl::ToDoubleSeconds(next - recovered));
    EXPECT_LT(next - recovered, absl::Seconds(30)) << fault;
  }

  std::unique_ptr<TestPostgres> pg_;
  std::string url_;
  std::string dir_;
  std::unique_ptr<ControllerProcess> controller_;
  Figures figures_;
};

TEST_F(ChaosTest, ThirtyTwoWorkersAThousandCandidatesSomeVanish) {
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 1000, 64);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(), {.workers = 32});
  ASSERT_TRUE(WaitForAcks(fleet, 200, absl::Minutes(2)));
  fleet.Vanish(4);  // killed workers: their leases expire and are re-queued
  ExpectNothingLost(*search, fleet);
  EXPECT_GE(figures_.expired_leases, 4);
  EXPECT_EQ(figures_.evaluated, 1000);
}

class ControllerKillTest : public ChaosTest, public ::testing::WithParamInterface<int> {};

TEST_P(ControllerKillTest, KilledControllerWithDowntimeWhileWorkersKeepGoing) {
  const absl::Duration downtime = absl::Seconds(GetParam());
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 300, 32);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(), {.workers = 16});
  ASSERT_TRUE(WaitForAcks(fleet, 100, absl::Minutes(2)));
  controller_->Kill();
  absl::SleepFor(downtime);
  EXPECT_EQ(controller_->Health(), -1);
  controller_->Start();
  ASSERT_TRUE(controller_->WaitServing(absl::Seconds(60)));
  const absl::Time recovered = absl::Now();
  ExpectNothingLost(*search, fleet);
  PrintRecovery(absl::StrCat("controller kill -9 with ", GetParam(), " s downtime").c_str(), fleet,
                recovered);
  // Leases out during the outage were extended, not charged. A lease granted in the instant of
  // the kill, whose answer never reached its worker, expires, but is not charged either: every
  // candidate was charged one attempt, its successful one.
  EXPECT_EQ(figures_.max_attempts, 1);
}

INSTANTIATE_TEST_SUITE_P(Downtime, ControllerKillTest, ::testing::Values(0, 20, 60));

TEST_F(ChaosTest, DatabaseStoppedForTwentySecondsMidSearch) {
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 300, 32);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(), {.workers = 16});
  ASSERT_TRUE(WaitForAcks(fleet, 100, absl::Minutes(2)));
  ASSERT_TRUE(pg_->Stop().ok());
  const absl::Time stopped = absl::Now();
  absl::Time not_serving_at = absl::InfiniteFuture();
  while (absl::Now() - stopped < absl::Seconds(20)) {
    if (controller_->Health() == 0 && not_serving_at == absl::InfiniteFuture()) {
      not_serving_at = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  ASSERT_LT(not_serving_at, absl::InfiniteFuture()) << "health said SERVING with the database down";
  std::printf("health: NOT_SERVING %.2f s after the database stopped\n",
              absl::ToDoubleSeconds(not_serving_at - stopped));
  EXPECT_LT(not_serving_at - stopped, absl::Seconds(10));
  ASSERT_TRUE(pg_->Resume().ok());
  const absl::Time resumed = absl::Now();
  ASSERT_TRUE(controller_->WaitServing(absl::Seconds(30)));
  std::printf("health: SERVING again %.2f s after the database came back\n",
              absl::ToDoubleSeconds(absl::Now() - resumed));
  ExpectNothingLost(*search, fleet);
  PrintRecovery("database stopped 20 s", fleet, resumed);
  // Leases out during the outage were extended, not charged. A lease whose grant committed as
  // the database stopped, its acknowledgement lost with the connection (a commit in doubt),
  // never reached its worker: it expires (about one run in four here, one lease), but is not
  // charged either: every candidate was charged one attempt, its successful one.
  EXPECT_LE(figures_.expired_leases, 2);
  EXPECT_EQ(figures_.max_attempts, 1);
}

// A controller (re)started while its database is down waits for it and comes up by itself.
TEST_F(ChaosTest, ControllerRestartedWhileItsDatabaseIsDown) {
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 200, 16);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(), {.workers = 8});
  ASSERT_TRUE(WaitForAcks(fleet, 50, absl::Minutes(1)));
  controller_->Kill();
  ASSERT_TRUE(pg_->Stop().ok());
  controller_->Start();
  absl::SleepFor(absl::Seconds(5));
  EXPECT_EQ(controller_->Health(), -1);  // waiting for its database, not serving anything
  ASSERT_TRUE(pg_->Resume().ok());
  const absl::Time resumed = absl::Now();
  ASSERT_TRUE(controller_->WaitServing(absl::Seconds(30)));
  std::printf("start: serving %.2f s after the database came back\n",
              absl::ToDoubleSeconds(absl::Now() - resumed));
  ExpectNothingLost(*search, fleet);
  PrintRecovery("controller restarted during a database outage", fleet, resumed);
  EXPECT_EQ(figures_.max_attempts, 1);
}

TEST_F(ChaosTest, ReplayedStaleForeignAndBogusReportsChangeNothing) {
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 150, 16);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(), {.workers = 8});
  ASSERT_TRUE(WaitForAcks(fleet, 20, absl::Minutes(1)));
  fleet.Vanish(1);
  auto stub = nas::v1::TrainerService::NewStub(
      grpc::CreateChannel(controller_->address(), grpc::InsecureChannelCredentials()));
  auto report = [&](const nas::v1::ReportResultRequest& req) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kWorkerToken));
    nas::v1::ReportResultResponse resp;
    grpc::Status st = stub->ReportResult(&ctx, req, &resp);
    return std::make_pair(st, resp.duplicate());
  };
  pqxx::connection c(url_);
  std::map<int64_t, int64_t> lease_worker;  // lease -> worker id in the store
  int replays = 0, foreign = 0, bogus = 0, stale = 0;
  const absl::Time until = absl::Now() + absl::Seconds(15);
  while (absl::Now() < until) {
    std::vector<Ack> acks = fleet.Acks();
    pqxx::work tx(c);
    for (const pqxx::row& r :
         tx.exec_params("SELECT id, worker_id, state FROM leases WHERE search_id = $1", *search)) {
      lease_worker[r[0].as<int64_t>()] = r[1].as<int64_t>();
      if (r[2].as<std::string>() == "EXPIRED") {
        // A stale lease's late report is fenced.
        nas::v1::ReportResultRequest req;
        req.set_worker_id(r[1].as<int64_t>());
        req.set_lease_id(r[0].as<int64_t>());
        req.mutable_metrics()->set_val_accuracy(0.99);
        auto [st, dup] = report(req);
        EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
        ++stale;
      }
    }
    tx.commit();
    for (const Ack& a : acks) {
      if (!a.success) continue;
      const int64_t owner = lease_worker[a.lease_id];
      nas::v1::ReportResultRequest req;
      req.set_lease_id(a.lease_id);
      req.set_worker_id(owner);
      // A replay with other figures: acknowledged as a duplicate, stores nothing new.
      req.mutable_metrics()->set_val_accuracy(0.01);
      auto [st, dup] = report(req);
      EXPECT_TRUE(st.ok()) << st.error_message();
      EXPECT_TRUE(dup);
      ++replays;
      // Another worker's report on the lease: refused.
      req.set_worker_id(owner + 1000000);
      EXPECT_NE(report(req).first.error_code(), grpc::StatusCode::OK);
      ++foreign;
      // A figure no device measures: refused before it reaches the store.
      req.set_worker_id(owner);
      req.mutable_metrics()->set_val_accuracy(0.5);
      req.mutable_metrics()->set_latency_ms(std::numeric_limits<double>::infinity());
      grpc::Status inf = report(req).first;
      EXPECT_EQ(inf.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_NE(inf.error_message().find("metrics.latency_ms"), std::string::npos);
      ++bogus;
      if (replays >= 200) break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  std::printf("mischief: %d replays, %d foreign, %d bogus, %d stale reports\n", replays, foreign,
              bogus, stale);
  EXPECT_GT(stale, 0);
  ExpectNothingLost(*search, fleet);
  // Every stored accuracy is the first report's, never a replay's 0.01.
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM evaluations e JOIN candidates c ON "
                            "c.id = e.candidate_id WHERE c.search_id = $1 AND "
                            "e.val_accuracy < 0.5",
                            *search)[0]
                .as<int>(),
            0);
}

TEST_F(ChaosTest, PoisonCandidatesAndOneFailingWorkerAmongHealthyOnes) {
  constexpr double kPoison = 0.05;
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 200, 8);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(controller_->address(),
              {.workers = 4, .failing_workers = 1, .poison_fraction = kPoison});
  ExpectNothingLost(*search, fleet, kPoison);
  EXPECT_GT(figures_.poison_failed, 0);
  // The failing worker (index 0) was quarantined and told so; no healthy one was.
  EXPECT_EQ(figures_.quarantined_workers, 1);
  std::map<int, int> told = fleet.QuarantineAnswers();
  EXPECT_GT(told[0], 0);
  EXPECT_EQ(told.size(), 1u);
}

TEST_F(ChaosTest, CancelWithLeasesOut) {
  absl::StatusOr<int64_t> search = SubmitSearch(controller_->address(), 400, 16);
  ASSERT_TRUE(search.ok()) << search.status();
  Fleet fleet(
      controller_->address(),
      {.workers = 8, .work_min = absl::Milliseconds(300), .work_max = absl::Milliseconds(900)});
  ASSERT_TRUE(WaitForAcks(fleet, 20, absl::Minutes(1)));
  ASSERT_TRUE(CancelSearch(controller_->address(), *search).ok());
  EXPECT_EQ(WaitForEnd(controller_->address(), *search, absl::Seconds(5)),
            nas::v1::SEARCH_STATE_CANCELLED);
  absl::SleepFor(absl::Seconds(2));  // reports of revoked leases come in and are fenced
  ExpectNothingLost(*search, fleet, 0, /*expect_success=*/false);
}

// Three controllers on one database, 32 simulated workers and two real nas-trainer processes
// spread over all three (round robin over one target of every replica), and one controller
// killed with kill -9 mid-search: the others take its calls (heartbeats and reports of leases
// it granted included), periodic duties go on, a watcher on another controller sees every
// event, and both searches end with nothing lost or evaluated twice and no manual step.
TEST_F(ChaosTest, ThreeControllersOneKilledMidSearch) {
  std::vector<std::unique_ptr<ControllerProcess>> others;
  for (int i = 2; i <= 3; ++i) {
    const std::string dir = absl::StrCat(dir_, "/controller", i);
    std::system(("mkdir -p '" + dir + "'").c_str());
    others.push_back(
        std::make_unique<ControllerProcess>(Runfile("services/nas-controller"), url_, dir, kTtl));
    others.back()->Start();
  }
  for (auto& c : others) ASSERT_TRUE(c->WaitServing(absl::Seconds(60)));
  const std::string every = absl::StrCat("ipv4:", controller_->address(), ",", others[0]->address(),
                                         ",", others[1]->address());
  // The survivors only: where the test asks once controller 1 is dead.
  const std::string survivors =
      absl::StrCat("ipv4:", others[0]->address(), ",", others[1]->address());

  // The simulated fleet's search first: on the default dataset, it is accepted before any
  // worker has registered; once the real trainers below serve only their own dataset, it would
  // be refused until the fleet registers (no registered worker would serve it).
  absl::StatusOr<int64_t> search = SubmitSearch(every, 400, 32);
  ASSERT_TRUE(search.ok()) << search.status();

  // Two real trainers, serving Fashion-MNIST under a name of their own so that only they take
  // the small real search, and the simulated fleet only the large one.
  std::vector<pid_t> trainers;
  for (int i = 0; i < 2; ++i) {
    trainers.push_back(SpawnLogged(
        {Runfile("trainer/nas-trainer"), "--controller=" + every,
         "--worker_token_file=" + dir_ + "/worker.token", "--threads=1", "--max_backoff=1s",
         "--dataset=fmnist-real=idx:/usr/share/datasets/fashion-mnist"},
        absl::StrCat(dir_, "/trainer", i, ".log")));
    ASSERT_GT(trainers.back(), 0);
  }
  auto stub =
      nas::v1::NasService::NewStub(grpc::CreateChannel(every, grpc::InsecureChannelCredentials()));
  nas::v1::SubmitSearchRequest real;
  *real.mutable_spec() = SmallRealSearch(/*candidates=*/4, /*parallel=*/2, /*examples=*/3000);
  real.mutable_spec()->set_display_name("real, beside the simulated one");
  real.mutable_spec()->set_dataset("fmnist-real");
  nas::v1::Search real_search;
  // Refused until a trainer serving the dataset has registered.
  for (const absl::Time until = absl::Now() + absl::Seconds(90); absl::Now() < until;) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    if (stub->SubmitSearch(&ctx, real, &real_search).ok()) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_GT(real_search.id(), 0) << "no trainer registered; see " << dir_ << "/trainer0.log";

  // A watcher on controller 3, which stores only some of the events it must show.
  std::atomic<int> watched_evaluations{0};
  std::atomic<bool> watched_end{false};
  std::thread watcher([&] {
    auto watch = nas::v1::NasService::NewStub(
        grpc::CreateChannel(others[1]->address(), grpc::InsecureChannelCredentials()));
    int64_t after = 0;
    for (const absl::Time until = absl::Now() + absl::Minutes(4);
         !watched_end && absl::Now() < until;) {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
      nas::v1::WatchSearchRequest req;
      req.set_search_id(*search);
      req.set_after_event_id(after);
      auto reader = watch->WatchSearch(&ctx, req);
      nas::v1::SearchEvent e;
      while (reader->Read(&e)) {
        after = e.event_id();
        if (e.kind() == nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED) ++watched_evaluations;
        if (e.kind() == nas::v1::SEARCH_EVENT_KIND_SEARCH_ENDED) watched_end = true;
      }
      reader->Finish();
    }
  });

  Fleet fleet(every, {.workers = 32});
  ASSERT_TRUE(WaitForAcks(fleet, 100, absl::Minutes(2)));
  // Wait for a real lease too, so that a real training spans the kill.
  pqxx::connection db(url_);
  const auto real_leases = [&] {
    pqxx::work tx(db);
    return tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1", real_search.id())[0]
        .as<int>();
  };
  for (const absl::Time until = absl::Now() + absl::Seconds(60);
       real_leases() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  controller_->Kill();
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(WaitForAcks(fleet, fleet.successes() + 50, absl::Minutes(1)));
  const absl::Time next = fleet.FirstAckAfter(killed);
  std::printf("failover: the next result %.3f s after one of three controllers was killed\n",
              absl::ToDoubleSeconds(next - killed));
  EXPECT_LT(next - killed, absl::Seconds(10));

  ExpectNothingLost(*search, fleet, 0, true, survivors);
  EXPECT_EQ(figures_.evaluated, 400);
  EXPECT_EQ(WaitForEnd(survivors, real_search.id(), absl::Minutes(4)),
            nas::v1::SEARCH_STATE_SUCCEEDED);
  for (pid_t t : trainers) {
    kill(t, SIGTERM);
    waitpid(t, nullptr, 0);
  }
  watcher.join();
  EXPECT_TRUE(watched_end) << "the watcher on controller 3 missed the end";
  EXPECT_EQ(watched_evaluations, 400);
  pqxx::work tx(db);
  // The real search: every candidate trained for real and evaluated once, its three files
  // stored, no lease left open.
  for (const pqxx::row& r :
       tx.exec_params("SELECT c.id, c.state, (SELECT count(*) FROM evaluations e WHERE "
                      "e.candidate_id = c.id), "
                      "  (SELECT count(*) FROM artifacts a WHERE a.candidate_id = c.id) "
                      "FROM candidates c WHERE c.search_id = $1",
                      real_search.id())) {
    EXPECT_EQ(r[1].as<std::string>(), "EVALUATED") << "candidate " << r[0].as<int64_t>();
    EXPECT_EQ(r[2].as<int>(), 1) << "candidate " << r[0].as<int64_t>();
    EXPECT_EQ(r[3].as<int>(), 3) << "candidate " << r[0].as<int64_t>();
  }
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1 AND "
                            "state = 'ACTIVE'",
                            real_search.id())[0]
                .as<int>(),
            0);
}

// A real nas-trainer finishes its candidate while the controller is down: it retries its
// upload and report until the restarted controller takes them; nothing is trained twice.
TEST_F(ChaosTest, RealTrainerFinishesWhileTheControllerIsDown) {
  auto stub = nas::v1::NasService::NewStub(
      grpc::CreateChannel(controller_->address(), grpc::InsecureChannelCredentials()));
  nas::v1::SubmitSearchRequest req;
  *req.mutable_spec() = SmallRealSearch(/*candidates=*/2, /*parallel=*/1, /*examples=*/12000);
  nas::v1::Search search;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    ASSERT_TRUE(stub->SubmitSearch(&ctx, req, &search).ok());
  }
  const std::string bin = Runfile("trainer/nas-trainer");
  const std::vector<std::string> args = {bin, "--controller=" + controller_->address(),
                                         "--worker_token_file=" + dir_ + "/worker.token",
                                         "--threads=1", "--max_backoff=1s"};
  const std::string log = dir_ + "/trainer.log";
  const pid_t trainer = SpawnLogged(args, log);
  ASSERT_GT(trainer, 0);

  // Kill the controller a moment after the first lease; stay down long past the TTL.
  pqxx::connection c(url_);
  auto leases = [&] {
    pqxx::work tx(c);
    return tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1", search.id())[0]
        .as<int>();
  };
  const absl::Time until = absl::Now() + absl::Seconds(120);
  while (leases() == 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(100));
  ASSERT_GT(leases(), 0) << "the trainer never leased; see " << log;
  absl::SleepFor(absl::Seconds(1));
  controller_->Kill();
  absl::SleepFor(absl::Seconds(20));  // training ends meanwhile; upload and report retry
  controller_->Start();
  ASSERT_TRUE(controller_->WaitServing(absl::Seconds(60)));
  EXPECT_EQ(WaitForEnd(controller_->address(), search.id(), absl::Minutes(3)),
            nas::v1::SEARCH_STATE_SUCCEEDED);
  kill(trainer, SIGTERM);
  waitpid(trainer, nullptr, 0);

  pqxx::work tx(c);
  // Each candidate was leased once and evaluated once: the finished result survived.
  for (const pqxx::row& r : tx.exec_params(
           "SELECT id, state, attempts FROM candidates WHERE search_id = $1", search.id())) {
    EXPECT_EQ(r[1].as<std::string>(), "EVALUATED") << "candidate " << r[0].as<int64_t>();
    EXPECT_EQ(r[2].as<int>(), 1) << "candidate " << r[0].as<int64_t>() << " trained again";
  }
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1 AND "
                            "state <> 'COMPLETED'",
                            search.id())[0]
                .as<int>(),
            0);
  // Both models, each in its three formats (TorchScript, ONNX fp32, ONNX int8), uploaded
  // through the outage.
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM artifacts a JOIN candidates c ON "
                            "c.id = a.candidate_id WHERE c.search_id = $1",
                            search.id())[0]
                .as<int>(),
            2 * 3);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(text.find("event=report_retry") != std::string::npos ||
              text.find("event=upload_retry") != std::string::npos)
      << "the trainer never had to retry: the fault missed the window";
}

}  // namespace
}  // namespace nas::chaos

namespace nas::chaos {
namespace {

// A worker killed (kill -9) in the middle of a 5-epoch final training costs at most the
// epoch it was in: it had uploaded a checkpoint at each epoch's end, the lease expires, and the
// next worker resumes from the last checkpoint. The finalist is evaluated once, says how many
// epochs it resumed, and leaves no checkpoint behind.
TEST_F(ChaosTest, AWorkerKilledInALongTrainingCostsAtMostAnEpoch) {
  auto stub = nas::v1::NasService::NewStub(
      grpc::CreateChannel(controller_->address(), grpc::InsecureChannelCredentials()));
  nas::v1::SubmitSearchRequest req;
  *req.mutable_spec() = SmallRealSearch(/*candidates=*/2, /*parallel=*/1, /*examples=*/2000);
  nas::v1::FinalTraining* final_training = req.mutable_spec()->mutable_final_training();
  final_training->set_finalists_per_profile(1);
  final_training->set_epochs(5);
  final_training->set_train_subset(4000);
  nas::v1::Search search;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    const grpc::Status st = stub->SubmitSearch(&ctx, req, &search);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  auto trainer_args = [&] {
    return std::vector<std::string>{Runfile("trainer/nas-trainer"),
                                    "--controller=" + controller_->address(),
                                    "--worker_token_file=" + dir_ + "/worker.token",
                                    "--threads=1",
                                    "--max_backoff=1s",
                                    "--checkpoint_after=0s"};
  };
  const pid_t first = SpawnLogged(trainer_args(), dir_ + "/trainer1.log");
  ASSERT_GT(first, 0);

  // Kill the worker as soon as the final training has checkpointed an epoch (only it has
  // several epochs; a search-phase training of one epoch never checkpoints).
  pqxx::connection db(url_);
  auto checkpoint = [&]() -> std::pair<int64_t, int> {
    pqxx::work tx(db);
    const pqxx::result r = tx.exec_params(
        "SELECT candidate_id, metadata FROM artifacts WHERE search_id = $1 "
        "AND format = 'training-checkpoint'",
        search.id());
    if (r.empty()) return {0, 0};
    const pqxx::binarystring bytes(r[0][1]);
    nas::v1::ModelMetadata meta;
    meta.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    return {r[0][0].as<int64_t>(), meta.checkpoint_epochs()};
  };
  std::pair<int64_t, int> at_kill{0, 0};
  for (const absl::Time until = absl::Now() + absl::Minutes(3);
       at_kill.first == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(20));
    at_kill = checkpoint();
  }
  kill(first, SIGKILL);
  waitpid(first, nullptr, 0);
  ASSERT_GT(at_kill.first, 0) << "no checkpoint within 3 minutes; see " << dir_ << "/trainer1.log";
  at_kill = checkpoint();  // the last one the killed worker stored
  ASSERT_GT(at_kill.first, 0) << "the training ended before the kill";
  std::printf("killed the worker with the finalist's checkpoint of epoch %d of 5 stored\n",
              at_kill.second);

  const pid_t second = SpawnLogged(trainer_args(), dir_ + "/trainer2.log");
  ASSERT_GT(second, 0);
  EXPECT_EQ(WaitForEnd(controller_->address(), search.id(), absl::Minutes(4)),
            nas::v1::SEARCH_STATE_SUCCEEDED);
  kill(second, SIGTERM);
  waitpid(second, nullptr, 0);

  pqxx::work tx(db);
  const pqxx::result e =
      tx.exec_params("SELECT metrics FROM evaluations WHERE candidate_id = $1", at_kill.first);
  ASSERT_EQ(e.size(), 1u) << "the finalist was evaluated " << e.size() << " times";
  const pqxx::binarystring bytes(e[0][0]);
  nas::v1::CandidateMetrics metrics;
  ASSERT_TRUE(metrics.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  EXPECT_EQ(metrics.resumed_epochs(), at_kill.second)
      << "resumed elsewhere than the last checkpoint before the kill";
  EXPECT_GE(metrics.test_accuracy(), 0);
  // Two leases: the one lost with the worker (expired) and the one that finished.
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM leases WHERE candidate_id = $1", at_kill.first)[0]
                .as<int>(),
            2);
  // The finished model's three files; the checkpoint deleted with the result stored.
  EXPECT_EQ(
      tx.exec_params1("SELECT count(*) FROM artifacts WHERE candidate_id = $1", at_kill.first)[0]
          .as<int>(),
      3);
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM artifacts WHERE search_id = $1 AND "
                            "format = 'training-checkpoint'",
                            search.id())[0]
                .as<int>(),
            0);
  std::ifstream in(dir_ + "/trainer2.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find(absl::StrCat("event=training_resumed search=", search.id(),
                                  " candidate=", at_kill.first, " epochs=", at_kill.second)),
            std::string::npos)
      << "see " << dir_ << "/trainer2.log";
}

}  // namespace
}  // namespace nas::chaos
