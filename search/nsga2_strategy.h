// NSGA-II over architectures (Deb et al. 2002), steady-state so that it fits a pool of workers
// that finish at different times.
//
// The first `population` proposals are uniform samples. After that each proposal is a child of
// two parents, each the winner of a binary tournament under NSGA-II's crowded comparison (lower
// constrained non-dominated rank, then larger crowding distance), crossed over with probability
// `crossover_probability` (uniform over stages) and then mutated once. Each observed result joins
// the population, which is cut back to `population` members by NSGA-II's environmental selection
// (whole fronts, then the most crowding-distant of the next).
//
// Settings: population (default 16, 4 to 10000), crossover_probability (default 0.9, 0 to 1).
#ifndef NAS_SEARCH_NSGA2_STRATEGY_H_
#define NAS_SEARCH_NSGA2_STRATEGY_H_

#include "search/population.h"
#include "search/strategy.h"

namespace nas {

class Nsga2Strategy final : public PopulationStrategy {
 public:
  Nsga2Strategy(SearchSpaceDef space, uint64_t seed, int population, double crossover_probability);

  std::vector<nas::v1::Architecture> Propose(int n) override;
  void Observe(absl::Span<const Observation> results) override;

 private:
  const double crossover_probability_;
};

}  // namespace nas

#endif  // NAS_SEARCH_NSGA2_STRATEGY_H_
