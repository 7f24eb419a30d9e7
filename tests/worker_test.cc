// nas-trainer's worker loop against a real controller and PostgreSQL, training real candidates
// on Fashion-MNIST; a worker stopped mid-training (as on SIGTERM) then replaced; and the real
// nas-trainer binary terminated, killed and restarted.
//
// Long (about 700 lines) on purpose: the scenarios share one fixture (a controller on a real
// PostgreSQL, worker options, the spawned nas-trainer helpers) and each reads best beside it.
#include "trainer/worker.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "common/onnx_check.h"
#include "gtest/gtest.h"
#include "tests/controller_harness.h"
#include "trainer/training.h"

namespace nas {
namespace {

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerOptions scheduler;
    scheduler.lease_ttl = absl::Seconds(3);  // Heartbeats every second.
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create(scheduler);
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
  }

  nas::v1::Search Submit(int candidates, int train_subset,
                         const std::function<void(nas::v1::SearchSpec*)>& edit = nullptr) {
    nas::v1::SubmitSearchRequest req;
    nas::v1::SearchSpec* spec = req.mutable_spec();
    spec->mutable_space()->set_name("resnet");
    spec->mutable_space()->set_max_depth(1);
    spec->mutable_space()->add_width_multipliers_percent(50);
    spec->mutable_space()->add_resolutions(20);
    spec->mutable_budget()->set_max_candidates(candidates);
    spec->mutable_budget()->set_max_parallel(1);
    spec->mutable_recipe()->set_epochs(1);
    spec->mutable_recipe()->set_batch_size(32);
    spec->mutable_recipe()->set_train_subset(train_subset);
    spec->mutable_recipe()->set_validation_examples(2000);
    if (edit) edit(spec);
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::Search search;
    EXPECT_TRUE(harness_->Nas()->SubmitSearch(&ctx, req, &search).ok());
    return search;
  }

  nas::v1::Search Get(int64_t id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetSearchRequest req;
    req.set_search_id(id);
    nas::v1::Search s;
    EXPECT_TRUE(harness_->Nas()->GetSearch(&ctx, req, &s).ok());
    return s;
  }

  std::vector<nas::v1::Candidate> Candidates(int64_t id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::ListCandidatesRequest req;
    req.set_search_id(id);
    nas::v1::ListCandidatesResponse resp;
    EXPECT_TRUE(harness_->Nas()->ListCandidates(&ctx, req, &resp).ok());
    return {resp.candidates().begin(), resp.candidates().end()};
  }

  WorkerOptions Options() {
    WorkerOptions o;
    o.controller = absl::StrCat("127.0.0.1:", harness_->port());
    o.worker_token = kTestWorkerToken;
    o.lease_wait = absl::Seconds(1);
    return o;
  }

  // A fetched model: its metadata, and the accuracy of the TorchScript module LibTorch loads
  // from the file on the validation and test splits the workers use.
  struct FetchedModel {
    nas::v1::ModelMetadata meta;
    double val_accuracy = -1;
    double test_accuracy = -1;
    std::string file;
  };

  FetchedModel FetchAndScore(int64_t candidate_id, const std::string& format = "") {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(candidate_id);
    req.set_format(format);
    auto reader = harness_->Nas()->FetchModel(&ctx, req);
    nas::v1::FetchModelResponse msg;
    FetchedModel fetched;
    std::string file;
    while (reader->Read(&msg)) {
      if (msg.has_metadata()) fetched.meta = msg.metadata();
      file += msg.chunk();
    }
    EXPECT_TRUE(reader->Finish().ok());
    fetched.file = file;
    if (fetched.meta.format() != "torchscript") return fetched;
    std::istringstream in(file);
    torch::jit::Module model = torch::jit::load(in);
    absl::StatusOr<ImageDataset> data = LoadDataset(nas::FashionMnist());
    EXPECT_TRUE(data.ok());
    const TensorData tensors = MakeTensorData(*data, SplitTrainValidation(*data, 2000, 0));
    torch::NoGradGuard no_grad;
    auto accuracy = [&](const torch::Tensor& images, const torch::Tensor& labels) {
      return model.forward({images.to(torch::kFloat32) / 255})
          .toTensor()
          .argmax(1)
          .eq(labels)
          .to(torch::kFloat64)
          .mean()
          .item<double>();
    };
    fetched.val_accuracy = accuracy(tensors.val_images, tensors.val_labels);
    fetched.test_accuracy = accuracy(tensors.test_images, tensors.test_labels);
    return fetched;
  }

  // Waits until `done(search)` or the timeout.
  template <typename Pred>
  bool WaitFor(int64_t id, Pred done, absl::Duration timeout = absl::Seconds(120)) {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      if (done(Get(id))) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return false;
  }

  // Runs `sql` on the controller's database with $1 bound to a search id: what the API does
  // not show (leases, gangs).
  pqxx::result Sql(const std::string& sql, int64_t search_id) {
    pqxx::connection db(harness_->database_url());
    pqxx::nontransaction tx(db);
    return tx.exec_params(sql, search_id);
  }

  // Waits until the search has ended (whatever its state) or the timeout.
  bool WaitForEnd(int64_t id, absl::Duration timeout) {
    return WaitFor(
        id, [](const nas::v1::Search& s) { return s.state() != nas::v1::SEARCH_STATE_RUNNING; },
        timeout);
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::string alice_;
};

TEST_F(WorkerTest, TrainsAndMeasuresRealCandidates) {
  nas::v1::Search search = Submit(/*candidates=*/2, /*train_subset=*/2000);
  std::atomic<bool> stop{false};
  absl::Status result;
  std::thread worker([&] { result = Worker(Options()).Run(&stop); });
  const bool finished = WaitFor(search.id(), [](const nas::v1::Search& s) {
    return s.state() == nas::v1::SEARCH_STATE_SUCCEEDED;
  });
  stop = true;
  worker.join();
  ASSERT_TRUE(finished) << Get(search.id()).DebugString();
  EXPECT_TRUE(result.ok()) << result;
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
    EXPECT_GT(c.metrics().val_accuracy(), 0.4) << c.DebugString();  // Chance is 0.10.
    // Trained at the recipe's full fidelity: a finished model, whose test accuracy is measured.
    EXPECT_GT(c.metrics().test_accuracy(), 0.4) << c.DebugString();
    EXPECT_GT(c.metrics().params(), 1000);
    EXPECT_GT(c.metrics().macs(), c.metrics().params());
    EXPECT_GT(c.metrics().latency_ms(), 0);
    EXPECT_EQ(c.metrics().latency_threads(), 1);
    ASSERT_EQ(c.profile_metrics_size(), 1);
    EXPECT_EQ(c.profile_metrics(0).latency_source(), nas::v1::LATENCY_SOURCE_MEASURED);
    EXPECT_TRUE(c.profile_metrics(0).feasible());
    EXPECT_TRUE(c.has_artifact());
  }

  // The fetched model is TorchScript that LibTorch loads and that classifies the validation
  // examples as well as the worker reported: the same network, exported.
  const nas::v1::Candidate best = Candidates(search.id())[0];
  const FetchedModel fetched = FetchAndScore(best.id());
  EXPECT_EQ(fetched.meta.format(), "torchscript");
  EXPECT_EQ(fetched.meta.classes_size(), 10);
  EXPECT_EQ(fetched.meta.input_shape_size(), 4);
  EXPECT_EQ(fetched.meta.architecture().SerializeAsString(),
            best.architecture().SerializeAsString());
  EXPECT_NEAR(fetched.val_accuracy, best.metrics().val_accuracy(), 1e-3);
  EXPECT_NEAR(fetched.test_accuracy, best.metrics().test_accuracy(), 1e-3);

  // The int8 model was measured on both splits, close to the fp32 one, and every finished model
  // is also stored as ONNX fp32 and ONNX int8 QDQ, each passing ONNX's checker, with the input
  // contract in its metadata (tests/onnx_verify_test.py runs them outside our code).
  ASSERT_TRUE(best.metrics().has_int8_val_accuracy());
  EXPECT_NEAR(best.metrics().int8_val_accuracy(), best.metrics().val_accuracy(), 0.05);
  EXPECT_NEAR(best.metrics().int8_test_accuracy(), best.metrics().test_accuracy(), 0.05);
  EXPECT_GT(best.metrics().int8_model_bytes(), 0);
  for (const std::string format : {"onnx-fp32", "onnx-int8"}) {
    const FetchedModel onnx = FetchAndScore(best.id(), format);
    EXPECT_EQ(onnx.meta.format(), format);
    EXPECT_TRUE(CheckOnnxModel(onnx.file, format).ok()) << CheckOnnxModel(onnx.file, format);
    EXPECT_EQ(onnx.meta.formats_size(), 3);
    const nas::v1::InputContract& in = onnx.meta.input();
    EXPECT_EQ(in.dtype(), "float32");
    EXPECT_EQ(in.value_min(), 0);
    EXPECT_EQ(in.value_max(), 1);
    EXPECT_TRUE(in.normalised_inside());
    EXPECT_EQ(in.channel_order(), "gray");
    EXPECT_EQ(in.shape_size(), 4);
    EXPECT_EQ(onnx.meta.quantization().calibration(), "minmax");
    EXPECT_GT(onnx.meta.quantization().activation_scales_size(), 3);
    EXPECT_EQ(onnx.meta.metrics().int8_val_accuracy(), best.metrics().int8_val_accuracy());
    EXPECT_EQ(onnx.meta.profiles_size(), 1);
  }
  // The int8 file is the size the cost model gave the int8 graph, within 10%.
  const FetchedModel int8 = FetchAndScore(best.id(), "onnx-int8");
  EXPECT_NEAR(static_cast<double>(int8.file.size()) / best.metrics().int8_model_bytes(), 1.0, 0.1);
}

TEST_F(WorkerTest, LowerRungsTrainOnLessDataAndOnlyFinishedModelsAreKept) {
  // Two rungs, eta 2, on a modelled profile: both architectures of the narrowed space (stem 8
  // or 16) on half of 2,000 examples, the better one again on all of them.
  nas::v1::Search search = Submit(/*candidates=*/2, /*train_subset=*/2000, [](auto* spec) {
    spec->add_profile_ids("rpi4-cortex-a72");
    spec->mutable_multi_fidelity()->set_rungs(2);
    spec->mutable_multi_fidelity()->set_eta(2);
  });
  std::atomic<bool> stop{false};
  absl::Status result;
  std::thread worker([&] { result = Worker(Options()).Run(&stop); });
  const bool finished = WaitFor(search.id(), [](const nas::v1::Search& s) {
    return s.state() == nas::v1::SEARCH_STATE_SUCCEEDED;
  });
  stop = true;
  worker.join();
  ASSERT_TRUE(finished) << Get(search.id()).DebugString();
  int finished_models = 0;
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    // No measured profile here: nobody times the host.
    EXPECT_EQ(c.metrics().latency_ms(), 0);
    EXPECT_EQ(c.profile_metrics(0).latency_source(), nas::v1::LATENCY_SOURCE_MODELLED);
    if (c.fidelity().rung() == 0) {
      EXPECT_EQ(c.metrics().test_accuracy(), -1);
      EXPECT_FALSE(c.has_artifact());
    } else {
      ++finished_models;
      EXPECT_GT(c.metrics().test_accuracy(), 0.3) << c.DebugString();
      EXPECT_TRUE(c.has_artifact());
    }
  }
  EXPECT_EQ(finished_models, 1);
}

// A real measure-only worker (trainer/jobs.cc MeasureOnly, --measure_only) of a device nobody
// trains on times the candidates a real training worker finished, from their architectures alone.
TEST_F(WorkerTest, AMeasureOnlyWorkerTimesCandidatesTrainedElsewhere) {
  {
    nas::v1::RegisterHardwareProfileRequest reg;
    reg.mutable_profile()->set_name("tiny-board");
    reg.mutable_profile()->set_kind(nas::v1::PROFILE_KIND_MEASURED);
    reg.mutable_profile()->set_device_tag("tiny-board");
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::HardwareProfile registered;
    ASSERT_TRUE(harness_->Nas()->RegisterHardwareProfile(&ctx, reg, &registered).ok());
  }
  nas::v1::Search search =
      Submit(/*candidates=*/2, /*train_subset=*/500, [](nas::v1::SearchSpec* spec) {
        spec->add_profile_ids("host-cpu");
        spec->add_profile_ids("tiny-board");
      });
  std::atomic<bool> stop{false};
  WorkerOptions trainer = Options();
  trainer.max_tasks = 2;
  ASSERT_TRUE(Worker(trainer).Run(&stop).ok());
  ASSERT_EQ(Get(search.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED);

  WorkerOptions meter = Options();
  meter.device_tag = "tiny-board";
  meter.measure_only = true;
  meter.max_tasks = 2;
  ASSERT_TRUE(Worker(meter).Run(&stop).ok());
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    ASSERT_EQ(c.profile_metrics_size(), 2);
    const nas::v1::ProfileMetrics& board = c.profile_metrics(1);
    EXPECT_EQ(board.profile_id(), "tiny-board@1");
    EXPECT_EQ(board.latency_source(), nas::v1::LATENCY_SOURCE_MEASURED) << c.DebugString();
    EXPECT_GT(board.latency_ms(), 0);
    EXPECT_TRUE(board.feasible()) << c.DebugString();
    // The training worker's own measurement and accuracy stay as they were.
    EXPECT_GT(c.metrics().val_accuracy(), 0.2);
    EXPECT_GT(c.profile_metrics(0).latency_ms(), 0);
  }
}

TEST_F(WorkerTest, AStoppedWorkerReturnsItsLeaseAndANewOneFinishes) {
  // Enough data that training takes a few seconds on one thread.
  nas::v1::Search search = Submit(/*candidates=*/1, /*train_subset=*/40000);
  std::atomic<bool> stop{false};
  std::thread first([&] { EXPECT_TRUE(Worker(Options()).Run(&stop).ok()); });
  ASSERT_TRUE(
      WaitFor(search.id(), [](const nas::v1::Search& s) { return s.progress().leased() == 1; }));
  absl::SleepFor(absl::Seconds(2));  // Training is under way; heartbeats keep the lease alive.
  stop = true;
  first.join();
  std::vector<nas::v1::Candidate> after_stop = Candidates(search.id());
  ASSERT_EQ(after_stop.size(), 1u);
  EXPECT_EQ(after_stop[0].state(), nas::v1::CANDIDATE_STATE_QUEUED);  // Returned, not expired.
  EXPECT_EQ(after_stop[0].attempts(), 0);  // A returned lease costs the candidate nothing.

  std::atomic<bool> stop_second{false};
  WorkerOptions options = Options();
  options.max_tasks = 1;
  absl::Status second = Worker(options).Run(&stop_second);
  EXPECT_TRUE(second.ok()) << second;
  std::vector<nas::v1::Candidate> done = Candidates(search.id());
  EXPECT_EQ(done[0].state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_EQ(done[0].attempts(), 1);
  EXPECT_EQ(Get(search.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED);
}

// The real nas-trainer binary, started as a child process.
class TrainerProcess {
 public:
  TrainerProcess(int port, const std::string& token_file, int max_tasks) {
    const std::vector<std::string> args = {"trainer/nas-trainer",
                                           absl::StrCat("--controller=127.0.0.1:", port),
                                           "--worker_token_file=" + token_file,
                                           absl::StrCat("--max_tasks=", max_tasks), "--threads=1"};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  }
  ~TrainerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  void Signal(int sig) { kill(pid_, sig); }
  // Waits for the process; returns its exit code, or 128 + the signal that ended it.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = 0;
};

TEST_F(WorkerTest, TheTrainerBinaryTerminatedKilledAndRestartedFinishesTheSearch) {
  const std::string token_file =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/worker.token";
  std::ofstream(token_file) << kTestWorkerToken << "\n";
  // Enough data that training takes several seconds on one thread.
  nas::v1::Search search = Submit(/*candidates=*/1, /*train_subset=*/50000);
  auto leased = [](const nas::v1::Search& s) { return s.progress().leased() == 1; };

  // SIGTERM: the lease goes back at once and the process exits 0.
  {
    TrainerProcess trainer(harness_->port(), token_file, 0);
    ASSERT_TRUE(WaitFor(search.id(), leased));
    absl::SleepFor(absl::Seconds(1));
    trainer.Signal(SIGTERM);
    EXPECT_EQ(trainer.Wait(), 0);
    std::vector<nas::v1::Candidate> c = Candidates(search.id());
    EXPECT_EQ(c[0].state(), nas::v1::CANDIDATE_STATE_QUEUED);
    EXPECT_EQ(c[0].attempts(), 0);
  }
  // SIGKILL: nothing is returned; the lease expires (TTL 3 s) and the candidate is re-queued.
  {
    TrainerProcess trainer(harness_->port(), token_file, 0);
    ASSERT_TRUE(WaitFor(search.id(), leased));
    absl::SleepFor(absl::Seconds(1));
    trainer.Signal(SIGKILL);
    EXPECT_EQ(trainer.Wait(), 128 + SIGKILL);
    ASSERT_TRUE(WaitFor(
        search.id(), [](const nas::v1::Search& s) { return s.progress().queued() == 1; },
        absl::Seconds(30)));
    EXPECT_EQ(Candidates(search.id())[0].attempts(), 1);
  }
  // A restarted trainer registers afresh and finishes the search.
  TrainerProcess trainer(harness_->port(), token_file, /*max_tasks=*/1);
  EXPECT_EQ(trainer.Wait(), 0);
  std::vector<nas::v1::Candidate> done = Candidates(search.id());
  EXPECT_EQ(done[0].state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_EQ(done[0].attempts(), 2);
  EXPECT_GT(done[0].metrics().val_accuracy(), 0.4);
  EXPECT_EQ(Get(search.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED);
}

// A weight-sharing search over a narrowed MobileNetV2 space: the supernet's epochs, the
// subnets' estimates and the fine-tuned front members, with the real supernet.
void WeightSharingSpec(nas::v1::SearchSpec* spec, int supernet_epochs, int supernet_examples,
                       int subnets) {
  spec->clear_space();
  nas::v1::SearchSpace* space = spec->mutable_space();
  space->set_name("mobilenetv2");
  space->add_kernels(3);
  space->add_kernels(5);
  space->add_expansions(1);
  space->add_expansions(3);
  space->set_max_depth(2);
  space->add_resolutions(20);
  space->add_width_multipliers_percent(50);
  space->add_width_multipliers_percent(100);
  nas::v1::Strategy* strategy = spec->mutable_strategy();
  strategy->set_name("weight_sharing");
  (*strategy->mutable_settings())["supernet_epochs"] = absl::StrCat(supernet_epochs);
  (*strategy->mutable_settings())["supernet_examples"] = absl::StrCat(supernet_examples);
  (*strategy->mutable_settings())["finetune_share"] = "4";
  (*strategy->mutable_settings())["estimate_examples"] = "500";  // of the worker's 2,000
  (*strategy->mutable_settings())["population"] = "4";
  spec->mutable_budget()->set_max_candidates(subnets);
  spec->mutable_budget()->set_max_parallel(2);
  spec->mutable_recipe()->set_batch_size(64);
}

// The two workers train each supernet epoch together (supernet_workers=2), data-parallel.
TEST_F(WorkerTest, AWeightSharingSearchEstimatesSubnetsAndFineTunesFrontsForTwoProfiles) {
  nas::v1::Search search = Submit(/*candidates=*/12, /*train_subset=*/1000, [](auto* spec) {
    WeightSharingSpec(spec, /*supernet_epochs=*/2, /*supernet_examples=*/1000, 12);
    (*spec->mutable_strategy()->mutable_settings())["supernet_workers"] = "2";
    spec->add_profile_ids("rpi4-cortex-a72");
    spec->add_profile_ids("jetson-nano");
  });
  ASSERT_GT(search.id(), 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < 2; ++i) {
    workers.emplace_back([&] { EXPECT_TRUE(Worker(Options()).Run(&stop).ok()); });
  }
  const bool finished = WaitForEnd(search.id(), absl::Seconds(300));
  stop = true;
  for (auto& t : workers) t.join();
  const nas::v1::Search done = Get(search.id());
  ASSERT_TRUE(finished && done.state() == nas::v1::SEARCH_STATE_SUCCEEDED) << done.DebugString();

  int epochs = 0, estimates = 0, finetuned = 0;
  double best_estimate = 0;
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    if (c.fidelity().rung() < 0) {
      ++epochs;  // A supernet epoch: its checkpoint is the artifact.
      EXPECT_EQ(c.fidelity().epochs(), epochs);
      EXPECT_TRUE(c.has_artifact());
      EXPECT_EQ(c.profile_metrics_size(), 0);
    } else if (c.fidelity().supernet_estimate()) {
      ++estimates;  // Estimated, not trained: nothing to fetch.
      EXPECT_FALSE(c.has_artifact());
      EXPECT_EQ(c.profile_metrics_size(), 2);
      // Scored on the first 500 held-out images, not all 2,000: a multiple of 1/500 (by
      // chance, a quarter of the multiples of 1/2,000 are).
      const double correct = c.metrics().val_accuracy() * 500;
      EXPECT_NEAR(correct, std::round(correct), 1e-6) << c.metrics().val_accuracy();
      best_estimate = std::max(best_estimate, c.metrics().val_accuracy());
    } else {
      ++finetuned;
      EXPECT_EQ(c.fidelity().rung(), 1);
      EXPECT_TRUE(c.fidelity().init_from_supernet());
      EXPECT_TRUE(c.has_artifact());
      EXPECT_GT(c.metrics().test_accuracy(), 0.3) << c.DebugString();
    }
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(estimates, 12);
  {
    // Each epoch: rank 0's lease of the candidate and a rank 1 member lease naming it, held
    // by the other worker at the same time, both completed.
    const pqxx::result gangs =
        Sql("SELECT g.id, g.state, g.rendezvous IS NOT NULL, m.state, m.gang_rank, "
            "  m.worker_id <> g.worker_id, m.granted_at < g.ended_at AND g.granted_at < m.ended_at "
            "FROM leases g JOIN candidates c ON c.id = g.candidate_id "
            "JOIN leases m ON m.gang_lease_id = g.id "
            "WHERE g.search_id = $1 AND c.rung = -1 ORDER BY g.id",
            search.id());
    ASSERT_EQ(gangs.size(), 2u) << "one gang per epoch";
    for (const pqxx::row& g : gangs) {
      EXPECT_EQ(g[1].as<std::string>(), "COMPLETED") << "lease " << g[0].as<int64_t>();
      EXPECT_TRUE(g[2].as<bool>());
      EXPECT_EQ(g[3].as<std::string>(), "COMPLETED");
      EXPECT_EQ(g[4].as<int>(), 1);
      EXPECT_TRUE(g[5].as<bool>()) << "both ranks on one worker";
      EXPECT_TRUE(g[6].as<bool>()) << "the ranks did not overlap";
    }
  }
  EXPECT_EQ(finetuned, 3);        // The best quarter of the estimates.
  EXPECT_GT(best_estimate, 0.2);  // Chance is 0.1; a supernet of two short epochs.

  // Both fronts hold only fine-tuned models, and their files are the models reported.
  for (const std::string profile : {"rpi4-cortex-a72", "jetson-nano"}) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(search.id());
    req.set_profile_id(profile);
    nas::v1::ParetoFront front;
    ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok()) << profile;
    ASSERT_GE(front.members_size(), 1) << profile;
    for (const nas::v1::ParetoMember& m : front.members()) {
      const FetchedModel fetched = FetchAndScore(m.candidate_id());
      EXPECT_EQ(fetched.meta.format(), "torchscript");
      EXPECT_NEAR(fetched.val_accuracy, m.metrics().val_accuracy(), 1e-3) << profile;
    }
  }

  // A new profile on the trained supernet: a search with no supernet training at all, whose
  // worker leases its estimates in batches of up to four. Recalibrating on 40 batches makes
  // an estimate last about as long as the lease TTL, so the last of a batch waits longer
  // than that and lives only by the worker heartbeating it while it waits.
  nas::v1::Search second = Submit(4, 1000, [&](auto* spec) {
    WeightSharingSpec(spec, 2, 1000, 4);
    (*spec->mutable_strategy()->mutable_settings())["supernet_search"] = absl::StrCat(search.id());
    (*spec->mutable_strategy()->mutable_settings())["recalibration_batches"] = "40";
    spec->mutable_budget()->set_max_parallel(4);
    spec->add_profile_ids("host-cpu");
  });
  ASSERT_GT(second.id(), 0);
  std::atomic<bool> stop_second{false};
  std::thread worker([&] {
    WorkerOptions o = Options();
    o.estimate_batch = 4;
    EXPECT_TRUE(Worker(o).Run(&stop_second).ok());
  });
  const bool second_finished = WaitForEnd(second.id(), absl::Seconds(120));
  stop_second = true;
  worker.join();
  EXPECT_TRUE(second_finished);
  EXPECT_EQ(Get(second.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED)
      << Get(second.id()).DebugString();
  for (const nas::v1::Candidate& c : Candidates(second.id())) {
    EXPECT_GE(c.fidelity().rung(), 0) << "no supernet epoch: " << c.DebugString();
  }
  // A batch's leases are granted in one transaction, so they share its timestamp; each
  // finished as a lease of its own, none expired while it waited.
  const pqxx::result leases = Sql(
      "SELECT (SELECT max(n) FROM (SELECT count(*) AS n FROM leases WHERE search_id = $1 "
      "                            GROUP BY worker_id, granted_at) g), "
      "  count(*) FILTER (WHERE state = 'COMPLETED'), count(*) FILTER (WHERE state <> 'COMPLETED') "
      "FROM leases WHERE search_id = $1",
      second.id());
  EXPECT_GE(leases[0][0].as<int>(), 2) << "no two estimates leased in one call";
  EXPECT_EQ(leases[0][1].as<int>(), 5);  // 4 estimates and 1 fine-tune
  EXPECT_EQ(leases[0][2].as<int>(), 0);
}

TEST_F(WorkerTest, ASupernetEpochWhoseTrainerIsKilledResumesFromTheLastCheckpoint) {
  const std::string token_file =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/ws.token";
  std::ofstream(token_file) << kTestWorkerToken << "\n";
  // Epochs long enough (several seconds on one thread) to kill the trainer in one.
  nas::v1::Search search = Submit(4, 1000, [](auto* spec) {
    WeightSharingSpec(spec, /*supernet_epochs=*/2, /*supernet_examples=*/3000, 4);
    spec->mutable_budget()->set_max_parallel(1);
    spec->add_profile_ids("rpi4-cortex-a72");
  });
  auto epoch = [&](int n) {
    for (const nas::v1::Candidate& c : Candidates(search.id())) {
      if (c.fidelity().rung() < 0 && c.fidelity().epochs() == n) return c;
    }
    return nas::v1::Candidate();
  };
  {
    TrainerProcess trainer(harness_->port(), token_file, 0);
    // Epoch 1 done (its checkpoint stored), epoch 2 under way: then the trainer dies.
    ASSERT_TRUE(WaitFor(
        search.id(),
        [&](const nas::v1::Search&) { return epoch(2).state() == nas::v1::CANDIDATE_STATE_LEASED; },
        absl::Seconds(120)));
    absl::SleepFor(absl::Seconds(2));
    trainer.Signal(SIGKILL);
    EXPECT_EQ(trainer.Wait(), 128 + SIGKILL);
  }
  // The lease expires (TTL 3 s) and epoch 2 is queued again; epoch 1 is not redone.
  ASSERT_TRUE(WaitFor(
      search.id(),
      [&](const nas::v1::Search&) { return epoch(2).state() == nas::v1::CANDIDATE_STATE_QUEUED; },
      absl::Seconds(30)));
  EXPECT_EQ(epoch(1).state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_EQ(epoch(1).attempts(), 1);

  // A new worker resumes epoch 2 from epoch 1's checkpoint (a checkpoint of another epoch
  // would be refused by the worker) and the search goes on to its estimates and fine-tunes.
  std::atomic<bool> stop{false};
  std::thread worker([&] { EXPECT_TRUE(Worker(Options()).Run(&stop).ok()); });
  const bool finished = WaitForEnd(search.id(), absl::Seconds(180));
  stop = true;
  worker.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(Get(search.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED)
      << Get(search.id()).DebugString();
  EXPECT_EQ(epoch(1).attempts(), 1);
  EXPECT_EQ(epoch(2).attempts(), 2);
  EXPECT_EQ(epoch(2).state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_TRUE(epoch(2).has_artifact());
}

// A data-parallel epoch whose rank 1 (a nas-trainer process) is killed: rank 0's next step
// fails at once (the kernel closes the killed process's connections), rank 0 reports the
// failure, and the epoch is trained again by a new gang from the same checkpoint.
TEST_F(WorkerTest, ADataParallelEpochWhoseMemberIsKilledIsRetrainedByANewGang) {
  const std::string token_file =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/gang.token";
  std::ofstream(token_file) << kTestWorkerToken << "\n";
  nas::v1::Search search = Submit(2, 1000, [](auto* spec) {
    WeightSharingSpec(spec, /*supernet_epochs=*/1, /*supernet_examples=*/3000, 2);
    (*spec->mutable_strategy()->mutable_settings())["supernet_workers"] = "2";
    spec->add_profile_ids("rpi4-cortex-a72");
  });
  auto query = [&](const std::string& sql) { return Sql(sql, search.id()); };
  auto wait_until = [&](const std::string& sql, absl::Duration timeout) {
    for (const absl::Time until = absl::Now() + timeout; absl::Now() < until;
         absl::SleepFor(absl::Milliseconds(100))) {
      if (query(sql)[0][0].as<bool>()) return true;
    }
    return false;
  };
  // Rank 0 first, in this process; it waits for a second worker.
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  workers.emplace_back([&] { EXPECT_TRUE(Worker(Options()).Run(&stop).ok()); });
  ASSERT_TRUE(
      wait_until("SELECT count(*) > 0 FROM leases WHERE search_id = $1 AND rendezvous IS NOT NULL",
                 absl::Seconds(60)));
  absl::Time killed;
  {
    TrainerProcess member(harness_->port(), token_file, 0);
    ASSERT_TRUE(wait_until("SELECT count(*) > 0 FROM leases WHERE search_id = $1 AND gang_rank = 1",
                           absl::Seconds(60)));
    absl::SleepFor(absl::Seconds(2));  // well into the epoch (several seconds on one thread)
    member.Signal(SIGKILL);
    killed = absl::Now();
    EXPECT_EQ(member.Wait(), 128 + SIGKILL);
  }
  // Rank 0 fails at its next step, long before the gang timeout (2 min) or the TTL matter.
  ASSERT_TRUE(
      wait_until("SELECT count(*) > 0 FROM leases WHERE search_id = $1 AND gang_size = 2 "
                 "AND state = 'COMPLETED'",
                 absl::Seconds(60)));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(20));
  const pqxx::result failed = query(
      "SELECT c.state, c.attempts, c.error FROM candidates c WHERE c.search_id = $1 "
      "AND c.rung = -1");
  ASSERT_EQ(failed.size(), 1u);
  // (Rank 0's worker may already have leased the epoch again, waiting for a new gang.) Its
  // all-reduce failed on the dead peer's socket: Gloo says "closed" or "reset by peer" as the
  // kernel's timing has it; the time above rules out the gang timeout.
  EXPECT_NE(failed[0][2].as<std::string>().find("gang rank 0: all-reduce"), std::string::npos)
      << "rank 0's report: " << failed[0][2].as<std::string>();

  // A second worker joins the next gang and the search finishes.
  workers.emplace_back([&] { EXPECT_TRUE(Worker(Options()).Run(&stop).ok()); });
  const bool finished = WaitForEnd(search.id(), absl::Seconds(180));
  stop = true;
  for (auto& t : workers) t.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(Get(search.id()).state(), nas::v1::SEARCH_STATE_SUCCEEDED)
      << Get(search.id()).DebugString();
  const pqxx::result epoch = query(
      "SELECT c.state, c.attempts, (SELECT count(*) FROM leases m JOIN leases g "
      "  ON g.id = m.gang_lease_id WHERE g.candidate_id = c.id AND m.state = 'COMPLETED') "
      "FROM candidates c WHERE c.search_id = $1 AND c.rung = -1");
  EXPECT_EQ(epoch[0][0].as<std::string>(), "EVALUATED");
  EXPECT_EQ(epoch[0][1].as<int>(), 2);
  EXPECT_EQ(epoch[0][2].as<int>(), 1) << "the second gang's rank 1 completed";
}

}  // namespace
}  // namespace nas
