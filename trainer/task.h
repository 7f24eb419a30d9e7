// Task: one lease on a worker, from its work to its report. Internal to trainer/: worker.cc
// leases and runs tasks, task.cc holds what every kind of work shares (heartbeats, uploads
// and reports retried with backoff, the supernet a worker keeps), and jobs.cc one handler per
// kind of work (proto WorkKind).
#ifndef NAS_TRAINER_TASK_H_
#define NAS_TRAINER_TASK_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/trainer_service.grpc.pb.h"
#include "trainer/gang.h"
#include "trainer/model_builder.h"
#include "trainer/supernet.h"
#include "trainer/training.h"
#include "trainer/worker.h"
#include "trainer/worker_metrics.h"

namespace nas {

// Retryable() is true for the errors worth trying again (the controller is away or busy).
bool Retryable(const grpc::Status& st);

// Fenced() is true when the controller says the call's lease is no longer live (its reason
// LEASE_FENCED, proto/errors.proto): the work is someone else's now.
bool Fenced(const grpc::Status& st);

// Authorizes a controller call with the worker credential and gives it 30 seconds.
void PrepareCall(grpc::ClientContext* ctx, const std::string& token);

// Gives a lease back unfinished (its candidate is queued again at once) and logs it.
void GiveBack(nas::v1::TrainerService::Stub* stub, const std::string& token, int64_t worker_id,
              const nas::v1::LeaseWorkResponse& lease);

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

// A dataset as the worker holds it: its decoded images, the network options it implies
// (channels, size, classes, normalisation), its class names, and the tensors of the splits
// leases have asked for.
class LoadedDataset {
 public:
  LoadedDataset() = default;
  LoadedDataset(std::string name, ImageDataset images);

  // SplitFor() returns the tensors of the split `recipe` asks for (ValidationExamples() of the
  // training examples held out by a fixed shuffle, so every candidate on the same split is
  // validated on the same examples; the rest to train on; the test files apart).
  // InvalidArgument naming the recipe's field and the sizes when the dataset cannot hold it.
  // The last two splits are kept.
  absl::StatusOr<const TensorData*> SplitFor(const nas::v1::TrainingRecipe& recipe) const;

  const std::string& name() const { return name_; }
  int64_t train_examples() const { return images_->train.count; }
  int64_t test_examples() const { return images_->test.count; }

  NetworkOptions network;
  std::vector<std::string> classes;

 private:
  struct Splits {
    std::mutex mu;
    std::vector<std::pair<int64_t, std::unique_ptr<TensorData>>> recent;  // newest last
  };
  std::string name_;
  std::shared_ptr<const ImageDataset> images_;
  std::shared_ptr<Splits> splits_ = std::make_shared<Splits>();
};

// A lease at the recipe's own epochs and training examples trains a finished model, whose
// test accuracy is measured; lower fidelities only rank candidates, on validation accuracy.
bool FullFidelity(const nas::v1::TrainingRecipe& recipe, const nas::v1::Fidelity& fidelity);

// The supernet a worker holds between leases: the checkpoint it last loaded or trained, so
// that a batch of estimates of one search loads it once.
struct SupernetCache {
  std::string sha256;
  std::unique_ptr<SupernetTrainer> trainer;
};

// What a work handler needs besides its lease.
struct JobContext {
  const LoadedDataset& dataset;
  // The lease's split of it.
  const TensorData& data;
  // Training progress: heartbeats and the epoch-time histogram; false means stop.
  const ProgressCallback& on_progress;
  // Records the last epoch's time once training ends.
  std::function<void()> epoch_done;
  // The report's metrics, filled by the handler.
  nas::v1::CandidateMetrics* metrics;
  std::atomic<bool>* stop;
  Backoff* backoff;
  // Set when training stopped because the worker is stopping (the lease is given back).
  bool stopped_by_worker = false;
};

// One lease: runs its work (jobs.cc, one handler per WorkKind) while a thread heartbeats,
// then reports.
class Task {
 public:
  Task(nas::v1::TrainerService::Stub* stub, const WorkerOptions& options, int64_t worker_id,
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
  // One handler per kind of work (trainer/jobs.cc). Each fills job.metrics for the report.
  // WORK_KIND_TRAIN: train at the lease's fidelity, evaluate, export a finished model.
  absl::Status TrainCandidate(JobContext& job);
  // Trains `net` as the lease says, resuming from the checkpoint the lease names (a refused or
  // unavailable one: from scratch) and uploading one at each epoch's end when epochs take
  // options_.checkpoint_after or more.
  absl::StatusOr<TrainResult> TrainWithCheckpoints(Network& net, JobContext& job);
  // WORK_KIND_ESTIMATE: score a subnet with the supernet's weights.
  absl::Status EstimateSubnet(JobContext& job);
  // WORK_KIND_MEASURE: time a candidate trained elsewhere.
  absl::Status MeasureOnly(JobContext& job);
  // WORK_KIND_SUPERNET_EPOCH and WORK_KIND_GANG_MEMBER: train one supernet epoch (a rank > 0
  // trains its share and reports; rank 0 or a lone worker also uploads the checkpoint).
  absl::Status TrainSupernetEpoch(JobContext& job);
  // What the handlers share: a network's costs, a subnet's estimate, batch-1 latency.
  void RecordCosts(Network& net, nas::v1::CandidateMetrics* m);
  void Estimate(Network& net, JobContext& job);
  void MeasureLatency(Network& net, JobContext& job);

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

  nas::v1::TrainerService::Stub* stub_;
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

}  // namespace nas

#endif  // NAS_TRAINER_TASK_H_
