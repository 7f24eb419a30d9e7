// The ranking machinery of NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002), for any number of
// objectives in minimisation form, with constrained domination:
//
//   std::vector<Ranked> pop = ...;                       // objectives + total violation
//   std::vector<std::vector<int>> fronts = NonDominatedSort(pop);   // fronts[0]: the best
//   std::vector<double> crowd = CrowdingDistance(pop, fronts[0]);
//   std::vector<int> survivors = SelectNsga2(pop, 100);  // rank, then crowding
//
// Used by the NSGA-II and evolution strategies over architectures and by the ZDT benchmark
// against DEAP (tests/zdt_benchmark.cc). Every order is deterministic (stable sorts, index
// tie-breaks), so a seeded search repeats exactly.
#ifndef NAS_SEARCH_NSGA2_H_
#define NAS_SEARCH_NSGA2_H_

#include <vector>

#include "absl/types/span.h"

namespace nas {

// An individual as NSGA-II ranks it.
struct Ranked {
  std::vector<double> objectives;  // minimisation form
  double violation = 0;            // total constraint violation; 0 means feasible
};

// ConstrainedDominates(): a feasible individual dominates an infeasible one; of two infeasible
// ones the smaller total violation dominates; of two feasible ones, Pareto dominance decides.
bool ConstrainedDominates(const Ranked& a, const Ranked& b);

// NonDominatedSort() returns the fronts of `pop` under constrained domination, best first,
// each front's indices ascending ("fast non-dominated sort", O(M N^2)).
std::vector<std::vector<int>> NonDominatedSort(absl::Span<const Ranked> pop);

// CrowdingDistance() returns, for each index of `front` in order, its crowding distance within
// the front: the sum over objectives of the normalised gap between its neighbours; the
// extremes of each objective get infinity.
std::vector<double> CrowdingDistance(absl::Span<const Ranked> pop, absl::Span<const int> front);

// RankAndCrowding(): per individual, its front index and its crowding distance in that front.
struct RankCrowd {
  int rank = 0;
  double crowding = 0;
};
std::vector<RankCrowd> RankAndCrowding(absl::Span<const Ranked> pop);

// CrowdedLess(): NSGA-II's crowded-comparison order: lower rank, then larger crowding.
inline bool CrowdedLess(const RankCrowd& a, const RankCrowd& b) {
  return a.rank != b.rank ? a.rank < b.rank : a.crowding > b.crowding;
}

// SelectNsga2() returns the indices of the `n` survivors of `pop` (environmental selection):
// whole fronts while they fit, then the most crowding-distant of the next front. In order of
// selection. When `crowding` is given it receives each survivor's crowding distance within its
// front of `pop` (what NSGA-II's parent tournaments compare next).
std::vector<int> SelectNsga2(absl::Span<const Ranked> pop, int n,
                             std::vector<double>* crowding = nullptr);

}  // namespace nas

#endif  // NAS_SEARCH_NSGA2_H_
