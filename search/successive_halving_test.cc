#include "search/successive_halving.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

// (accuracy, latency) as minimisation-form objectives.
RungResult R(int64_t id, double accuracy, double latency, double violation = 0) {
  return {id, {{-accuracy, latency}, violation}};
}

TEST(SuccessiveHalvingTest, PromotesTheBestThirdByRankAndCrowdingNotAccuracyAlone) {
  // Front 0: 1 (most accurate, slow), 2 (middle), 3 (fastest, least accurate of the front).
  // 4 is more accurate than 3 but dominated by 2; 5-9 are dominated.
  const std::vector<RungResult> rung = {R(1, 0.90, 9.0), R(2, 0.85, 3.0), R(3, 0.70, 1.0),
                                        R(4, 0.80, 4.0), R(5, 0.60, 8.0), R(6, 0.50, 9.0),
                                        R(7, 0.65, 5.0), R(8, 0.55, 7.0), R(9, 0.40, 9.5)};
  // eta 3: floor(9 / 3) = 3 promotions: the whole first front, extremes first.
  EXPECT_EQ(Promotable(rung, 3, {}), (std::vector<int64_t>{1, 3, 2}));
  // Accuracy alone would have promoted 1, 2 and 4; the front keeps the fast candidate 3.
  // Already promoted ones are not returned again.
  EXPECT_EQ(Promotable(rung, 3, {1, 3}), (std::vector<int64_t>{2}));
  // Early promotions that have since fallen out of the best third still use up the quota:
  // 7 and 8 went up when the rung was small, so only one more (the best) may follow.
  EXPECT_EQ(Promotable(rung, 3, {7, 8}), (std::vector<int64_t>{1}));
  EXPECT_TRUE(Promotable(rung, 3, {7, 8, 9}).empty());
  // Fewer than eta results: nothing yet (asynchronous: wait for the rung to grow).
  EXPECT_TRUE(Promotable(absl::MakeSpan(rung).subspan(0, 2), 3, {}).empty());
  // eta 2 on nine results: four, the front and then the best of the second front (4).
  EXPECT_EQ(Promotable(rung, 2, {}).size(), 4u);
  EXPECT_EQ(Promotable(rung, 2, {})[3], 4);
}

TEST(SuccessiveHalvingTest, InfeasibleResultsAreNeverPromoted) {
  const std::vector<RungResult> rung = {R(1, 0.9, 1.0, /*violation=*/1), R(2, 0.5, 5.0),
                                        R(3, 0.8, 1.0, 2), R(4, 0.7, 1.0, 1)};
  EXPECT_EQ(Promotable(rung, 2, {}), (std::vector<int64_t>{2}));
}

TEST(SuccessiveHalvingTest, RungsEndAtTheFullRecipeEachEtaTimesSmaller) {
  nas::v1::TrainingRecipe recipe;
  recipe.set_epochs(2);
  recipe.set_batch_size(64);
  absl::StatusOr<std::vector<nas::v1::Fidelity>> rungs = FidelityRungs(recipe, 3, 3);
  ASSERT_TRUE(rungs.ok()) << rungs.status();
  ASSERT_EQ(rungs->size(), 3u);
  // The top rung is the recipe itself: the trainer measures test accuracy there.
  EXPECT_EQ((*rungs)[2].train_fraction(), 0);
  EXPECT_EQ((*rungs)[2].train_subset(), 0);
  EXPECT_EQ((*rungs)[2].rung(), 2);
  EXPECT_DOUBLE_EQ((*rungs)[1].train_fraction(), 1.0 / 3);
  EXPECT_DOUBLE_EQ((*rungs)[0].train_fraction(), 1.0 / 9);
  EXPECT_EQ((*rungs)[0].rung(), 0);
  EXPECT_EQ((*rungs)[0].epochs(), 2);
  // One rung is the single-fidelity search.
  EXPECT_EQ(FidelityRungs(recipe, 3, 1)->size(), 1u);
  recipe.set_train_subset(9000);
  EXPECT_EQ((*FidelityRungs(recipe, 3, 2))[0].train_subset(), 9000);
  // 9000 / 3^4 = 111 examples, more than a batch of 64; 9000 / 10^3 = 9 is less.
  EXPECT_TRUE(FidelityRungs(recipe, 3, 5).ok());
  EXPECT_EQ(FidelityRungs(recipe, 10, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(FidelityRungs(recipe, 10, 5).status().message().find("rung 1 would train on 9 "),
            std::string::npos)
      << FidelityRungs(recipe, 10, 5).status();
  EXPECT_EQ(FidelityRungs(recipe, 1, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FidelityRungs(recipe, 11, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FidelityRungs(recipe, 3, 6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FidelityRungs(recipe, 3, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SuccessiveHalvingTest, MaxEvaluationsCountsEveryPossiblePromotion) {
  EXPECT_EQ(MaxEvaluations(27, 3, 3), 27 + 9 + 3);
  EXPECT_EQ(MaxEvaluations(10, 3, 3), 10 + 3 + 1);
  EXPECT_EQ(MaxEvaluations(8, 2, 5), 8 + 4 + 2 + 1);  // rung 4 never fills
  EXPECT_EQ(MaxEvaluations(8, 3, 1), 8);
}

}  // namespace
}  // namespace nas
