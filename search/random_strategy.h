// Random search: every proposal is an independent uniform sample of the space.
//
// The baseline every comparison of strategies needs (Li & Talwalkar 2019 found it a strong one
// for NAS). Seeded and resumable: its state is the generator's state.
#ifndef NAS_SEARCH_RANDOM_STRATEGY_H_
#define NAS_SEARCH_RANDOM_STRATEGY_H_

#include <random>

#include "search/strategy.h"

namespace nas {

class RandomStrategy final : public SearchStrategy {
 public:
  RandomStrategy(SearchSpaceDef space, uint64_t seed);

  std::vector<nas::v1::Architecture> Propose(int n) override;
  void Observe(absl::Span<const Observation> results) override {}
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view state) override;

 private:
  SearchSpaceDef space_;
  std::mt19937_64 rng_;
};

}  // namespace nas

#endif  // NAS_SEARCH_RANDOM_STRATEGY_H_
