#include "common/validation_split.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace nas {

absl::StatusOr<int64_t> ValidationExamples(const nas::v1::TrainingRecipe& recipe,
                                           absl::string_view dataset, int64_t train_examples) {
  std::string field, asked;
  int64_t n;
  if (recipe.validation_fraction() > 0) {
    field = "recipe.validation_fraction";
    asked = absl::StrCat(recipe.validation_fraction(), " of");
    n = std::llround(recipe.validation_fraction() * static_cast<double>(train_examples));
  } else if (recipe.validation_examples() > 0) {
    field = "recipe.validation_examples";
    asked = absl::StrCat(recipe.validation_examples(), " of");
    n = recipe.validation_examples();
  } else {
    field = "recipe.validation_examples";
    asked = "the default split (one sixth) of";
    n = std::min(kDefaultValidationExamples, train_examples / 6);
  }
  const std::string of =
      absl::StrCat(asked, " dataset \"", dataset, "\"'s ", train_examples, " training examples");
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", of,
                     " leaves no example to validate on; set "
                     "recipe.validation_examples (at least 1) or use more data"));
  }
  if (n >= train_examples) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", of, " leaves no example to train on; validation must leave at least one"));
  }
  return n;
}

int64_t OptimizerSteps(const nas::v1::TrainingRecipe& recipe, int64_t train_examples) {
  int64_t examples = train_examples;
  if (recipe.train_subset() > 0) examples = std::min<int64_t>(examples, recipe.train_subset());
  const int64_t batch = std::max(1, recipe.batch_size());
  return std::max(1, recipe.epochs()) * ((examples + batch - 1) / batch);
}

std::optional<std::string> TooFewStepsWarning(const nas::v1::TrainingRecipe& recipe,
                                              int64_t train_examples) {
  const int64_t steps = OptimizerSteps(recipe, train_examples);
  if (steps >= kFewestUsefulSteps) return std::nullopt;
  int64_t examples = train_examples;
  if (recipe.train_subset() > 0) examples = std::min<int64_t>(examples, recipe.train_subset());
  return absl::StrCat(
      "recipe: each candidate gets only ", steps, " optimizer steps (", recipe.epochs(),
      " epochs of ", examples, " training examples in batches of ", recipe.batch_size(),
      "); under ", kFewestUsefulSteps,
      " a network rarely learns beyond chance accuracy. Raise recipe.epochs or lower "
      "recipe.batch_size (nasctl submit --epochs, --batch_size) to at least ",
      kFewestUsefulSteps, " steps");
}

}  // namespace nas
