// A weight-sharing supernet over the MobileNetV2 space (Once-for-All, Cai et al. 2020), trained
// by single-path sampling (Guo et al. 2020) with the sandwich rule (Yu et al. 2020).
//
//   SearchSpaceDef space = *ResolveSearchSpace(spec.space());
//   SupernetTrainer trainer(space, options, recipe, /*epochs=*/10);
//   trainer.TrainEpoch(data, on_progress);                  // one leased epoch task
//   std::string checkpoint = *trainer.SaveCheckpoint();     // weights, optimizer, epoch
//   ...
//   Supernet super = trainer.supernet();
//   torch::Tensor logits = super->forward(images, subnet);  // the subnet, shared weights
//   Network net = *ExtractSubnet(super, subnet);            // a standalone copy of it
//   RecalibrateBatchNorm(net, data.train_images, 20, 128, seed);
//   double accuracy = Evaluate(net, data.val_images, data.val_labels);
//
// The supernet holds the space's largest network (search/search_space.h LargestArchitecture).
// A subnet runs on its leading channels (elastic width and expansion), the centre of each
// kernel (elastic kernel), the first blocks of each stage (elastic depth), and skips the
// squeeze-excite units it lacks, exactly as InheritWeights() (trainer/model_builder.h) copies
// them: ExtractSubnet() gives a network that computes what forward() computes.
#ifndef NAS_TRAINER_SUPERNET_H_
#define NAS_TRAINER_SUPERNET_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/search_space.h"
#include "trainer/gang.h"
#include "trainer/model_builder.h"
#include "trainer/training.h"

namespace nas {

class SupernetImpl : public torch::nn::Module {
 public:
  // `largest`: the largest architecture of a MobileNetV2 space.
  SupernetImpl(const nas::v1::Architecture& largest, const NetworkOptions& options);

  // Logits of `subnet` on `images` (N x C x H x W in [0, 1]) with the shared weights, so that
  // gradients reach them. In training mode batch norm normalises by the batch and folds its
  // statistics into the shared running statistics; in eval mode it uses those. `subnet` must
  // fit (Fits()).
  torch::Tensor forward(torch::Tensor images, const nas::v1::Architecture& subnet);

  // Fits() is OK when `subnet` is a MobileNetV2 architecture with the supernet's stage count
  // and no choice larger than the supernet's; otherwise InvalidArgument names the field.
  absl::Status Fits(const nas::v1::Architecture& subnet) const;

  // The largest network, which owns every shared weight.
  Network net{nullptr};
};
TORCH_MODULE(Supernet);

// ExtractSubnet() builds `subnet` as a standalone network holding copies of its shared weights
// and running statistics.
absl::StatusOr<Network> ExtractSubnet(Supernet& supernet, const nas::v1::Architecture& subnet);

// SupernetTrainer: a supernet with its optimizer, trained an epoch at a time. Each step trains
// the largest subnet, the smallest and `random_subnets` uniform samples of the space on one
// batch (gradients summed, one optimizer step); without the sandwich rule only the samples.
// Every epoch's data order, augmentation and subnet draws come from a generator seeded by the
// recipe's seed and the epoch, and the learning rate follows the schedule of the whole run,
// so epochs resumed from a checkpoint in a new process train exactly as uninterrupted ones.
class SupernetTrainer {
 public:
  struct Options {
    int epochs = 10;  // the whole run: the schedule's length
    bool sandwich = true;
    int random_subnets = 2;
  };
  // InvalidArgument for a space that is not MobileNetV2's or a recipe without epochs.
  static absl::StatusOr<std::unique_ptr<SupernetTrainer>> Create(
      const SearchSpaceDef& space, const NetworkOptions& network,
      const nas::v1::TrainingRecipe& recipe, Options options);

  // TrainEpoch() trains the next epoch on the recipe's number of examples. With `on_progress`
  // stopping it, the epoch is not counted (and the supernet is then mid-epoch: load the last
  // checkpoint before going on).
  //
  // With a `gang`, the epoch is trained data-parallel: every rank (each with a trainer of the
  // same space, recipe and options) draws the same batches and subnets, runs its share of
  // each batch (rows rank * n / size to (rank + 1) * n / size), and the gradients are summed
  // over the ranks, so one step follows the whole batch's gradient and all ranks step alike.
  // Rank 0's weights are broadcast first and the batch-norm running statistics averaged at
  // the end, so every rank ends the epoch holding the same supernet. Batch norm normalises by
  // each rank's share (as PyTorch's DistributedDataParallel does without SyncBatchNorm).
  // A rank that leaves makes the others fail (Internal) at their next step.
  absl::StatusOr<TrainResult> TrainEpoch(const TensorData& data,
                                         const ProgressCallback& on_progress, Gang* gang = nullptr);

  // Epochs trained so far.
  int epochs_done() const { return epochs_done_; }

  // SaveCheckpoint() serialises the weights, running statistics, optimizer state and epoch
  // count; LoadCheckpoint() restores them (DataLoss for bytes that are not such a checkpoint
  // of this supernet).
  absl::StatusOr<std::string> SaveCheckpoint();
  absl::Status LoadCheckpoint(const std::string& bytes);

  Supernet& supernet() { return supernet_; }

 private:
  SupernetTrainer(const SearchSpaceDef& space, const NetworkOptions& network,
                  const nas::v1::TrainingRecipe& recipe, Options options);

  SearchSpaceDef space_;
  nas::v1::TrainingRecipe recipe_;
  Options options_;
  Supernet supernet_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int epochs_done_ = 0;
};

}  // namespace nas

#endif  // NAS_TRAINER_SUPERNET_H_
