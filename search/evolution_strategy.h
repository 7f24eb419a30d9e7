// Regularized (aging) evolution, Real, Aggarwal, Huang & Le 2019, for one or more objectives.
//
// The first `population` proposals are uniform samples. After that each proposal mutates the
// winner of a tournament among `sample_size` members drawn at random from the population, and
// every observed result joins the population while the oldest leaves it: a member survives
// `population` results, however good it was, which keeps the search from clinging to a lucky
// early candidate. With several objectives (or constraints) the tournament winner is the best by
// constrained non-dominated rank, then crowding distance, within the sample (search/nsga2.h).
//
// Settings: population (default 16, 2 to 10000), sample_size (default 4, 2 to population).
#ifndef NAS_SEARCH_EVOLUTION_STRATEGY_H_
#define NAS_SEARCH_EVOLUTION_STRATEGY_H_

#include "search/population.h"
#include "search/strategy.h"

namespace nas {

class EvolutionStrategy final : public PopulationStrategy {
 public:
  EvolutionStrategy(SearchSpaceDef space, uint64_t seed, int population, int sample_size);

  std::vector<nas::v1::Architecture> Propose(int n) override;
  // Members are kept oldest first.
  void Observe(absl::Span<const Observation> results) override;

 private:
  const int sample_size_;
};

}  // namespace nas

#endif  // NAS_SEARCH_EVOLUTION_STRATEGY_H_
