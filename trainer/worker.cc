// The nas-trainer loop: registers, long-polls for leases (a batch of estimates at once),
// heartbeats the leases that wait their turn, and runs each as a Task (trainer/task.h).
#include "trainer/worker.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/controller_address.h"
#include "common/error_reason.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "proto/trainer_service.grpc.pb.h"
#include "trainer/dataset.h"
#include "trainer/precision.h"
#include "trainer/task.h"
#include "trainer/training.h"
#include "trainer/worker_metrics.h"

namespace nas {
namespace {

using nas::v1::TrainerService;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

absl::StatusOr<LoadedDataset> Load(const DatasetSource& source) {
  LOG(INFO) << "event=dataset_loading dataset=" << source.name << " dir=" << source.dir;
  NAS_ASSIGN_OR_RETURN(ImageDataset dataset, LoadDataset(source));
  LOG(INFO) << "event=dataset_loaded dataset=" << source.name << " train=" << dataset.train.count
            << " test=" << dataset.test.count;
  return LoadedDataset(source.name, std::move(dataset));
}

// The leases of a batch (LeaseWorkResponse.batch) that wait their turn: a thread heartbeats
// them so that they outlive the lease TTL, until Begin() hands each to its Task.
class WaitingLeases {
 public:
  WaitingLeases(TrainerService::Stub* stub, const std::string& token, int64_t worker_id,
                absl::Duration every, const std::vector<nas::v1::LeaseWorkResponse>& leases)
      : stub_(stub),
        token_(token),
        worker_id_(worker_id),
        every_(every),
        leases_(leases),
        lost_(leases.size(), false) {
    if (leases_.size() > 1) thread_ = std::thread([this] { Loop(); });
  }
  ~WaitingLeases() { StopHeartbeats(); }

  // WaitingLeases::Begin() stops heartbeating lease i and those before it; false when lease
  // i expired or was revoked while it waited (drop it: someone else may have it now).
  bool Begin(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = std::max(next_, i + 1);
    return !lost_[i];
  }

  // WaitingLeases::ReturnRest() gives back every lease not begun yet.
  void ReturnRest() {
    size_t from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from = next_;
    }
    StopHeartbeats();
    for (size_t i = from; i < leases_.size(); ++i) {
      if (!lost_[i]) GiveBack(stub_, token_, worker_id_, leases_[i]);
    }
  }

 private:
  void StopHeartbeats() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      next_ = leases_.size();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (next_ < leases_.size()) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(every_));
      for (size_t i = next_; i < leases_.size(); ++i) {
        if (lost_[i]) continue;
        nas::v1::HeartbeatRequest req;
        req.set_worker_id(worker_id_);
        req.set_lease_id(leases_[i].lease_id());
        lock.unlock();
        grpc::ClientContext ctx;
        PrepareCall(&ctx, token_);
        nas::v1::HeartbeatResponse resp;
        grpc::Status st = stub_->Heartbeat(&ctx, req, &resp);
        lock.lock();
        if (!st.ok() && !Retryable(st)) {
          LOG(WARNING) << "event=lease_lost search=" << leases_[i].search_id()
                       << " candidate=" << leases_[i].candidate_id()
                       << " lease=" << leases_[i].lease_id() << " waiting=true error=\""
                       << st.error_message() << "\"";
          lost_[i] = true;
        }
      }
    }
  }

  TrainerService::Stub* const stub_;
  const std::string& token_;
  const int64_t worker_id_;
  const absl::Duration every_;
  const std::vector<nas::v1::LeaseWorkResponse>& leases_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 1;  // leases from here on wait; the first begins at once
  std::vector<bool> lost_;
  std::thread thread_;
};

}  // namespace

absl::Status Worker::Run(std::atomic<bool>* stop) {
  WorkerMetrics metrics(options_.device_tag, options_.threads);
  if (!options_.metrics_address.empty()) {
    NAS_ASSIGN_OR_RETURN(int port, metrics.Serve(options_.metrics_address));
    metrics_port_ = port;
    LOG(INFO) << "event=worker_metrics_serving port=" << port;
  }
  torch::set_num_threads(std::max(1, options_.threads));
  if (options_.datasets.empty()) return absl::InvalidArgumentError("no dataset to serve");
  std::map<std::string, LoadedDataset> datasets;
  SupernetCache supernet;
  for (const DatasetSource& source : options_.datasets) {
    if (datasets.count(source.name) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset \"", source.name, "\" is named twice"));
    }
    NAS_ASSIGN_OR_RETURN(datasets[source.name], Load(source));
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // gRPC backs off reconnecting up to 2 minutes by default (and 20 s at least): after a
  // controller outage the worker stayed away past its leases' TTL (9 s after a 20 s outage,
  // measured) and the results it held were trained again. Reconnect attempts here are at most
  // min(max_backoff, 2 s) apart; measured: back within 0.2 s of the controller's return.
  const int reconnect_ms =
      static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(options_.max_backoff), 2000));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(reconnect_ms, 500));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(reconnect_ms, 500));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, reconnect_ms);
  // Several controllers: calls spread over those that answer; a dead one is skipped.
  args.SetLoadBalancingPolicyName("round_robin");
  NAS_ASSIGN_OR_RETURN(const std::string target, ControllerTarget(options_.controller));
  auto stub = TrainerService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  Backoff backoff(options_.max_backoff);
  int64_t worker_id = 0;
  absl::Duration ttl = absl::Seconds(30);
  int done = 0;
  while (!stop->load() && (options_.max_tasks == 0 || done < options_.max_tasks)) {
    if (worker_id == 0) {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.worker_token));
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      nas::v1::RegisterWorkerRequest req;
      req.set_name(absl::StrCat(HostName(), ":", getpid()));
      req.set_device_tag(options_.device_tag);
      req.set_cpu_model(CpuModel());
      req.set_threads(options_.threads);
      req.set_measure_only(options_.measure_only);
      req.set_auto_precision(PrecisionName(AutoPrecision()));
      for (const auto& [name, loaded] : datasets) {
        req.add_datasets(name);
        nas::v1::DatasetSize* size = req.add_dataset_sizes();
        size->set_name(name);
        size->set_train_examples(loaded.train_examples());
        size->set_test_examples(loaded.test_examples());
      }
      nas::v1::RegisterWorkerResponse resp;
      grpc::Status st = stub->RegisterWorker(&ctx, req, &resp);
      if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        return absl::Status(
            static_cast<absl::StatusCode>(st.error_code()),
            absl::StrCat("registering with ", options_.controller, ": ", st.error_message()));
      }
      if (!st.ok()) {
        LOG(WARNING) << "event=controller_unreachable controller=" << options_.controller
                     << " error=\"" << st.error_message() << "\" retrying=true";
        backoff.Wait(stop);
        continue;
      }
      worker_id = resp.worker_id();
      ttl = absl::Milliseconds(resp.lease_ttl_ms());
      backoff.Reset();
      LOG(INFO) << "event=worker_registered worker=" << worker_id
                << " device=" << options_.device_tag << " threads=" << options_.threads;
    }
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.worker_token));
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(options_.lease_wait + absl::Seconds(10)));
    nas::v1::LeaseWorkRequest req;
    req.set_worker_id(worker_id);
    req.set_wait_ms(absl::ToInt64Milliseconds(options_.lease_wait));
    int batch = std::max(1, options_.estimate_batch);
    if (options_.max_tasks > 0) batch = std::min(batch, options_.max_tasks - done);
    req.set_max_estimates(batch);
    nas::v1::LeaseWorkResponse lease;
    grpc::Status st = stub->LeaseWork(&ctx, req, &lease);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      worker_id = 0;  // The controller's store forgot us (a new database): register again.
      continue;
    }
    if (ReasonOfDetails(st.error_details()) == ErrorReason::kWorkerQuarantined) {
      // Quarantined: the controller says why and until when; ask again later.
      LOG(WARNING) << "event=worker_quarantined worker=" << worker_id << " error=\""
                   << st.error_message() << "\" retrying=true";
      backoff.Wait(stop);
      continue;
    }
    if (!st.ok()) {
      LOG(WARNING) << "event=lease_work_failed error=\"" << st.error_message()
                   << "\" retrying=true";
      backoff.Wait(stop);
      continue;
    }
    backoff.Reset();
    if (lease.lease_id() == 0) continue;
    std::vector<nas::v1::LeaseWorkResponse> leases;
    leases.reserve(1 + lease.batch_size());
    leases.push_back(lease);
    leases[0].clear_batch();
    for (const nas::v1::LeaseWorkResponse& more : lease.batch()) leases.push_back(more);
    WaitingLeases waiting(stub.get(), options_.worker_token, worker_id, ttl / 3, leases);
    bool go_on = true;
    for (size_t i = 0; i < leases.size() && go_on; ++i) {
      if (i > 0 && stop->load()) {  // the first lease's Task gives it back itself
        go_on = false;
        break;
      }
      if (!waiting.Begin(i)) continue;  // expired while it waited
      LOG(INFO) << "event=lease_received search=" << leases[i].search_id()
                << " candidate=" << leases[i].candidate_id() << " lease=" << leases[i].lease_id()
                << " rung=" << leases[i].fidelity().rung()
                << (leases.size() > 1 ? absl::StrCat(" batch=", i + 1, "/", leases.size()) : "");
      Task task(stub.get(), options_, worker_id, ttl / 3, leases[i], &metrics, &supernet);
      metrics.SetBusy(true);
      go_on = task.Run(datasets, stop, &backoff);
      metrics.SetBusy(false);
      if (go_on) ++done;
    }
    if (!go_on) {
      waiting.ReturnRest();
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace nas
