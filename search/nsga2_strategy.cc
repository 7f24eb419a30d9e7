#include "search/nsga2_strategy.h"

#include <algorithm>

namespace nas {

Nsga2Strategy::Nsga2Strategy(SearchSpaceDef space, uint64_t seed, int population,
                             double crossover_probability)
    : PopulationStrategy("nsga2-v1", std::move(space), seed, population),
      crossover_probability_(crossover_probability) {}

std::vector<nas::v1::Architecture> Nsga2Strategy::Propose(int n) {
  std::vector<nas::v1::Architecture> out;
  std::vector<RankCrowd> rc;
  for (int i = 0; i < n; ++i) {
    if (RandomStart()) {
      out.push_back(SampleArchitecture(space_, rng_));
      continue;
    }
    if (rc.empty()) {
      std::vector<Ranked> ranked;
      for (const Member& m : members_) ranked.push_back(m.ranked);
      rc = RankAndCrowding(ranked);
    }
    std::uniform_int_distribution<size_t> any(0, members_.size() - 1);
    auto tournament = [&]() -> const nas::v1::Architecture& {
      const size_t a = any(rng_), b = any(rng_);
      return members_[CrowdedLess(rc[b], rc[a]) ? b : a].architecture;
    };
    const nas::v1::Architecture& first = tournament();
    const nas::v1::Architecture& second = tournament();
    nas::v1::Architecture child = std::bernoulli_distribution(crossover_probability_)(rng_)
                                      ? CrossoverArchitectures(first, second, rng_)
                                      : first;
    out.push_back(MutateArchitecture(child, space_, rng_));
  }
  return out;
}

void Nsga2Strategy::Observe(absl::Span<const Observation> results) {
  for (const Observation& o : results) {
    if (o.ok) members_.push_back(ToMember(o));
  }
  if (static_cast<int>(members_.size()) <= population_) return;
  std::vector<Ranked> ranked;
  for (const Member& m : members_) ranked.push_back(m.ranked);
  std::vector<int> keep = SelectNsga2(ranked, population_);
  std::sort(keep.begin(), keep.end());  // Keep arrival order among survivors.
  std::vector<Member> survivors;
  for (int i : keep) survivors.push_back(std::move(members_[i]));
  members_ = std::move(survivors);
}

}  // namespace nas
