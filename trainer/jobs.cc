// One handler per kind of work a lease can ask for (proto WorkKind): train a candidate,
// estimate a subnet with the supernet's weights, time a candidate trained elsewhere, train a
// supernet epoch. Task::Run() (trainer/task.cc) picks the handler and reports what it filled.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/model_format.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "search/cost_model.h"
#include "search/weight_sharing.h"
#include "trainer/deployables.h"
#include "trainer/export.h"
#include "trainer/precision.h"
#include "trainer/task.h"

namespace nas {

void Task::RecordCosts(Network& net, nas::v1::CandidateMetrics* m) {
  m->set_params(net->parameter_count());
  m->set_macs(net->macs());
  m->set_peak_activation_bytes(net->peak_activation_bytes());
  m->set_model_bytes(net->parameter_count() * 4);
  const NetworkOptions& o = net->options();
  m->set_int8_model_bytes(
      EstimateCost(net->architecture(),
                   InputShape{o.in_channels, o.input_height, o.input_width, o.classes})
          .model_bytes_int8);
}

// A subnet of the supernet: its own batch-norm statistics, then validation accuracy on the
// first estimate_examples held-out images (all when 0).
void Task::Estimate(Network& net, JobContext& job) {
  const TensorData& data = job.data;
  const nas::v1::SupernetWork& work = lease_.supernet();
  RecalibrateBatchNorm(net, data.train_images, work.recalibration_batches(), 128,
                       lease_.recipe().seed());
  const int64_t held_out = data.val_images.size(0);
  const int64_t n = work.estimate_examples() > 0
                        ? std::min<int64_t>(work.estimate_examples(), held_out)
                        : held_out;
  job.metrics->set_val_accuracy(
      Evaluate(net, data.val_images.narrow(0, 0, n), data.val_labels.narrow(0, 0, n)));
  job.metrics->set_test_accuracy(-1);
  RecordCosts(net, job.metrics);
}

// Latency at batch 1, measured only for a measured profile of this device (the lease names
// them); every other profile models or predicts it, and the runs add up. Runs go on until the
// median is known within +-5% (or 1,000 runs or 3 s): on a loaded machine the spread between
// runs was as large as the median, and a front ordered by such figures is ordered by noise.
void Task::MeasureLatency(Network& net, JobContext& job) {
  const NetworkOptions& options = job.dataset.network;
  const LatencyStats latency = nas::MeasureLatencyUntilSettled(
      net, {1, options.in_channels, options.input_height, options.input_width});
  job.metrics->set_latency_ms(latency.median_ms);
  job.metrics->set_latency_iqr_ms(latency.iqr_ms);
  job.metrics->set_latency_ci_ms(latency.ci_ms);
  job.metrics->set_latency_runs(latency.runs);
  job.metrics->set_latency_threads(latency.threads);
  metrics_->ObserveLatencySpread(latency.iqr_ms, latency.median_ms);
}

absl::Status Task::TrainSupernetEpoch(JobContext& job) {
  const nas::v1::SupernetWork& work = lease_.supernet();
  nas::v1::CandidateMetrics* m = job.metrics;
  // Resume from the last checkpoint, train, upload the next one.
  NAS_ASSIGN_OR_RETURN(std::unique_ptr<SupernetTrainer> trainer,
                       LoadSupernet(job.dataset.network, work.checkpoint_sha256()));
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
                       trainer->TrainEpoch(job.data, job.on_progress, gang.get()));
  if (trained.stopped) {
    job.stopped_by_worker = job.stop->load();
    return absl::AbortedError("supernet training stopped");
  }
  job.epoch_done();
  m->set_train_seconds(trained.seconds);
  m->set_train_loss(trained.final_loss);
  m->set_train_precision(PrecisionName(trained.precision));
  // A rank > 0 has done its share; rank 0 holds the same supernet and stores it.
  if (gang != nullptr && gang->rank() > 0) return absl::OkStatus();
  NAS_ASSIGN_OR_RETURN(std::string checkpoint, trainer->SaveCheckpoint());
  // The supernet's own network is the space's largest architecture.
  const nas::v1::Architecture largest = trainer->supernet()->net->architecture();
  NAS_ASSIGN_OR_RETURN(Network net, ExtractSubnet(trainer->supernet(), largest));
  Estimate(net, job);
  m->set_model_bytes(static_cast<int64_t>(checkpoint.size()));
  nas::v1::ModelMetadata meta;
  meta.set_format(kSupernetCheckpointFormat);
  *meta.mutable_architecture() = largest;
  *meta.mutable_metrics() = *m;
  meta.set_dataset(lease_.dataset());
  meta.set_file_name(
      absl::StrCat("search", lease_.search_id(), "-supernet-epoch", work.epoch(), ".pt"));
  grpc::Status uploaded =
      Upload(checkpoint, kSupernetCheckpointFormat, meta, job.stop, job.backoff);
  if (!uploaded.ok()) {
    return absl::UnavailableError(
        absl::StrCat("uploading the supernet checkpoint: ", uploaded.error_message()));
  }
  // The next epoch or the estimates on this worker need not fetch it again.
  supernet_->sha256 = Sha256Hex(checkpoint);
  supernet_->trainer = std::move(trainer);
  return absl::OkStatus();
}

absl::Status Task::EstimateSubnet(JobContext& job) {
  torch::manual_seed(lease_.recipe().seed());
  NAS_ASSIGN_OR_RETURN(SupernetTrainer * supernet, TrainedSupernet(job.dataset.network));
  NAS_ASSIGN_OR_RETURN(Network net, ExtractSubnet(supernet->supernet(), lease_.architecture()));
  const auto start = absl::Now();
  Estimate(net, job);
  job.metrics->set_train_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  if (!lease_.measure_profile_ids().empty()) MeasureLatency(net, job);
  return absl::OkStatus();
}

absl::Status Task::MeasureOnly(JobContext& job) {
  torch::manual_seed(lease_.recipe().seed());
  NAS_ASSIGN_OR_RETURN(Network net, BuildNetwork(lease_.architecture(), job.dataset.network));
  // Latency does not depend on the weights: the untrained network runs the same kernels.
  MeasureLatency(net, job);
  return absl::OkStatus();
}

absl::StatusOr<TrainResult> Task::TrainWithCheckpoints(Network& net, JobContext& job) {
  TrainingCheckpoints checkpoints;
  // What a checkpoint must be of to be resumed: this candidate of this search, trained alike.
  checkpoints.identity = Sha256Hex(absl::StrCat(lease_.search_id(), "/", lease_.candidate_id(), "/",
                                                lease_.architecture().SerializeAsString(), "/",
                                                lease_.recipe().SerializeAsString(), "/",
                                                lease_.fidelity().SerializeAsString()));
  if (lease_.has_resume() && !lease_.resume().sha256().empty()) {
    absl::StatusOr<std::string> fetched = Fetch(lease_.resume().sha256());
    if (fetched.ok()) {
      checkpoints.resume_from = *std::move(fetched);
    } else {
      LOG(WARNING) << "event=checkpoint_unavailable search=" << lease_.search_id()
                   << " candidate=" << lease_.candidate_id() << " error=\""
                   << fetched.status().message() << "\" (training from scratch)";
    }
  }
  absl::Time epoch_start = absl::Now();
  checkpoints.save = [&](int epochs_done, const std::string& state) {
    const absl::Duration took = absl::Now() - epoch_start;
    epoch_start = absl::Now();
    if (took < options_.checkpoint_after) return;
    nas::v1::ModelMetadata meta;
    *meta.mutable_architecture() = lease_.architecture();
    meta.set_dataset(lease_.dataset());
    meta.set_checkpoint_epochs(epochs_done);
    meta.set_file_name(absl::StrCat("search", lease_.search_id(), "-candidate",
                                    lease_.candidate_id(), "-epoch", epochs_done, ".ckpt"));
    // Once: a checkpoint that does not get through costs an epoch more if the worker is lost,
    // never the training.
    const grpc::Status st = UploadOnce(state, kTrainingCheckpointFormat, meta);
    LOG(INFO) << "event=checkpoint search=" << lease_.search_id()
              << " candidate=" << lease_.candidate_id() << " epochs=" << epochs_done
              << " bytes=" << state.size()
              << (st.ok() ? std::string() : absl::StrCat(" error=\"", st.error_message(), "\""));
  };
  absl::StatusOr<TrainResult> trained =
      Train(net, job.data, lease_.recipe(), lease_.fidelity(), job.on_progress, checkpoints);
  if (!trained.ok() && absl::IsFailedPrecondition(trained.status()) &&
      !checkpoints.resume_from.empty()) {
    // Refused (another training's, or unreadable): its identity and epochs are checked before
    // anything is loaded, so the network is as built; start over.
    LOG(WARNING) << "event=checkpoint_refused search=" << lease_.search_id()
                 << " candidate=" << lease_.candidate_id() << " reason=\""
                 << trained.status().message() << "\"";
    checkpoints.resume_from.clear();
    trained =
        Train(net, job.data, lease_.recipe(), lease_.fidelity(), job.on_progress, checkpoints);
  }
  if (trained.ok() && trained->resumed_epochs > 0) {
    LOG(INFO) << "event=training_resumed search=" << lease_.search_id()
              << " candidate=" << lease_.candidate_id() << " epochs=" << trained->resumed_epochs;
  }
  return trained;
}

absl::Status Task::TrainCandidate(JobContext& job) {
  const TensorData& data = job.data;
  const NetworkOptions& options = job.dataset.network;
  nas::v1::CandidateMetrics* m = job.metrics;
  torch::manual_seed(lease_.recipe().seed());
  absl::StatusOr<Network> built;
  if (lease_.fidelity().init_from_supernet()) {
    // A weight-sharing search's finalist: fine-tuned from the supernet's weights.
    NAS_ASSIGN_OR_RETURN(SupernetTrainer * supernet, TrainedSupernet(options));
    built = ExtractSubnet(supernet->supernet(), lease_.architecture());
  } else {
    built = BuildNetwork(lease_.architecture(), options);
  }
  NAS_RETURN_IF_ERROR(built.status());
  Network net = *std::move(built);
  NAS_ASSIGN_OR_RETURN(TrainResult trained, TrainWithCheckpoints(net, job));
  if (trained.stopped) {
    job.stopped_by_worker = job.stop->load();
    return absl::AbortedError("training stopped");
  }
  job.epoch_done();
  m->set_val_accuracy(Evaluate(net, data.val_images, data.val_labels));
  // Finished models only; the test set never selects (strategies see validation accuracy).
  m->set_test_accuracy(FullFidelity(lease_.recipe(), lease_.fidelity())
                           ? Evaluate(net, data.test_images, data.test_labels)
                           : -1);
  RecordCosts(net, m);
  if (!lease_.measure_profile_ids().empty()) MeasureLatency(net, job);
  m->set_train_seconds(trained.seconds);
  m->set_train_loss(trained.final_loss);
  m->set_train_precision(PrecisionName(trained.precision));
  m->set_resumed_epochs(trained.resumed_epochs);
  // Lower rungs of successive halving only rank candidates: nobody fetches their models.
  if (!FullFidelity(lease_.recipe(), lease_.fidelity())) return absl::OkStatus();
  // The int8 model an int8 device runs, measured as that device will run it.
  absl::StatusOr<Int8Evaluation> int8 =
      QuantizeAndEvaluate(net, data, lease_.recipe(), m->val_accuracy(),
                          /*with_test=*/true, job.on_progress);
  if (!int8.ok()) {
    // Quantization-aware fine-tuning stops like training when the worker stops.
    if (absl::IsAborted(int8.status())) job.stopped_by_worker = job.stop->load();
    return int8.status();
  }
  m->set_int8_val_accuracy(int8->val_accuracy);
  m->set_int8_test_accuracy(int8->test_accuracy);
  // The deployable files, uploaded under the lease: TorchScript (batch norm folded), ONNX fp32,
  // ONNX int8 QDQ.
  nas::v1::ModelMetadata base;
  *base.mutable_architecture() = lease_.architecture();
  for (const std::string& c : job.dataset.classes) base.add_classes(c);
  for (int64_t d : {int64_t{-1}, int64_t{options.in_channels}, int64_t{options.input_height},
                    int64_t{options.input_width}}) {
    base.add_input_shape(d);
  }
  base.set_dataset(lease_.dataset());
  base.set_file_name(
      absl::StrCat("search", lease_.search_id(), "-candidate", lease_.candidate_id()));
  NAS_ASSIGN_OR_RETURN(std::vector<Deployable> files, MakeDeployables(net, *int8, base));
  m->set_model_bytes(static_cast<int64_t>(files.front().bytes.size()));
  for (Deployable& file : files) {
    *file.metadata.mutable_metrics() = *m;
    grpc::Status uploaded = Upload(file.bytes, file.format, file.metadata, job.stop, job.backoff);
    if (!uploaded.ok()) {
      LOG(WARNING) << "event=upload_failed search=" << lease_.search_id()
                   << " candidate=" << lease_.candidate_id() << " lease=" << lease_.lease_id()
                   << " format=" << file.format << " error=\"" << uploaded.error_message() << "\"";
    }
  }
  return absl::OkStatus();
}

}  // namespace nas
