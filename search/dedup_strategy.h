// DedupStrategy: a wrapper that makes any strategy propose only networks it has not proposed
// or seen evaluated before (by CanonicalKey), asking the wrapped strategy again when it repeats
// itself. MakeStrategy() wraps every strategy in it.
//
// The store deduplicates too (one candidate per architecture and search), but a strategy that
// keeps proposing what exists wastes refills, and in a small space it can make the scheduler
// declare the space exhausted early. Evolution repeats itself often: a mutation can undo the
// last one.
#ifndef NAS_SEARCH_DEDUP_STRATEGY_H_
#define NAS_SEARCH_DEDUP_STRATEGY_H_

#include <memory>

#include "absl/container/flat_hash_set.h"
#include "search/strategy.h"

namespace nas {

class DedupStrategy final : public SearchStrategy {
 public:
  // `attempts`: how many proposals of the wrapped strategy to look at, per proposal asked for,
  // before giving up (and returning fewer).
  explicit DedupStrategy(std::unique_ptr<SearchStrategy> inner, int attempts = 20)
      : inner_(std::move(inner)), attempts_(attempts) {}

  std::vector<nas::v1::Architecture> Propose(int n) override;
  void Observe(absl::Span<const Observation> results) override;
  // The seen keys, then the wrapped strategy's state. A state without the dedup header (saved
  // before the wrapper existed) restores the wrapped strategy with nothing seen.
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view state) override;

 private:
  std::unique_ptr<SearchStrategy> inner_;
  const int attempts_;
  absl::flat_hash_set<std::string> seen_;
  std::vector<std::string> order_;  // seen_ in insertion order, so saved states are stable
};

}  // namespace nas

#endif  // NAS_SEARCH_DEDUP_STRATEGY_H_
