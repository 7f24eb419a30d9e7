#include "engine/strategy_cache.h"

#include <algorithm>

#include "common/status_macros.h"
#include "search/constrained_strategy.h"
#include "search/search_space.h"

namespace nas::engine {

absl::StatusOr<StrategyAnswer> StrategyCache::Propose(const StrategyRequest& request) {
  absl::MutexLock lock(&mu_);
  Cached& cached = strategies_[request.search_id];
  const bool rebuild = cached.strategy == nullptr || cached.generation != request.generation;
  if (rebuild) {
    // Not cached, or stale: rebuild from the spec and the saved state. Proposals certain to
    // break a limit on every profile are dropped before they are queued.
    cached.strategy = nullptr;
    NAS_ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy,
                         MakeSearchStrategy(*request.spec, request.profiles));
    if (!request.saved_state.empty()) {
      NAS_RETURN_IF_ERROR(strategy->RestoreState(request.saved_state));
    }
    cached.strategy = std::move(strategy);
    NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(request.spec->space()));
    cached.space_name = space.name;
  }
  if (request.candidates_after) {
    // Only the candidates stored since the last refill this cache saw are read.
    NAS_ASSIGN_OR_RETURN(auto fresh, request.candidates_after(cached.known_through));
    const size_t before = cached.known.size();
    for (auto& [id, hash] : fresh) {
      cached.known.push_back(std::move(hash));
      cached.known_through = std::max(cached.known_through, id);
    }
    if (rebuild) {
      cached.strategy->Remember(cached.known);
    } else {
      cached.strategy->Remember(
          absl::MakeConstSpan(cached.known).subspan(before, cached.known.size() - before));
    }
  }
  // A reference outside the space (search/reference.h) trains and is compared like any
  // candidate, but the strategies move through their space: it is not theirs to evolve from.
  std::vector<Observation> observations;
  observations.reserve(request.new_observations.size());
  for (const Observation& o : request.new_observations) {
    if (o.architecture.space() == cached.space_name) observations.push_back(o);
  }
  cached.strategy->Observe(observations);
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
