#include "search/rank_correlation.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(KendallTauTest, HandWorkedCases) {
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3, 4}, {10, 20, 30, 40}), 1);
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3, 4}, {4, 3, 2, 1}), -1);
  // Pairs: (1,2) +, (1,3) +, (2,3) -: (2 - 1) / 3.
  EXPECT_DOUBLE_EQ(KendallTau({1, 2, 3}, {1, 3, 2}), 1.0 / 3);
  // A tie in one scoring counts as neither: (1,2) tie, (1,3) +, (2,3) +: 2 / 3.
  EXPECT_DOUBLE_EQ(KendallTau({1, 1, 2}, {1, 2, 3}), 2.0 / 3);
  EXPECT_DOUBLE_EQ(KendallTau({1}, {1}), 0);
}

}  // namespace
}  // namespace nas
