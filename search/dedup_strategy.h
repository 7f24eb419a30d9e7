// DedupStrategy: a wrapper that makes any strategy propose only networks it has not proposed,
// seen evaluated, or been told the search holds (Remember(); by ArchitectureHash), asking the
// wrapped strategy again when it repeats itself. MakeStrategy() wraps every strategy in it.
//
// What it has seen is not saved: it is derivable from the search's candidates, and saving it
// made every refill write a state that grew with the search (96 bytes a candidate: 9.6 MB at
// 100,000). engine::StrategyCache feeds a restored strategy the search's candidates instead.
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
  // The wrapped strategy's state under a "dedup-v2" header; nothing seen is saved. Older
  // states still restore: "dedup-v1" (its seen keys are kept) and none (the wrapped
  // strategy's alone, nothing seen).
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view state) override;
  void Remember(absl::Span<const std::string> architecture_hashes) override;

 private:
  std::unique_ptr<SearchStrategy> inner_;
  const int attempts_;
  absl::flat_hash_set<std::string> seen_;  // ArchitectureHash()es
};

}  // namespace nas

#endif  // NAS_SEARCH_DEDUP_STRATEGY_H_
