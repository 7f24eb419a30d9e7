// What every kind of work shares on a worker: heartbeats, reports and uploads retried with
// backoff, fetching and caching the supernet, and Task::Run(), which dispatches a lease to its
// kind's handler (trainer/jobs.cc) and reports the result.
#include "trainer/task.h"

#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error_reason.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/validation_split.h"
#include "common/work_kind.h"
#include "glog/logging.h"
#include "search/weight_sharing.h"

namespace nas {

using nas::v1::TrainerService;

bool Retryable(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE ||
         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         st.error_code() == grpc::StatusCode::ABORTED ||
         st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

bool Fenced(const grpc::Status& st) {
  return !st.ok() && ReasonOfDetails(st.error_details()) == ErrorReason::kLeaseFenced;
}

void PrepareCall(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

void GiveBack(nas::v1::TrainerService::Stub* stub, const std::string& token, int64_t worker_id,
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

LoadedDataset::LoadedDataset(std::string name, ImageDataset images)
    : name_(std::move(name)), images_(std::make_shared<const ImageDataset>(std::move(images))) {
  network.in_channels = images_->channels;
  network.classes = static_cast<int>(images_->classes.size());
  network.input_height = images_->height;
  network.input_width = images_->width;
  network.mean = images_->mean;
  network.stddev = images_->stddev;
  classes = images_->classes;
}

absl::StatusOr<const TensorData*> LoadedDataset::SplitFor(
    const nas::v1::TrainingRecipe& recipe) const {
  NAS_ASSIGN_OR_RETURN(const int64_t validation,
                       ValidationExamples(recipe, name_, images_->train.count));
  std::lock_guard<std::mutex> lock(splits_->mu);
  auto& recent = splits_->recent;
  for (auto& [n, data] : recent) {
    if (n == validation) return data.get();
  }
  // A fixed shuffle (seed 0): the same validation examples for every candidate of every search
  // that asks for this many, so their accuracies compare.
  const DatasetSplit split = SplitTrainValidation(*images_, validation, /*seed=*/0);
  LOG(INFO) << "event=dataset_split dataset=" << name_ << " train=" << split.train.size()
            << " validation=" << split.validation.size() << " test=" << images_->test.count;
  if (recent.size() >= 2) recent.erase(recent.begin());
  recent.emplace_back(validation, std::make_unique<TensorData>(MakeTensorData(*images_, split)));
  return recent.back().second.get();
}

bool FullFidelity(const nas::v1::TrainingRecipe& recipe, const nas::v1::Fidelity& fidelity) {
  return (fidelity.epochs() == 0 || fidelity.epochs() >= recipe.epochs()) &&
         (fidelity.train_subset() == 0 || fidelity.train_subset() == recipe.train_subset()) &&
         (fidelity.train_fraction() <= 0 || fidelity.train_fraction() >= 1);
}

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

absl::StatusOr<std::unique_ptr<SupernetTrainer>> Task::LoadSupernet(const NetworkOptions& options,
                                                                    const std::string& checkpoint) {
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
    NAS_ASSIGN_OR_RETURN(const TensorData* data, found->second.SplitFor(lease_.recipe()));
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
    JobContext job{found->second,
                   *data,
                   on_progress,
                   [&] { metrics_->ObserveEpoch(last_batch - epoch_start, last_speed); },
                   report.mutable_metrics(),
                   stop,
                   backoff};
    absl::Status done;
    switch (const nas::v1::WorkKind kind = WorkKindOf(lease_)) {
      case nas::v1::WORK_KIND_TRAIN:
        done = TrainCandidate(job);
        break;
      case nas::v1::WORK_KIND_ESTIMATE:
        done = EstimateSubnet(job);
        break;
      case nas::v1::WORK_KIND_MEASURE:
        done = MeasureOnly(job);
        break;
      case nas::v1::WORK_KIND_SUPERNET_EPOCH:
      case nas::v1::WORK_KIND_GANG_MEMBER:
        done = TrainSupernetEpoch(job);
        break;
      default:
        done = absl::InvalidArgumentError(
            absl::StrCat("lease of an unknown kind of work (", kind, "): update this worker"));
    }
    stopped_by_worker = job.stopped_by_worker;
    return done;
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
    metrics_->CountTask(Fenced(reported) ? "lost" : "failed");
  }
  return true;
}

}  // namespace nas
