// Regularized (aging) evolution, Real, Aggarwal, Huang & Le 2019, for one or more objectives.
//
// The first `population` proposals are uniform samples. After that each proposal mutates the
// winner of a tournament among `sample_size` members drawn at random from the population, and
// every observed result joins the population while the oldest leaves it: a member survives
// `population` results, however good it was, which keeps the search from clinging to a lucky
// early candidate. With several objectives (or constraints) the tournament winner is the best by
// constrained non-dominated rank within the sample (search/nsga2.h), then by NSGA-II's
// crowding distance. With tie_break=hypervolume, among the feasible members of the best rank
// the one whose loss would shrink the sample front's hypervolume most wins first (its
// exclusive contribution, as SMS-EMOA selects; Beume, Naujoks & Emmerich 2007), measured from
// the search's hypervolume reference; crowding breaks what remains (and decides alone for
// infeasible ranks or beyond 3 objectives). Crowding gives the ends of a front infinite worth,
// so it keeps mutating the largest and the tiniest networks; the contribution aims mutations
// at the part of the front the reference counts. Measured: the contribution wins on the
// synthetic problem of evolution_strategy_test.cc, crowding on the real task
// (docs/benchmarks.md), so crowding is the default.
//
// Random immigrants (Grefenstette 1992): after the random start, each proposal is a uniform
// sample with probability `immigrants` instead of a child. A small population that starts with
// no good region in it otherwise only mutates its way out one gene at a time; on the real task
// such seeds settled on large networks that train slowly and never found the small accurate
// ones, while immigrants keep random search's chance of landing there (docs/benchmarks.md).
//
// Settings: population (default 16, 2 to 10000), sample_size (default 4, 2 to population),
// tie_break ("crowding", the default, or "hypervolume"), immigrants (default 0.25, 0 to 1).
#ifndef NAS_SEARCH_EVOLUTION_STRATEGY_H_
#define NAS_SEARCH_EVOLUTION_STRATEGY_H_

#include "search/population.h"
#include "search/strategy.h"

namespace nas {

// TournamentWinner() returns the index in `sample` of the tournament's winner, as above: best
// constrained rank, then largest exclusive hypervolume contribution from `reference` (skipped
// when `reference` is empty), then largest crowding distance, then the lowest index.
int TournamentWinner(const std::vector<Ranked>& sample, const std::vector<double>& reference);

class EvolutionStrategy final : public PopulationStrategy {
 public:
  // `reference`: the hypervolume reference point in minimisation form, one value per
  // objective (search/hardware_profile.h, HypervolumeReference); empty for crowding alone.
  EvolutionStrategy(SearchSpaceDef space, uint64_t seed, int population, int sample_size,
                    std::vector<double> reference = {}, double immigrants = 0);

  std::vector<nas::v1::Architecture> Propose(int n) override;
  // Members are kept oldest first.
  void Observe(absl::Span<const Observation> results) override;

 private:
  const int sample_size_;
  const std::vector<double> reference_;
  const double immigrants_;
};

}  // namespace nas

#endif  // NAS_SEARCH_EVOLUTION_STRATEGY_H_
