// Weight-sharing searches: strategy "weight_sharing" and what the controller needs to run one.
//
// A weight-sharing search first trains a supernet over its space (leased epoch tasks, a
// checkpoint after each; trainer/supernet.h), unless it reuses the trained supernet of an
// earlier search (`supernet_search`). Its strategy (`search`: evolution, nsga2 or random, with
// their own settings beside these) then proposes subnets; each is estimated, not trained:
// extracted from the supernet, batch norm recalibrated, validated (the estimate rung). The best
// 1/`finetune_share` of the estimates by constrained non-dominated rank and crowding (as
// successive halving promotes) are then fine-tuned from their inherited weights (or trained
// from scratch, `finetune=scratch`) with the search's recipe; those finished models make the
// fronts. budget.max_candidates counts estimated subnets; fine-tunes add up to
// max_candidates / finetune_share.
//
//   absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec.strategy());
//   nas::v1::Strategy inner = InnerStrategy(spec.strategy());   // what proposes subnets
#ifndef NAS_SEARCH_WEIGHT_SHARING_H_
#define NAS_SEARCH_WEIGHT_SHARING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

namespace nas {

constexpr char kWeightSharing[] = "weight_sharing";
// The artifact format of a supernet checkpoint, the file a supernet epoch uploads.
constexpr char kSupernetCheckpointFormat[] = "supernet-checkpoint";

struct WeightSharingPlan {
  std::string search = "evolution";  // the strategy over subnets
  int supernet_epochs = 3;           // 1 to 200
  int supernet_examples = 10000;     // training examples per supernet epoch, 0: all
  bool sandwich = true;              // largest and smallest subnet in every step
  int random_subnets = 2;            // random subnets per step, 0 to 8
  int finetune_share = 10;           // 1 / this of the estimates are fine-tuned, 2 to 100
  bool finetune_from_supernet = true;
  int recalibration_batches = 10;  // batches of 128 images, 1 to 100
  int estimate_examples = 0;       // validation images an estimate scores on; 0: all
  int64_t supernet_search = 0;     // reuse this earlier search's supernet; 0: train one
  // Workers that train each supernet epoch together, data-parallel (each a share of every
  // batch, gradients summed over Gloo); 1: one worker trains it alone.
  int supernet_workers = 1;
};

constexpr int kMaxSupernetWorkers = 16;

// IsWeightSharing() is true for strategy "weight_sharing".
bool IsWeightSharing(const nas::v1::Strategy& strategy);

// ParseWeightSharing() reads the weight-sharing settings of `strategy` (ignoring those of the
// inner strategy); InvalidArgument names a bad one ("strategy.settings[supernet_epochs]: ...").
absl::StatusOr<WeightSharingPlan> ParseWeightSharing(const nas::v1::Strategy& strategy);

// InnerStrategy() is the strategy that proposes the subnets: `search` with the seed and the
// settings that are not weight-sharing ones.
nas::v1::Strategy InnerStrategy(const nas::v1::Strategy& strategy);

}  // namespace nas

#endif  // NAS_SEARCH_WEIGHT_SHARING_H_
