#include "search/nsga2.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace nas {

namespace {

// 1 when `a` constrained-dominates `b`, -1 when `b` dominates `a`, 0 otherwise, in one pass
// over the objectives.
int Compare(const Ranked& a, const Ranked& b) {
  const bool fa = a.violation <= 0, fb = b.violation <= 0;
  if (fa != fb) return fa ? 1 : -1;
  if (!fa) return a.violation < b.violation ? 1 : b.violation < a.violation ? -1 : 0;
  bool a_better = false, b_better = false;
  for (size_t k = 0; k < a.objectives.size(); ++k) {
    if (a.objectives[k] < b.objectives[k]) a_better = true;
    if (b.objectives[k] < a.objectives[k]) b_better = true;
  }
  return a_better == b_better ? 0 : a_better ? 1 : -1;
}

}  // namespace

bool ConstrainedDominates(const Ranked& a, const Ranked& b) { return Compare(a, b) > 0; }

std::vector<std::vector<int>> NonDominatedSort(absl::Span<const Ranked> pop) {
  const int n = static_cast<int>(pop.size());
  std::vector<std::vector<int>> dominated(n);  // whom i dominates
  std::vector<int> count(n, 0);                // how many dominate i
  std::vector<std::vector<int>> fronts(1);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const int c = Compare(pop[i], pop[j]);
      if (c > 0) {
        dominated[i].push_back(j);
        ++count[j];
      } else if (c < 0) {
        dominated[j].push_back(i);
        ++count[i];
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    if (count[i] == 0) fronts[0].push_back(i);
  }
  while (!fronts.back().empty()) {
    std::vector<int> next;
    for (int i : fronts.back()) {
      for (int j : dominated[i]) {
        if (--count[j] == 0) next.push_back(j);
      }
    }
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(next));
  }
  fronts.pop_back();
  return fronts;
}

std::vector<double> CrowdingDistance(absl::Span<const Ranked> pop, absl::Span<const int> front) {
  const size_t n = front.size();
  std::vector<double> distance(n, 0);
  if (n == 0) return distance;
  const double inf = std::numeric_limits<double>::infinity();
  const size_t m = pop[front[0]].objectives.size();
  std::vector<size_t> order(n);
  for (size_t k = 0; k < m; ++k) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return pop[front[a]].objectives[k] < pop[front[b]].objectives[k];
    });
    const double lo = pop[front[order.front()]].objectives[k];
    const double hi = pop[front[order.back()]].objectives[k];
    distance[order.front()] = inf;
    distance[order.back()] = inf;
    if (hi <= lo) continue;
    for (size_t i = 1; i + 1 < n; ++i) {
      distance[order[i]] +=
          (pop[front[order[i + 1]]].objectives[k] - pop[front[order[i - 1]]].objectives[k]) /
          (hi - lo);
    }
  }
  return distance;
}

std::vector<RankCrowd> RankAndCrowding(absl::Span<const Ranked> pop) {
  std::vector<RankCrowd> out(pop.size());
  const std::vector<std::vector<int>> fronts = NonDominatedSort(pop);
  for (size_t r = 0; r < fronts.size(); ++r) {
    const std::vector<double> crowd = CrowdingDistance(pop, fronts[r]);
    for (size_t i = 0; i < fronts[r].size(); ++i) {
      out[fronts[r][i]] = {static_cast<int>(r), crowd[i]};
    }
  }
  return out;
}

std::vector<int> SelectNsga2(absl::Span<const Ranked> pop, int n, std::vector<double>* crowding) {
  std::vector<int> chosen;
  std::vector<double> chosen_crowding;
  for (const std::vector<int>& front : NonDominatedSort(pop)) {
    if (static_cast<int>(chosen.size()) >= n) break;
    const std::vector<double> crowd = CrowdingDistance(pop, front);
    std::vector<size_t> order(front.size());
    std::iota(order.begin(), order.end(), 0);
    if (static_cast<int>(chosen.size() + front.size()) > n) {
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return crowd[a] > crowd[b]; });
    }
    for (size_t i = 0; i < order.size() && static_cast<int>(chosen.size()) < n; ++i) {
      chosen.push_back(front[order[i]]);
      chosen_crowding.push_back(crowd[order[i]]);
    }
  }
  if (crowding != nullptr) *crowding = std::move(chosen_crowding);
  return chosen;
}

}  // namespace nas
