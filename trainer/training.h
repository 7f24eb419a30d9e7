// Training, evaluation and latency measurement of a built network.
//
//   TensorData data = MakeTensorData(dataset, split);           // once per worker
//   torch::manual_seed(recipe.seed());
//   Network net = *BuildNetwork(arch, options);
//   absl::StatusOr<TrainResult> r = Train(net, data, recipe, fidelity, on_progress);
//   double accuracy = Evaluate(net, data.val_images, data.val_labels);
//   LatencyStats latency = MeasureLatency(net, {1, 1, 28, 28});
//
// Runs are reproducible on one machine for a seed and a thread count.
#ifndef NAS_TRAINER_TRAINING_H_
#define NAS_TRAINER_TRAINING_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/hardware_profile.h"
#include "trainer/dataset.h"
#include "trainer/model_builder.h"
#include "trainer/precision.h"

namespace nas {

// TensorData: a dataset's splits as uint8 tensors (N x C x H x W) and int64 labels.
struct TensorData {
  torch::Tensor train_images, train_labels;
  torch::Tensor val_images, val_labels;
  torch::Tensor test_images, test_labels;
};

TensorData MakeTensorData(const ImageDataset& data, const DatasetSplit& split);

struct TrainProgress {
  int epoch = 0;  // 1-based epoch in progress
  int epochs = 0;
  double loss = 0;  // running mean of the epoch so far
  double samples_per_second = 0;
};

// Called after every batch; return false to stop training early (the lease was lost, or the
// worker is shutting down).
using ProgressCallback = std::function<bool(const TrainProgress&)>;

struct TrainResult {
  double final_loss = 0;
  double seconds = 0;
  double samples_per_second = 0;
  int64_t samples = 0;
  bool stopped = false;                    // on_progress asked to stop
  Precision precision = Precision::kFp32;  // the arithmetic it trained in
  int resumed_epochs = 0;  // epochs an earlier run did, restored from its checkpoint
};

// What a long training keeps so that another process can go on where it stopped: at the end
// of each epoch but the last, `save` gets the state (weights, optimizer state, epochs done,
// the data order's generator) as bytes; a later Train() given those bytes as `resume_from`
// goes on from the next epoch, following the same schedule and data order as if never
// stopped. `identity` names the training (search, candidate, architecture, recipe, fidelity):
// a checkpoint of another identity is refused, never loaded.
struct TrainingCheckpoints {
  std::string identity;
  std::string resume_from;
  std::function<void(int epochs_done, const std::string& state)> save;
};

// TrainingExamples() returns how many of `available` training examples a run at `fidelity`
// uses: the fidelity's train_subset, else the recipe's, else all; then train_fraction of
// those, but never less than one batch (or all, when fewer). Each epoch draws that many
// examples afresh from the whole shuffled split.
int64_t TrainingExamples(int64_t available, const nas::v1::TrainingRecipe& recipe,
                         const nas::v1::Fidelity& fidelity);

// Train() trains `net` in place following `recipe` at `fidelity` (its epochs and
// TrainingExamples(), 0 meaning the recipe's), in the recipe's precision as resolved on this
// process (ResolvePrecision()). InvalidArgument for a recipe it cannot follow.
absl::StatusOr<TrainResult> Train(Network& net, const TensorData& data,
                                  const nas::v1::TrainingRecipe& recipe,
                                  const nas::v1::Fidelity& fidelity,
                                  const ProgressCallback& on_progress);

// Train() with checkpoints: resumes from `checkpoints.resume_from` when given, and saves the
// state at each epoch's end through `checkpoints.save`. FailedPrecondition, and nothing
// loaded, for a checkpoint of another identity or one that cannot be read.
absl::StatusOr<TrainResult> Train(Network& net, const TensorData& data,
                                  const nas::v1::TrainingRecipe& recipe,
                                  const nas::v1::Fidelity& fidelity,
                                  const ProgressCallback& on_progress,
                                  const TrainingCheckpoints& checkpoints);

// The pieces Train() is made of, for other training loops (trainer/supernet.h).

// ToFloatImages() turns uint8 images into floats in [0, 1].
torch::Tensor ToFloatImages(const torch::Tensor& images);

// MakeOptimizer() builds the recipe's optimizer (SGD with Nesterov momentum 0.9, or AdamW) at
// its peak learning rate and weight decay.
std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(std::vector<torch::Tensor> parameters,
                                                       const nas::v1::TrainingRecipe& recipe);

// PeakLearningRate() is the recipe's learning rate, or its optimizer's default.
double PeakLearningRate(const nas::v1::TrainingRecipe& recipe);

// LearningRateAt() is the recipe's learning rate at optimizer step `step` of `total_steps`
// (0-based), following its schedule: a pure function of the step, so a training resumed or
// split into parts follows the schedule of the whole.
double LearningRateAt(const nas::v1::TrainingRecipe& recipe, int64_t step, int64_t total_steps);

// ForwardInPrecision() runs `forward` under CPU autocast to bf16 (kBf16) or as it is (kFp32),
// and returns its output as fp32, ready for a loss. Autocast is off again, and its cache of
// cast weights cleared, when it returns: the backward pass then runs outside it, as it must.
torch::Tensor ForwardInPrecision(Precision precision,
                                 const std::function<torch::Tensor()>& forward);

// ClassificationLoss() is cross-entropy with the recipe's label smoothing.
torch::Tensor ClassificationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                 const nas::v1::TrainingRecipe& recipe);

// TrainStep: one batch's forward and backward passes (gradients accumulate); returns the loss.
// The loop zeroes the gradients before it and steps the optimizer after it.
using TrainStep = std::function<double(const torch::Tensor& images, const torch::Tensor& labels)>;

// Epochs `first` to `last` (1-based, inclusive) of a schedule `total` epochs long.
struct EpochRange {
  int first = 1;
  int last = 1;
  int total = 1;
};

// RunTrainingLoop() runs `epochs` over `examples` training examples, each epoch a fresh
// shuffle by `rng` with the recipe's augmentation, batches channels-last, the learning rate
// following the recipe's schedule at its place in the whole `total`-epoch run (so a run split
// into parts follows the schedule of the whole).
// `on_epoch_end`, when given, is called after each epoch that ran to its end (1-based).
absl::StatusOr<TrainResult> RunTrainingLoop(
    const TensorData& data, const nas::v1::TrainingRecipe& recipe, int64_t examples,
    EpochRange epochs, std::mt19937_64& rng, torch::optim::Optimizer& optimizer,
    const TrainStep& step, const ProgressCallback& on_progress,
    const std::function<void(int epoch)>& on_epoch_end = nullptr);

// RecalibrateBatchNorm() re-estimates every batch norm's running statistics of `net` as the
// plain average over `batches` batches of `batch_size` images drawn at random (with `seed`)
// from `images` (uint8), by forward passes in training mode without gradients; weights stay
// as they are and `net` is left in eval mode. A subnet that inherits a supernet's weights
// needs its own statistics: the supernet's are those of a mix of subnets (Cai et al. 2020).
void RecalibrateBatchNorm(Network& net, const torch::Tensor& images, int batches, int batch_size,
                          uint64_t seed);

// Evaluate() returns the top-1 accuracy of `net` (in eval mode) on the images.
double Evaluate(Network& net, const torch::Tensor& images, const torch::Tensor& labels);

struct LatencyStats {
  double median_ms = 0;
  double iqr_ms = 0;
  // Half-width of the 95% confidence interval of the median (order statistics: no assumption
  // on the distribution of the runs), ms.
  double ci_ms = 0;
  int runs = 0;
  int threads = 0;
  // Whether ci_ms is within the precision asked of MeasureLatencyUntilSettled().
  bool settled = false;
};

// MeasureLatency() times inference of one input of `shape` (eval mode, no gradients) after a
// warm-up: the median, interquartile range and median's interval of `runs` runs.
LatencyStats MeasureLatency(Network& net, const std::vector<int64_t>& shape, int warmup = 10,
                            int runs = 50);

// How long MeasureLatencyUntilSettled() goes on.
struct LatencyPrecision {
  // Stop once the median's 95% half-width is within this share of it.
  double relative_ci = kLatencyRelativeCi;
  int min_runs = 50;
  int max_runs = 1000;
  // Stop after this much timing, once min_runs are done (a slow network on a noisy device).
  double max_seconds = 3.0;
};

// MeasureLatencyUntilSettled() times in rounds of min_runs until the median is known within
// `precision` or the most runs or seconds are spent; `settled` says which.
LatencyStats MeasureLatencyUntilSettled(Network& net, const std::vector<int64_t>& shape,
                                        const LatencyPrecision& precision = {}, int warmup = 10);

// MedianCiHalfWidth() is the 95% confidence half-width of the median of sorted `ms`: half the
// distance between the order statistics at n/2 -+ 1.96 sqrt(n)/2.
double MedianCiHalfWidth(const std::vector<double>& sorted_ms);

}  // namespace nas

#endif  // NAS_TRAINER_TRAINING_H_
