#include "search/hypervolume.h"

#include <random>

#include "gtest/gtest.h"

namespace nas {
namespace {

// The measure of the union of boxes [p, reference] by brute force: every cell of the grid of
// all coordinates counts when some point is at or below its lower corner.
double BruteForce(const std::vector<std::vector<double>>& points, const std::vector<double>& ref) {
  const size_t d = ref.size();
  std::vector<std::vector<double>> axes(d);
  for (size_t k = 0; k < d; ++k) {
    axes[k].push_back(ref[k]);
    for (const auto& p : points) {
      if (p[k] < ref[k]) axes[k].push_back(p[k]);
    }
    std::sort(axes[k].begin(), axes[k].end());
    axes[k].erase(std::unique(axes[k].begin(), axes[k].end()), axes[k].end());
  }
  double total = 0;
  std::vector<size_t> idx(d, 0);
  while (true) {
    bool cell = true;
    for (size_t k = 0; k < d; ++k) cell = cell && idx[k] + 1 < axes[k].size();
    if (cell) {
      bool covered = false;
      for (const auto& p : points) {
        bool below = true;
        for (size_t k = 0; k < d; ++k) below = below && p[k] <= axes[k][idx[k]];
        covered = covered || below;
      }
      if (covered) {
        double v = 1;
        for (size_t k = 0; k < d; ++k) v *= axes[k][idx[k] + 1] - axes[k][idx[k]];
        total += v;
      }
    }
    size_t k = 0;
    while (k < d && ++idx[k] >= axes[k].size()) idx[k++] = 0;
    if (k == d) break;
  }
  return total;
}

TEST(HypervolumeTest, HandWorkedCases) {
  // Two points: 0.9 x 1.0 + 0.5 x 2.0 - overlap 0.5 x 1.0 = 1.4.
  EXPECT_DOUBLE_EQ(*Hypervolume({{0.1, 2.0}, {0.5, 1.0}}, {1.0, 3.0}), 1.4);
  // One point in 3-D: a box.
  EXPECT_DOUBLE_EQ(*Hypervolume({{1, 2, 3}}, {2, 4, 7}), 1 * 2 * 4);
  // Two boxes in 3-D: 1x1x2 + 2x2x1 - overlap 1x1x1 = 5.
  EXPECT_DOUBLE_EQ(*Hypervolume({{1, 1, 0}, {0, 0, 1}}, {2, 2, 2}), 5);
  EXPECT_DOUBLE_EQ(*Hypervolume({{0.25}, {0.5}}, {1}), 0.75);
}

TEST(HypervolumeTest, DominatedDuplicateAndOutsidePointsAddNothing) {
  const double base = *Hypervolume({{0.1, 2.0}, {0.5, 1.0}}, {1.0, 3.0});
  EXPECT_DOUBLE_EQ(
      *Hypervolume({{0.1, 2.0}, {0.5, 1.0}, {0.6, 2.5}, {0.5, 1.0}, {1.0, 0.0}, {-5, 3.0}},
                   {1.0, 3.0}),
      base);
  EXPECT_DOUBLE_EQ(*Hypervolume({}, {1, 1, 1}), 0);
}

TEST(HypervolumeTest, MatchesBruteForceOnRandomFronts) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int d : {2, 3}) {
    for (int trial = 0; trial < 200; ++trial) {
      const int n = 1 + trial % 14;
      std::vector<std::vector<double>> pts(n, std::vector<double>(d));
      for (auto& p : pts) {
        for (double& x : p) x = std::round(u(rng) * 8) / 8;  // Ties on purpose.
      }
      // Points on a front too, where most of them matter.
      if (trial % 2 == 0) {
        for (auto& p : pts) p[d - 1] = std::max(0.0, 1.0 - p[0] - (d == 3 ? p[1] : 0.0));
      }
      const std::vector<double> ref(d, 1.1);
      const absl::StatusOr<double> hv = Hypervolume(pts, ref);
      ASSERT_TRUE(hv.ok());
      EXPECT_NEAR(*hv, BruteForce(pts, ref), 1e-12) << "d=" << d << " trial " << trial;
    }
  }
}

TEST(HypervolumeTest, OtherDimensionsAreRefused) {
  EXPECT_EQ(Hypervolume({{1, 2, 3, 4}}, {5, 5, 5, 5}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hypervolume({{1, 2}}, {5, 5, 5}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nas
