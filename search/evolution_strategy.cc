#include "search/evolution_strategy.h"

#include <algorithm>
#include <numeric>

namespace nas {

EvolutionStrategy::EvolutionStrategy(SearchSpaceDef space, uint64_t seed, int population,
                                     int sample_size)
    : PopulationStrategy("evolution-v1", std::move(space), seed, population),
      sample_size_(sample_size) {}

std::vector<nas::v1::Architecture> EvolutionStrategy::Propose(int n) {
  std::vector<nas::v1::Architecture> out;
  for (int i = 0; i < n; ++i) {
    if (RandomStart()) {
      out.push_back(SampleArchitecture(space_, rng_));
      continue;
    }
    // A tournament among sample_size distinct members drawn at random.
    std::vector<int> index(members_.size());
    std::iota(index.begin(), index.end(), 0);
    const int k = std::min<int>(sample_size_, static_cast<int>(index.size()));
    for (int j = 0; j < k; ++j) {
      std::swap(index[j],
                index[std::uniform_int_distribution<int>(j, static_cast<int>(index.size()) - 1)(rng_)]);
    }
    std::vector<Ranked> sample;
    for (int j = 0; j < k; ++j) sample.push_back(members_[index[j]].ranked);
    const std::vector<RankCrowd> rc = RankAndCrowding(sample);
    int best = 0;
    for (int j = 1; j < k; ++j) {
      if (CrowdedLess(rc[j], rc[best])) best = j;
    }
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
