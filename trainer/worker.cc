#include "trainer/worker.h"

#include <cmath>

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "proto/trainer_service.grpc.pb.h"
#include "search/search_space.h"
#include "search/weight_sharing.h"
#include "trainer/dataset.h"
#include "trainer/export.h"
#include "trainer/gang.h"
#include "trainer/model_builder.h"
#include "trainer/supernet.h"
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

bool Retryable(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE ||
         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         st.error_code() == grpc::StatusCode::ABORTED ||
         st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// Authorizes a controller call with the worker credential and gives it 30 seconds.
void PrepareCall(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

// Gives a lease back unfinished (its candidate is queued again at once) and logs it.
void GiveBack(TrainerService::Stub* stub, const std::string& token, int64_t worker_id,
              const nas::v1::LeaseWorkResponse& lease) {
  grpc::ClientContext ctx;
  PrepareCall(&ctx, token);
  nas::v1::ReturnLeaseRequest req;
  req.set_worker_id(worker_id);
  req.set_lease_id(lease.lease_id());
  nas::v1::ReturnLeaseResponse resp;
  grpc::Status returned = stub->ReturnLease(&ctx, req, &resp);
  LOG(INFO) << "event=lease_returned search=" << lease.search_id()
            << " candidate=" << lease.candidate_id() << " lease=" << lease.lease_id()
            << (returned.ok() ? "" : absl::StrCat(" error=\"", returned.error_message(), "\""));
}

// Exponential back-off with jitter, cut short when `stop` is set.
class Backoff {
 public:
  explicit Backoff(absl::Duration max) : max_(max) {}
  void Wait(std::atomic<bool>* stop) {
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const absl::Time until = absl::Now() + delay_ * jitter(rng_);
    while (absl::Now() < until && !stop->load()) absl::SleepFor(absl::Milliseconds(50));
    delay_ = std::min(delay_ * 2, max_);
  }
  void Reset() { delay_ = absl::Milliseconds(250); }

 private:
  absl::Duration max_;
  absl::Duration delay_ = absl::Milliseconds(250);
  std::mt19937_64 rng_{std::random_device{}()};
};

// A dataset as the worker holds it: tensors of its splits, the network options it implies
// (channels, size, classes, normalisation) and its class names.
struct LoadedDataset {
  TensorData data;
  NetworkOptions network;
  std::vector<std::string> classes;
};

absl::StatusOr<LoadedDataset> Load(const DatasetSource& source, int validation_examples) {
  LOG(INFO) << "event=dataset_loading dataset=" << source.name << " dir=" << source.dir;
  NAS_ASSIGN_OR_RETURN(ImageDataset dataset, LoadDataset(source));
  LoadedDataset loaded;
  // A fixed split: every candidate of every search is validated on the same examples.
  loaded.data = MakeTensorData(dataset,
                               SplitTrainValidation(dataset, validation_examples, /*seed=*/0));
  loaded.network.in_channels = dataset.channels;
  loaded.network.classes = static_cast<int>(dataset.classes.size());
  loaded.network.input_height = dataset.height;
  loaded.network.input_width = dataset.width;
  loaded.network.mean = dataset.mean;
  loaded.network.stddev = dataset.stddev;
  loaded.classes = dataset.classes;
  return loaded;
}

// A lease at the recipe's own epochs and training examples trains a finished model, whose
// test accuracy is measured; lower fidelities only rank candidates, on validation accuracy.
bool FullFidelity(const nas::v1::TrainingRecipe& recipe, const nas::v1::Fidelity& fidelity) {
  return (fidelity.epochs() == 0 || fidelity.epochs() >= recipe.epochs()) &&
         (fidelity.train_subset() == 0 || fidelity.train_subset() == recipe.train_subset()) &&
         (fidelity.train_fraction() <= 0 || fidelity.train_fraction() >= 1);
}

// The supernet a worker holds between leases: the checkpoint it last loaded or trained, so
// that a batch of estimates of one search loads it once.
struct SupernetCache {
  std::string sha256;
  std::unique_ptr<SupernetTrainer> trainer;
};

// One leased candidate: trains it while a thread heartbeats, then reports.
class Task {
 public:
  Task(TrainerService::Stub* stub, const WorkerOptions& options, int64_t worker_id,
       absl::Duration heartbeat_every, const nas::v1::LeaseWorkResponse& lease,
       WorkerMetrics* metrics, SupernetCache* supernet)
      : stub_(stub),
        options_(options),
        token_(options.worker_token),
        worker_id_(worker_id),
        every_(heartbeat_every),
        lease_(lease),
        metrics_(metrics),
        supernet_(supernet) {}

  // Returns false when the worker was asked to stop (the lease was returned).
  bool Run(const std::map<std::string, LoadedDataset>& datasets, std::atomic<bool>* stop,
           Backoff* backoff);

 private:
  // Upload() sends a file for the lease, retrying with backoff while the controller is
  // unavailable; UploadOnce() tries once.
  grpc::Status Upload(const std::string& file, const std::string& format,
                      const nas::v1::ModelMetadata& metadata, std::atomic<bool>* stop,
                      Backoff* backoff);
  grpc::Status UploadOnce(const std::string& file, const std::string& format,
                          const nas::v1::ModelMetadata& metadata);
  // Retried() makes `call` until it succeeds, fails for good, or the worker stops, waiting
  // with backoff between attempts and logging each retry as event=WHAT_retry.
  grpc::Status Retried(const char* what, const std::function<grpc::Status()>& call,
                       std::atomic<bool>* stop, Backoff* backoff);
  // Fetch() downloads a stored file by its SHA-256 and checks the digest.
  absl::StatusOr<std::string> Fetch(const std::string& sha256);
  // A new SupernetTrainer for the lease's supernet, loaded from `checkpoint` when not empty.
  absl::StatusOr<std::unique_ptr<SupernetTrainer>> LoadSupernet(const NetworkOptions& options,
                                                                const std::string& checkpoint);
  // The trained supernet a candidate lease names, from the cache or fetched.
  absl::StatusOr<SupernetTrainer*> TrainedSupernet(const NetworkOptions& options);
  // JoinGang() joins the gang of a data-parallel supernet epoch lease; as rank 0, it
  // publishes the store it serves to the controller first.
  absl::StatusOr<std::unique_ptr<Gang>> JoinGang();
  void Prepare(grpc::ClientContext* ctx) const { PrepareCall(ctx, token_); }
  void HeartbeatLoop();
  grpc::Status Report(const nas::v1::ReportResultRequest& request, std::atomic<bool>* stop,
                      Backoff* backoff);

  TrainerService::Stub* stub_;
  const WorkerOptions& options_;
  const std::string& token_;
  const int64_t worker_id_;
  const absl::Duration every_;
  const nas::v1::LeaseWorkResponse lease_;
  WorkerMetrics* const metrics_;
  SupernetCache* const supernet_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  nas::v1::TrainingProgress progress_;
  std::atomic<bool> lease_lost_{false};
};

void Task::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!done_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(every_));
    if (done_) break;
    nas::v1::HeartbeatRequest req;
    req.set_worker_id(worker_id_);
    req.set_lease_id(lease_.lease_id());
    *req.mutable_progress() = progress_;
    lock.unlock();
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::HeartbeatResponse resp;
    grpc::Status st = stub_->Heartbeat(&ctx, req, &resp);
    if (!st.ok() && !Retryable(st)) {
      LOG(WARNING) << "event=lease_lost search=" << lease_.search_id()
                   << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
                   << " error=\"" << st.error_message() << "\"";
      lease_lost_ = true;
    }
    lock.lock();
  }
}

grpc::Status Task::Retried(const char* what, const std::function<grpc::Status()>& call,
                           std::atomic<bool>* stop, Backoff* backoff) {
  for (int attempt = 1;; ++attempt) {
    grpc::Status st = call();
    if (st.ok() || !Retryable(st) || stop->load()) return st;
    LOG(WARNING) << "event=" << what << "_retry search=" << lease_.search_id()
                 << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
                 << " attempt=" << attempt << " error=\"" << st.error_message() << "\"";
    backoff->Wait(stop);
  }
}

grpc::Status Task::Report(const nas::v1::ReportResultRequest& request, std::atomic<bool>* stop,
                          Backoff* backoff) {
  // Reports are idempotent per lease, so a report whose answer was lost is simply sent again.
  // A finished result is worth waiting for: while the controller or its database is away the
  // report is retried until the controller says the lease is gone (or the worker is stopped).
  return Retried(
      "report",
      [&] {
        grpc::ClientContext ctx;
        Prepare(&ctx);
        nas::v1::ReportResultResponse resp;
        return stub_->ReportResult(&ctx, request, &resp);
      },
      stop, backoff);
}

grpc::Status Task::Upload(const std::string& file, const std::string& format,
                          const nas::v1::ModelMetadata& metadata, std::atomic<bool>* stop,
                          Backoff* backoff) {
  // Like a report, an upload replaces an earlier one of the same lease: retried until the
  // controller takes it or says the lease is gone.
  return Retried(
      "upload", [&] { return UploadOnce(file, format, metadata); }, stop, backoff);
}

grpc::Status Task::UploadOnce(const std::string& file, const std::string& format,
                              const nas::v1::ModelMetadata& metadata) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  nas::v1::UploadArtifactResponse resp;
  auto writer = stub_->UploadArtifact(&ctx, &resp);
  nas::v1::UploadArtifactRequest head;
  auto* h = head.mutable_header();
  h->set_worker_id(worker_id_);
  h->set_lease_id(lease_.lease_id());
  h->set_sha256(Sha256Hex(file));
  h->set_size_bytes(static_cast<int64_t>(file.size()));
  h->set_format(format);
  *h->mutable_metadata() = metadata;
  bool ok = writer->Write(head);
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; ok && off < file.size(); off += kChunk) {
    nas::v1::UploadArtifactRequest chunk;
    chunk.set_chunk(file.substr(off, kChunk));
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  return writer->Finish();
}

absl::StatusOr<std::string> Task::Fetch(const std::string& sha256) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  nas::v1::FetchArtifactRequest req;
  req.set_worker_id(worker_id_);
  req.set_sha256(sha256);
  auto reader = stub_->FetchArtifact(&ctx, req);
  nas::v1::FetchArtifactResponse msg;
  std::string data;
  while (reader->Read(&msg)) {
    if (msg.size_bytes() > 0) data.reserve(msg.size_bytes());
    data += msg.chunk();
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("fetching checkpoint ", sha256, ": ", st.error_message()));
  }
  if (Sha256Hex(data) != sha256) {
    return absl::DataLossError(absl::StrCat("checkpoint ", sha256, ": the digest differs"));
  }
  return data;
}

absl::StatusOr<std::unique_ptr<SupernetTrainer>> Task::LoadSupernet(
    const NetworkOptions& options, const std::string& checkpoint) {
  const nas::v1::SupernetWork& work = lease_.supernet();
  NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(work.space()));
  nas::v1::TrainingRecipe recipe = lease_.recipe();
  recipe.set_train_subset(work.examples());
  SupernetTrainer::Options o;
  o.epochs = std::max(1, work.epochs());
  o.sandwich = work.sandwich();
  o.random_subnets = work.random_subnets();
  NAS_ASSIGN_OR_RETURN(std::unique_ptr<SupernetTrainer> trainer,
                       SupernetTrainer::Create(space, options, recipe, o));
  if (!checkpoint.empty()) {
    NAS_ASSIGN_OR_RETURN(std::string bytes, Fetch(checkpoint));
    NAS_RETURN_IF_ERROR(trainer->LoadCheckpoint(bytes));
  }
  return trainer;
}

absl::StatusOr<SupernetTrainer*> Task::TrainedSupernet(const NetworkOptions& options) {
  const std::string& sha = lease_.supernet().checkpoint_sha256();
  if (supernet_->trainer == nullptr || supernet_->sha256 != sha) {
    supernet_->trainer.reset();
    NAS_ASSIGN_OR_RETURN(supernet_->trainer, LoadSupernet(options, sha));
    supernet_->sha256 = sha;
  }
  return supernet_->trainer.get();
}

absl::StatusOr<std::unique_ptr<Gang>> Task::JoinGang() {
  const nas::v1::SupernetWork& work = lease_.supernet();
  Gang::Options o;
  o.rank = work.rank();
  o.size = work.world_size();
  o.host = options_.gang_host;
  o.store_address = work.store_address();
  o.timeout = options_.gang_timeout;
  LOG(INFO) << "event=gang_joining search=" << lease_.search_id()
            << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
            << " rank=" << o.rank << " size=" << o.size
            << (o.rank > 0 ? absl::StrCat(" store=", o.store_address) : "");
  absl::StatusOr<std::unique_ptr<Gang>> gang =
      Gang::Open(o, [&](const std::string& address) -> absl::Status {
        nas::v1::PublishRendezvousRequest req;
        req.set_worker_id(worker_id_);
        req.set_lease_id(lease_.lease_id());
        req.set_store_address(address);
        grpc::Status st;
        for (int attempt = 0; attempt < 5; ++attempt) {
          grpc::ClientContext ctx;
          Prepare(&ctx);
          nas::v1::PublishRendezvousResponse resp;
          st = stub_->PublishRendezvous(&ctx, req, &resp);
          if (st.ok() || !Retryable(st)) break;
          absl::SleepFor(absl::Seconds(1));
        }
        if (!st.ok()) {
          return absl::UnavailableError(
              absl::StrCat("publishing the gang's store ", address, ": ", st.error_message()));
        }
        LOG(INFO) << "event=gang_published lease=" << lease_.lease_id() << " store=" << address;
        return absl::OkStatus();
      });
  if (gang.ok()) {
    LOG(INFO) << "event=gang_joined lease=" << lease_.lease_id() << " rank=" << o.rank
              << " size=" << o.size;
  }
  return gang;
}

bool Task::Run(const std::map<std::string, LoadedDataset>& datasets, std::atomic<bool>* stop,
               Backoff* backoff) {
  std::thread heartbeat([this] { HeartbeatLoop(); });
  auto finish_heartbeat = [&] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    heartbeat.join();
  };

  nas::v1::ReportResultRequest report;
  report.set_worker_id(worker_id_);
  report.set_lease_id(lease_.lease_id());
  bool stopped_by_worker = false;
  const auto run = [&]() -> absl::Status {
    const auto found = datasets.find(lease_.dataset());
    if (found == datasets.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("dataset \"", lease_.dataset(), "\" is not loaded on this worker"));
    }
    const TensorData& data = found->second.data;
    const NetworkOptions& options = found->second.network;
    const std::vector<std::string>& classes = found->second.classes;
    // Training progress, for heartbeats and the epoch-time histogram: an epoch ends at the
    // last batch before the epoch number changes.
    int epoch = 1;
    absl::Time epoch_start = absl::Now(), last_batch = epoch_start;
    double last_speed = 0;
    const ProgressCallback on_progress = [&](const TrainProgress& p) {
      if (p.epoch != epoch) {
        metrics_->ObserveEpoch(last_batch - epoch_start, last_speed);
        epoch = p.epoch;
        epoch_start = last_batch;
      }
      last_batch = absl::Now();
      last_speed = p.samples_per_second;
      {
        std::lock_guard<std::mutex> lock(mu_);
        progress_.set_epoch(p.epoch);
        progress_.set_epochs(p.epochs);
        progress_.set_loss(p.loss);
        progress_.set_samples_per_second(p.samples_per_second);
      }
      return !stop->load() && !lease_lost_.load();
    };
    nas::v1::CandidateMetrics* m = report.mutable_metrics();
    const nas::v1::SupernetWork& work = lease_.supernet();
    // The costs every report carries.
    const auto record_costs = [&](Network& net) {
      m->set_params(net->parameter_count());
      m->set_macs(net->macs());
      m->set_peak_activation_bytes(net->peak_activation_bytes());
      m->set_model_bytes(net->parameter_count() * 4);
    };
    // A subnet of the supernet: its own batch-norm statistics, then validation accuracy on
    // the first estimate_examples held-out images (all when 0).
    const auto estimate = [&](Network& net) {
      RecalibrateBatchNorm(net, data.train_images, work.recalibration_batches(), 128,
                           lease_.recipe().seed());
      const int64_t held_out = data.val_images.size(0);
      const int64_t n = work.estimate_examples() > 0
                            ? std::min<int64_t>(work.estimate_examples(), held_out)
                            : held_out;
      m->set_val_accuracy(
          Evaluate(net, data.val_images.narrow(0, 0, n), data.val_labels.narrow(0, 0, n)));
      m->set_test_accuracy(-1);
      record_costs(net);
    };
    // Latency at batch 1, measured only for a measured profile of this device (the lease
    // names them); every other profile models or predicts it, and 60 runs add up.
    const auto measure_latency = [&](Network& net) {
      const LatencyStats latency = MeasureLatency(
          net, {1, options.in_channels, options.input_height, options.input_width});
      m->set_latency_ms(latency.median_ms);
      m->set_latency_iqr_ms(latency.iqr_ms);
      m->set_latency_threads(latency.threads);
      metrics_->ObserveLatencySpread(latency.iqr_ms, latency.median_ms);
    };
    if (work.epoch() > 0) {
      // A supernet epoch: resume from the last checkpoint, train, upload the next one.
      NAS_ASSIGN_OR_RETURN(std::unique_ptr<SupernetTrainer> trainer,
                           LoadSupernet(options, work.checkpoint_sha256()));
      if (trainer->epochs_done() != work.epoch() - 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("supernet checkpoint holds ", trainer->epochs_done(),
                         " epochs; the lease is for epoch ", work.epoch()));
      }
      std::unique_ptr<Gang> gang;
      if (work.world_size() > 1) {
        NAS_ASSIGN_OR_RETURN(gang, JoinGang());
      }
      NAS_ASSIGN_OR_RETURN(TrainResult trained,
                           trainer->TrainEpoch(data, on_progress, gang.get()));
      if (trained.stopped) {
        stopped_by_worker = stop->load();
        return absl::AbortedError("supernet training stopped");
      }
      metrics_->ObserveEpoch(last_batch - epoch_start, last_speed);
      m->set_train_seconds(trained.seconds);
      m->set_train_loss(trained.final_loss);
      // A rank > 0 has done its share; rank 0 holds the same supernet and stores it.
      if (gang != nullptr && gang->rank() > 0) return absl::OkStatus();
      NAS_ASSIGN_OR_RETURN(std::string checkpoint, trainer->SaveCheckpoint());
      // The supernet's own network is the space's largest architecture.
      const nas::v1::Architecture largest = trainer->supernet()->net->architecture();
      NAS_ASSIGN_OR_RETURN(Network net, ExtractSubnet(trainer->supernet(), largest));
      estimate(net);
      m->set_model_bytes(static_cast<int64_t>(checkpoint.size()));
      nas::v1::ModelMetadata meta;
      meta.set_format(kSupernetCheckpointFormat);
      *meta.mutable_architecture() = largest;
      *meta.mutable_metrics() = *m;
      meta.set_dataset(lease_.dataset());
      meta.set_file_name(absl::StrCat("search", lease_.search_id(), "-supernet-epoch",
                                      work.epoch(), ".pt"));
      grpc::Status uploaded = Upload(checkpoint, kSupernetCheckpointFormat, meta, stop, backoff);
      if (!uploaded.ok()) {
        return absl::UnavailableError(
            absl::StrCat("uploading the supernet checkpoint: ", uploaded.error_message()));
      }
      // The next epoch or the estimates on this worker need not fetch it again.
      supernet_->sha256 = Sha256Hex(checkpoint);
      supernet_->trainer = std::move(trainer);
      return absl::OkStatus();
    }
    torch::manual_seed(lease_.recipe().seed());
    absl::StatusOr<Network> built;
    if (lease_.fidelity().supernet_estimate() || lease_.fidelity().init_from_supernet()) {
      NAS_ASSIGN_OR_RETURN(SupernetTrainer * supernet, TrainedSupernet(options));
      built = ExtractSubnet(supernet->supernet(), lease_.architecture());
    } else {
      built = BuildNetwork(lease_.architecture(), options);
    }
    NAS_RETURN_IF_ERROR(built.status());
    Network net = *std::move(built);
    if (lease_.fidelity().supernet_estimate()) {
      const auto start = absl::Now();
      estimate(net);
      m->set_train_seconds(absl::ToDoubleSeconds(absl::Now() - start));
      if (!lease_.measure_profile_ids().empty()) measure_latency(net);
      return absl::OkStatus();
    }
    if (lease_.measure_only()) {
      // Latency does not depend on the weights: the untrained network runs the same kernels.
      measure_latency(net);
      return absl::OkStatus();
    }
    NAS_ASSIGN_OR_RETURN(TrainResult trained,
                         Train(net, data, lease_.recipe(), lease_.fidelity(), on_progress));
    if (trained.stopped) {
      stopped_by_worker = stop->load();
      return absl::AbortedError("training stopped");
    }
    metrics_->ObserveEpoch(last_batch - epoch_start, last_speed);
    m->set_val_accuracy(Evaluate(net, data.val_images, data.val_labels));
    // Finished models only; the test set never selects (strategies see validation accuracy).
    m->set_test_accuracy(FullFidelity(lease_.recipe(), lease_.fidelity())
                             ? Evaluate(net, data.test_images, data.test_labels)
                             : -1);
    record_costs(net);
    if (!lease_.measure_profile_ids().empty()) measure_latency(net);
    m->set_train_seconds(trained.seconds);
    m->set_train_loss(trained.final_loss);
    // Lower rungs of successive halving only rank candidates: nobody fetches their models.
    if (!FullFidelity(lease_.recipe(), lease_.fidelity())) return absl::OkStatus();
    // The deployable model: TorchScript with batch norm folded, uploaded under the lease.
    NAS_ASSIGN_OR_RETURN(std::string model, ExportTorchScript(net));
    m->set_model_bytes(static_cast<int64_t>(model.size()));
    nas::v1::ModelMetadata meta;
    meta.set_format("torchscript");
    *meta.mutable_architecture() = lease_.architecture();
    *meta.mutable_metrics() = *m;
    for (int64_t d : {int64_t{-1}, int64_t{options.in_channels}, int64_t{options.input_height},
                      int64_t{options.input_width}}) {
      meta.add_input_shape(d);
    }
    for (const std::string& c : classes) meta.add_classes(c);
    meta.set_dataset(lease_.dataset());
    meta.set_file_name(absl::StrCat("search", lease_.search_id(), "-candidate",
                                    lease_.candidate_id(), ".pt"));
    grpc::Status uploaded = Upload(model, "torchscript", meta, stop, backoff);
    if (!uploaded.ok()) {
      LOG(WARNING) << "event=upload_failed search=" << lease_.search_id()
                   << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
                   << " error=\"" << uploaded.error_message() << "\"";
    }
    return absl::OkStatus();
  };
  absl::Status st;
  try {
    st = run();
  } catch (const c10::Error& e) {
    st = absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  }
  if (stopped_by_worker) {
    finish_heartbeat();
    GiveBack(stub_, token_, worker_id_, lease_);
    metrics_->CountTask("returned");
    return false;
  }
  if (lease_lost_) {  // Someone else has the candidate now; nothing to report.
    finish_heartbeat();
    metrics_->CountTask("lost");
    return true;
  }
  if (st.ok() && report.has_metrics() && !std::isfinite(report.metrics().train_loss())) {
    // The controller takes only finite figures; a loss that blew up is the candidate's failure.
    st = absl::InternalError(
        absl::StrCat("training diverged: final loss ", report.metrics().train_loss()));
  }
  if (!st.ok()) report.set_error(std::string(st.message()));
  // Heartbeats go on while the report is retried, so that a lease the controller extended
  // after its own outage stays live until the report gets through.
  grpc::Status reported = Report(report, stop, backoff);
  finish_heartbeat();
  if (reported.ok()) {
    LOG(INFO) << "event=result_reported search=" << lease_.search_id()
              << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
              << (st.ok() ? absl::StrCat(" val_accuracy=", report.metrics().val_accuracy(),
                                         " latency_ms=", report.metrics().latency_ms(),
                                         " train_seconds=", report.metrics().train_seconds())
                          : absl::StrCat(" error=\"", absl::CHexEscape(st.message()), "\""));
    metrics_->CountTask(st.ok() ? "ok" : "failed");
  } else {
    LOG(WARNING) << "event=report_failed search=" << lease_.search_id()
                 << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
                 << " error=\"" << reported.error_message() << "\"";
    metrics_->CountTask(reported.error_code() == grpc::StatusCode::FAILED_PRECONDITION ? "lost"
                                                                                      : "failed");
  }
  return true;
}

// The leases of a batch (LeaseWorkResponse.batch) that wait their turn: a thread heartbeats
// them so that they outlive the lease TTL, until Begin() hands each to its Task.
class WaitingLeases {
 public:
  WaitingLeases(TrainerService::Stub* stub, const std::string& token, int64_t worker_id,
                absl::Duration every, const std::vector<nas::v1::LeaseWorkResponse>& leases)
      : stub_(stub), token_(token), worker_id_(worker_id), every_(every), leases_(leases),
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
    NAS_ASSIGN_OR_RETURN(datasets[source.name], Load(source, options_.validation_examples));
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // gRPC backs off reconnecting up to 2 minutes by default (and 20 s at least): after a
  // controller outage the worker stayed away past its leases' TTL (9 s after a 20 s outage,
  // measured) and the results it held were trained again. Reconnect attempts here are at most
  // min(max_backoff, 2 s) apart; measured: back within 0.2 s of the controller's return.
  const int reconnect_ms = static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(options_.max_backoff), 2000));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(reconnect_ms, 500));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(reconnect_ms, 500));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, reconnect_ms);
  auto stub = TrainerService::NewStub(grpc::CreateCustomChannel(
      options_.controller, grpc::InsecureChannelCredentials(), args));
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
      for (const auto& [name, loaded] : datasets) req.add_datasets(name);
      nas::v1::RegisterWorkerResponse resp;
      grpc::Status st = stub->RegisterWorker(&ctx, req, &resp);
      if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                            absl::StrCat("registering with ", options_.controller, ": ",
                                         st.error_message()));
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
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
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
                << (leases.size() > 1 ? absl::StrCat(" batch=", i + 1, "/", leases.size())
                                      : "");
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
