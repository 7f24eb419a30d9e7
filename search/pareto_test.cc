#include "search/pareto.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(DominatesTest, HandWorkedCases) {
  EXPECT_TRUE(Dominates(std::vector<double>{1, 2}, std::vector<double>{1, 3}));
  EXPECT_TRUE(Dominates(std::vector<double>{0, 0, 0}, std::vector<double>{1, 1, 1}));
  EXPECT_FALSE(Dominates(std::vector<double>{1, 2}, std::vector<double>{1, 2}));  // Equal.
  EXPECT_FALSE(Dominates(std::vector<double>{1, 3}, std::vector<double>{2, 2}));  // Trade-off.
  EXPECT_FALSE(Dominates(std::vector<double>{2, 2}, std::vector<double>{1, 3}));
}

// The incremental archive must hold exactly the brute-force front of all points inserted.
TEST(ParetoArchiveTest, IncrementalInsertMatchesBruteForceOnRandomPoints) {
  for (int dims : {2, 3}) {
    for (int seed = 0; seed < 20; ++seed) {
      std::mt19937_64 rng(seed);
      // Coarse values so that ties and duplicates happen.
      std::uniform_int_distribution<int> value(0, 12);
      std::vector<std::vector<double>> points;
      ParetoArchive archive;
      std::vector<int64_t> removed;
      for (int i = 0; i < 150; ++i) {
        std::vector<double> p(dims);
        for (double& v : p) v = value(rng);
        points.push_back(p);
        archive.Insert(i, p, &removed);
      }
      std::vector<int64_t> ids;
      for (const auto& m : archive.members()) ids.push_back(m.id);
      std::sort(ids.begin(), ids.end());
      std::vector<int64_t> expected;
      for (size_t i : NonDominatedIndices(points)) expected.push_back(static_cast<int64_t>(i));
      EXPECT_EQ(ids, expected) << "dims=" << dims << " seed=" << seed;
    }
  }
}

TEST(ParetoArchiveTest, InsertReportsWhatItRemoved) {
  ParetoArchive archive;
  std::vector<int64_t> removed;
  EXPECT_TRUE(archive.Insert(1, {2, 2}, &removed));
  EXPECT_TRUE(archive.Insert(2, {1, 3}, &removed));
  EXPECT_FALSE(archive.Insert(3, {3, 3}, &removed));
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(archive.Insert(4, {1, 1}, &removed));
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(archive.members().size(), 1u);
  EXPECT_EQ(archive.members()[0].id, 4);
}

}  // namespace
}  // namespace nas
