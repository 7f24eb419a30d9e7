// How many of a dataset's training examples a recipe holds out for validation: one rule for
// the controller (at submit, when a worker has reported the dataset's size) and the worker
// (before it trains). The split is never empty on either side.
//
//   absl::StatusOr<int64_t> n = ValidationExamples(recipe, "fashion-mnist", 60000);  // 10000
#ifndef NAS_COMMON_VALIDATION_SPLIT_H_
#define NAS_COMMON_VALIDATION_SPLIT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas.pb.h"

namespace nas {

// The validation split when the recipe sets neither field: one sixth of the training examples,
// at most this many (Fashion-MNIST: 10,000 of 60,000).
inline constexpr int64_t kDefaultValidationExamples = 10000;

// ValidationExamples() returns the size of the validation split `recipe` asks of a dataset
// with `train_examples` training examples (validation_fraction, else validation_examples, else
// the default). InvalidArgument naming the recipe's field and the sizes when the split would
// leave no example to validate on or none to train on.
absl::StatusOr<int64_t> ValidationExamples(const nas::v1::TrainingRecipe& recipe,
                                           absl::string_view dataset, int64_t train_examples);

// Training examples of the built-in dataset (Fashion-MNIST), known before any worker reports.
inline constexpr int64_t kFashionMnistTrainExamples = 60000;

// Below this many optimizer steps per candidate a network rarely learns beyond chance.
inline constexpr int64_t kFewestUsefulSteps = 50;

// OptimizerSteps() is how many optimizer steps `recipe` gives a candidate trained on
// `train_examples` examples (the training split, before recipe.train_subset):
// epochs x ceil(examples / batch_size).
int64_t OptimizerSteps(const nas::v1::TrainingRecipe& recipe, int64_t train_examples);

// TooFewStepsWarning() is a sentence for the user when OptimizerSteps() is under
// kFewestUsefulSteps, saying the figures and what to change; nullopt otherwise.
std::optional<std::string> TooFewStepsWarning(const nas::v1::TrainingRecipe& recipe,
                                              int64_t train_examples);

}  // namespace nas

#endif  // NAS_COMMON_VALIDATION_SPLIT_H_
