#include "search/nsga2.h"

#include <cmath>

#include "gtest/gtest.h"

namespace nas {
namespace {

Ranked R(std::vector<double> objectives, double violation = 0) {
  return {std::move(objectives), violation};
}

TEST(Nsga2Test, ConstrainedDomination) {
  EXPECT_TRUE(ConstrainedDominates(R({5, 5}), R({0, 0}, 0.1)));  // feasible beats infeasible
  EXPECT_FALSE(ConstrainedDominates(R({0, 0}, 0.1), R({5, 5})));
  EXPECT_TRUE(ConstrainedDominates(R({9, 9}, 0.1), R({0, 0}, 0.2)));  // less violation wins
  EXPECT_FALSE(ConstrainedDominates(R({0, 0}, 0.2), R({9, 9}, 0.1)));
  EXPECT_FALSE(ConstrainedDominates(R({0, 0}, 0.2), R({0, 0}, 0.2)));
  EXPECT_TRUE(ConstrainedDominates(R({1, 2}), R({1, 3})));  // Pareto when feasible
  EXPECT_FALSE(ConstrainedDominates(R({1, 3}), R({2, 2})));
  EXPECT_FALSE(ConstrainedDominates(R({1, 2}), R({1, 2})));
}

TEST(Nsga2Test, SortsIntoTheHandWorkedFronts) {
  //  index: 0       1       2       3       4       5 (infeasible)  6 (more infeasible)
  const std::vector<Ranked> pop = {R({1, 5}), R({2, 3}),      R({4, 1}),     R({3, 4}),
                                   R({5, 5}), R({0, 0}, 1.0), R({0, 0}, 2.0)};
  const std::vector<std::vector<int>> fronts = NonDominatedSort(pop);
  ASSERT_EQ(fronts.size(), 5u);
  EXPECT_EQ(fronts[0], (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(fronts[1], (std::vector<int>{3}));  // dominated by 1 only
  EXPECT_EQ(fronts[2], (std::vector<int>{4}));  // dominated by 3 (and 1, 2)
  EXPECT_EQ(fronts[3], (std::vector<int>{5}));  // every feasible one dominates it
  EXPECT_EQ(fronts[4], (std::vector<int>{6}));
}

TEST(Nsga2Test, CrowdingDistanceHandWorked) {
  // A front of four points on f1 + f2 = 6: (0,6) (1,5) (3,3) (6,0). Ranges 6 and 6.
  const std::vector<Ranked> pop = {R({3, 3}), R({0, 6}), R({6, 0}), R({1, 5})};
  const std::vector<double> d = CrowdingDistance(pop, {0, 1, 2, 3});
  EXPECT_DOUBLE_EQ(d[0], (6.0 - 1.0) / 6 + (5.0 - 0.0) / 6);  // neighbours (1,5) and (6,0)
  EXPECT_TRUE(std::isinf(d[1]));
  EXPECT_TRUE(std::isinf(d[2]));
  EXPECT_DOUBLE_EQ(d[3], (3.0 - 0.0) / 6 + (6.0 - 3.0) / 6);  // neighbours (0,6) and (3,3)
  // A flat objective adds nothing and divides by nothing.
  const std::vector<Ranked> flat = {R({0, 1}), R({1, 1}), R({2, 1})};
  const std::vector<double> f = CrowdingDistance(flat, {0, 1, 2});
  EXPECT_DOUBLE_EQ(f[1], 1.0);
}

TEST(Nsga2Test, SelectionTakesWholeFrontsThenTheMostCrowdingDistant) {
  const std::vector<Ranked> pop = {R({3, 3}), R({0, 6}), R({6, 0}), R({1, 5}),  // front 0
                                   R({4, 4}), R({7, 7})};                       // fronts 1, 2
  EXPECT_EQ(SelectNsga2(pop, 3), (std::vector<int>{1, 2, 0}));  // extremes, then (3,3)
  EXPECT_EQ(SelectNsga2(pop, 5), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(SelectNsga2(pop, 10).size(), 6u);
  std::vector<double> crowd;
  EXPECT_EQ(SelectNsga2(pop, 3, &crowd), (std::vector<int>{1, 2, 0}));
  ASSERT_EQ(crowd.size(), 3u);
  EXPECT_TRUE(std::isinf(crowd[0]) && std::isinf(crowd[1]));
  EXPECT_DOUBLE_EQ(crowd[2], 5.0 / 6 + 5.0 / 6);  // (3,3) within the whole first front
  const std::vector<RankCrowd> rc = RankAndCrowding(pop);
  EXPECT_EQ(rc[4].rank, 1);
  EXPECT_EQ(rc[5].rank, 2);
  EXPECT_TRUE(CrowdedLess(rc[0], rc[4]));
  EXPECT_TRUE(CrowdedLess(rc[1], rc[0]));  // same front, infinite crowding first
}

TEST(Nsga2Test, ThreeObjectivesAndDuplicates) {
  const std::vector<Ranked> pop = {R({1, 1, 1}), R({1, 1, 1}), R({0, 2, 2}), R({2, 2, 2})};
  const std::vector<std::vector<int>> fronts = NonDominatedSort(pop);
  ASSERT_EQ(fronts.size(), 2u);
  EXPECT_EQ(fronts[0], (std::vector<int>{0, 1, 2}));  // equal points do not dominate each other
  EXPECT_EQ(fronts[1], (std::vector<int>{3}));
}

}  // namespace
}  // namespace nas
