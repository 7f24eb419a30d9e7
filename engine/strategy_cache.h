// StrategyCache: each search's strategy, kept in memory between refills. The state is saved
// with the candidates it proposed (the store's transaction) under a save counter (generation);
// a copy whose generation differs from the saved one (another controller saved since, or a
// commit failed) is rebuilt from the spec and the saved state.
//
//   StrategyCache strategies;
//   absl::StatusOr<StrategyAnswer> a = strategies.Propose(request);
#ifndef NAS_ENGINE_STRATEGY_CACHE_H_
#define NAS_ENGINE_STRATEGY_CACHE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/nas.pb.h"
#include "search/strategy.h"

namespace nas::engine {

// What a strategy is asked.
struct StrategyRequest {
  int64_t search_id = 0;
  const nas::v1::SearchSpec* spec = nullptr;
  std::vector<nas::v1::HardwareProfile> profiles;  // in the search's order
  std::string saved_state;                         // empty before the first save
  int64_t generation = 0;
  std::vector<Observation> new_observations;  // in storage order
  int need = 0;
  // The search's stored candidates with an id above `after_id`, as (id, ArchitectureHash), in
  // id order: what the strategy is told the search holds (SearchStrategy::Remember). Asked
  // only for what the cache has not seen (all of them when the search is new to it). Null:
  // not told.
  std::function<absl::StatusOr<std::vector<std::pair<int64_t, std::string>>>(int64_t after_id)>
      candidates_after;
};

// Its answer: proposals, and its state after observing and proposing.
struct StrategyAnswer {
  std::vector<nas::v1::Architecture> proposals;
  std::string state;
};

class StrategyCache {
 public:
  // StrategyCache::Propose() feeds the search's strategy the new observations of networks of
  // its space (a reference of another family is never a parent) and asks it for `need`
  // proposals. The caller saves the state and bumps the generation when it commits.
  absl::StatusOr<StrategyAnswer> Propose(const StrategyRequest& request);
  // StrategyCache::Forget() drops an ended search's strategy.
  void Forget(int64_t search_id);

 private:
  struct Cached {
    std::unique_ptr<SearchStrategy> strategy;
    int64_t generation = -1;
    // The search's candidates read so far (candidates are never deleted, so this stays true
    // when the strategy is rebuilt from a newer saved state), and the newest id among them.
    std::vector<std::string> known;
    int64_t known_through = 0;
    // The name the search's space gives its networks (Architecture.space).
    std::string space_name;
  };
  absl::Mutex mu_;
  std::map<int64_t, Cached> strategies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas::engine

#endif  // NAS_ENGINE_STRATEGY_CACHE_H_
