#include "engine/strategy_cache.h"

#include "common/status_macros.h"
#include "search/constrained_strategy.h"

namespace nas::engine {

absl::StatusOr<StrategyAnswer> StrategyCache::Propose(const StrategyRequest& request) {
  absl::MutexLock lock(&mu_);
  Cached& cached = strategies_[request.search_id];
  if (cached.strategy == nullptr || cached.generation != request.generation) {
    // Not cached, or stale: rebuild from the spec and the saved state. Proposals certain to
    // break a limit on every profile are dropped before they are queued.
    NAS_ASSIGN_OR_RETURN(cached.strategy, MakeSearchStrategy(*request.spec, request.profiles));
    if (!request.saved_state.empty()) {
      NAS_RETURN_IF_ERROR(cached.strategy->RestoreState(request.saved_state));
    }
  }
  cached.strategy->Observe(request.new_observations);
  StrategyAnswer answer;
  answer.proposals = cached.strategy->Propose(request.need);
  answer.state = cached.strategy->SaveState();
  // The store bumps the generation when it commits; if the commit fails, the next refill sees
  // a different generation and rebuilds from what was saved.
  cached.generation = request.generation + 1;
  return answer;
}

void StrategyCache::Forget(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  strategies_.erase(search_id);
}

}  // namespace nas::engine
