#include "search/hypervolume.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <map>

#include "absl/strings/str_cat.h"

namespace nas {
namespace {

using Point2 = std::array<double, 2>;

// Keeps a two-objective non-dominated staircase: x ascending, y strictly descending.
class Staircase {
 public:
  // Adds a point unless an existing one weakly dominates it; drops those it dominates.
  void Insert(const Point2& p) {
    auto it = front_.upper_bound(p[0]);
    // The point with the largest x <= p.x has the smallest y among those: does it dominate p?
    if (it != front_.begin() && std::prev(it)->second <= p[1]) return;
    // Remove points with x >= p.x and y >= p.y: p dominates them.
    auto first = front_.lower_bound(p[0]);
    auto last = first;
    while (last != front_.end() && last->second >= p[1]) ++last;
    front_.erase(first, last);
    front_[p[0]] = p[1];
  }
  double Area(const Point2& ref) const {
    double area = 0;
    for (auto it = front_.begin(); it != front_.end(); ++it) {
      auto next = std::next(it);
      const double next_x = next == front_.end() ? ref[0] : next->first;
      area += (next_x - it->first) * (ref[1] - it->second);
    }
    return area;
  }

 private:
  std::map<double, double> front_;
};

}  // namespace

absl::StatusOr<double> Hypervolume(const std::vector<std::vector<double>>& points,
                                   const std::vector<double>& reference) {
  const size_t d = reference.size();
  if (d < 1 || d > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("hypervolume: ", d, " objectives; exact hypervolume supports 1 to 3"));
  }
  std::vector<std::vector<double>> inside;
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].size() != d) {
      return absl::InvalidArgumentError(absl::StrCat("hypervolume: point ", i, " has ",
                                                     points[i].size(),
                                                     " objectives, the "
                                                     "reference ",
                                                     d));
    }
    bool below = true;
    for (size_t k = 0; k < d; ++k) below = below && points[i][k] < reference[k];
    if (below) inside.push_back(points[i]);
  }
  if (inside.empty()) return 0.0;
  if (d == 1) {
    double best = reference[0];
    for (const auto& p : inside) best = std::min(best, p[0]);
    return reference[0] - best;
  }
  const Point2 ref2{reference[0], reference[1]};
  if (d == 2) {
    Staircase stairs;
    for (const auto& p : inside) stairs.Insert({p[0], p[1]});
    return stairs.Area(ref2);
  }
  // Three objectives: slabs between consecutive third-objective values, each as thick as the
  // gap and as large as the area of the points at or below it.
  std::sort(inside.begin(), inside.end(), [](const auto& a, const auto& b) { return a[2] < b[2]; });
  Staircase stairs;
  double volume = 0;
  for (size_t i = 0; i < inside.size(); ++i) {
    stairs.Insert({inside[i][0], inside[i][1]});
    const double next_z = i + 1 < inside.size() ? inside[i + 1][2] : reference[2];
    if (next_z > inside[i][2]) volume += (next_z - inside[i][2]) * stairs.Area(ref2);
  }
  return volume;
}

}  // namespace nas
