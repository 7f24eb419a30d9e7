#include "common/validation_split.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(ValidationExamplesTest, DefaultIsASixthAtMostTenThousand) {
  nas::v1::TrainingRecipe recipe;
  EXPECT_EQ(*ValidationExamples(recipe, "fashion-mnist", 60000), 10000);
  EXPECT_EQ(*ValidationExamples(recipe, "small", 1497), 249);
  EXPECT_EQ(*ValidationExamples(recipe, "big", 1000000), 10000);
}

TEST(ValidationExamplesTest, FractionAndCount) {
  nas::v1::TrainingRecipe recipe;
  recipe.set_validation_fraction(0.2);
  EXPECT_EQ(*ValidationExamples(recipe, "small", 1497), 299);
  recipe.Clear();
  recipe.set_validation_examples(500);
  EXPECT_EQ(*ValidationExamples(recipe, "small", 1497), 500);
}

TEST(ValidationExamplesTest, ASplitLeavingNoSideIsRefusedNamingFieldAndSizes) {
  nas::v1::TrainingRecipe recipe;
  recipe.set_validation_examples(10000);
  absl::StatusOr<int64_t> n = ValidationExamples(recipe, "small", 1497);
  ASSERT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("recipe.validation_examples"), std::string::npos);
  EXPECT_NE(n.status().message().find("1497 training examples"), std::string::npos);
  EXPECT_NE(n.status().message().find("no example to train on"), std::string::npos);

  recipe.Clear();
  recipe.set_validation_fraction(0.01);
  n = ValidationExamples(recipe, "tiny", 20);
  ASSERT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("recipe.validation_fraction"), std::string::npos);
  EXPECT_NE(n.status().message().find("no example to validate on"), std::string::npos);

  recipe.Clear();  // the default on 5 examples: a sixth is none
  EXPECT_FALSE(ValidationExamples(recipe, "tiny", 5).ok());
}

TEST(OptimizerStepsTest, EpochsTimesBatchesOfTheExamplesUsed) {
  nas::v1::TrainingRecipe recipe;
  recipe.set_epochs(3);
  recipe.set_batch_size(128);
  // A newcomer's 1,497 images, a sixth held out: 1,248 to train on, 10 batches an epoch.
  EXPECT_EQ(OptimizerSteps(recipe, 1248), 30);
  std::optional<std::string> warning = TooFewStepsWarning(recipe, 1248);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("only 30 optimizer steps (3 epochs of 1248 training examples in "
                          "batches of 128)"),
            std::string::npos)
      << *warning;
  EXPECT_NE(warning->find("recipe.epochs"), std::string::npos) << *warning;
  // Fashion-MNIST's 50,000 with a 10,000-example subset, one epoch: 79 steps, enough.
  recipe.set_epochs(1);
  recipe.set_train_subset(10000);
  EXPECT_EQ(OptimizerSteps(recipe, 50000), 79);
  EXPECT_FALSE(TooFewStepsWarning(recipe, 50000).has_value());
}

}  // namespace
}  // namespace nas
