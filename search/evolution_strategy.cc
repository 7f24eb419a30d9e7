#include "search/evolution_strategy.h"

#include <algorithm>
#include <numeric>

#include "search/hypervolume.h"

namespace nas {

EvolutionStrategy::EvolutionStrategy(SearchSpaceDef space, uint64_t seed, int population,
                                     int sample_size, std::vector<double> reference,
                                     double immigrants)
    : PopulationStrategy("evolution-v1", std::move(space), seed, population),
      sample_size_(sample_size),
      reference_(std::move(reference)),
      immigrants_(immigrants) {}

int TournamentWinner(const std::vector<Ranked>& sample, const std::vector<double>& reference) {
  const std::vector<RankCrowd> rc = RankAndCrowding(sample);
  std::vector<int> best_rank;
  for (int j = 0; j < static_cast<int>(sample.size()); ++j) {
    if (best_rank.empty() || rc[j].rank < rc[best_rank[0]].rank)
      best_rank = {j};
    else if (rc[j].rank == rc[best_rank[0]].rank)
      best_rank.push_back(j);
  }
  // Exclusive hypervolume contributions, when they are defined for this rank.
  std::vector<double> contribution(sample.size(), 0);
  bool by_contribution = !reference.empty() && best_rank.size() > 1;
  std::vector<std::vector<double>> points;
  for (int j : best_rank) {
    by_contribution = by_contribution && sample[j].violation == 0 &&
                      sample[j].objectives.size() == reference.size();
    points.push_back(sample[j].objectives);
  }
  if (by_contribution) {
    const absl::StatusOr<double> whole = Hypervolume(points, reference);
    by_contribution = whole.ok();
    for (size_t i = 0; by_contribution && i < best_rank.size(); ++i) {
      std::vector<std::vector<double>> others = points;
      others.erase(others.begin() + static_cast<std::ptrdiff_t>(i));
      contribution[best_rank[i]] = *whole - *Hypervolume(others, reference);
    }
  }
  int best = best_rank[0];
  for (int j : best_rank) {
    if (contribution[j] > contribution[best] ||
        (contribution[j] == contribution[best] && rc[j].crowding > rc[best].crowding)) {
      best = j;
    }
  }
  return best;
}

std::vector<nas::v1::Architecture> EvolutionStrategy::Propose(int n) {
  std::vector<nas::v1::Architecture> out;
  for (int i = 0; i < n; ++i) {
    // No draw without immigrants, so such searches keep their generator's sequence.
    if (RandomStart() || (immigrants_ > 0 && std::bernoulli_distribution(immigrants_)(rng_))) {
      out.push_back(SampleArchitecture(space_, rng_));
      continue;
    }
    // A tournament among sample_size distinct members drawn at random.
    std::vector<int> index(members_.size());
    std::iota(index.begin(), index.end(), 0);
    const int k = std::min<int>(sample_size_, static_cast<int>(index.size()));
    for (int j = 0; j < k; ++j) {
      std::swap(
          index[j],
          index[std::uniform_int_distribution<int>(j, static_cast<int>(index.size()) - 1)(rng_)]);
    }
    std::vector<Ranked> sample;
    for (int j = 0; j < k; ++j) sample.push_back(members_[index[j]].ranked);
    const int best = TournamentWinner(sample, reference_);
    out.push_back(MutateArchitecture(members_[index[best]].architecture, space_, rng_));
  }
  return out;
}

void EvolutionStrategy::Observe(absl::Span<const Observation> results) {
  for (const Observation& o : results) {
    if (!o.ok) continue;  // A failed evaluation has no fitness; it does not age the population.
    members_.push_back(ToMember(o));
    if (static_cast<int>(members_.size()) > population_) members_.erase(members_.begin());
  }
}

}  // namespace nas
