// The interface every search strategy implements, and the factory the controller calls.
//
// A strategy proposes architectures and observes their results; it never sleeps, polls, or
// touches the network or the store. The controller's scheduler drives it and persists its state
// (SaveState) in the same transaction as the candidates it proposed, so a restarted controller
// resumes where it stood:
//
//   absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeStrategy(spec.strategy(), space);
//   (*s)->Observe(results_since_last_time);
//   std::vector<nas::v1::Architecture> next = (*s)->Propose(4);
//   store.Save((*s)->SaveState());
#ifndef NAS_SEARCH_STRATEGY_H_
#define NAS_SEARCH_STRATEGY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/nas.pb.h"
#include "search/search_space.h"

namespace nas {

// Observation: one evaluated candidate, as a strategy sees it.
struct Observation {
  int64_t candidate_id = 0;
  nas::v1::Architecture architecture;
  // Objective values in minimisation form (accuracy negated), in the search's objective order,
  // on the search's first hardware profile.
  std::vector<double> objectives;
  // Whether the candidate met every limit and constraint on that profile.
  bool feasible = true;
  // How badly an infeasible candidate missed: the number of limits and constraints it broke on
  // that profile (constrained domination prefers fewer). 0 when feasible.
  double violation = 0;
  // False when the evaluation failed for good; `objectives` is then empty.
  bool ok = true;
};

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;

  // SearchStrategy::Propose() returns up to `n` architectures to evaluate next. It may return
  // fewer (e.g. while waiting for results) and may repeat earlier proposals; the controller
  // deduplicates by CanonicalKey().
  virtual std::vector<nas::v1::Architecture> Propose(int n) = 0;

  // SearchStrategy::Observe() takes results in the order they were stored.
  virtual void Observe(absl::Span<const Observation> results) = 0;

  // SearchStrategy::SaveState() serialises everything Propose() depends on.
  virtual std::string SaveState() const = 0;

  // SearchStrategy::RestoreState() loads what SaveState() wrote. After it, Propose() returns
  // what the saved strategy would have returned.
  virtual absl::Status RestoreState(absl::string_view state) = 0;

  // SearchStrategy::Remember() tells the strategy of architectures the search holds already
  // (ArchitectureHash()es of stored candidates, whoever queued them): derivable from the
  // store, so kept out of the saved state, which would otherwise grow with the search. A
  // strategy that avoids repeats (DedupStrategy) never proposes them. Default: ignored.
  virtual void Remember(absl::Span<const std::string> architecture_hashes) {}
};

// ProposeFiltered() asks `inner` for proposals until `keep` has accepted `n` of them or
// `n * attempts` were looked at (or `inner` returns none), and returns those kept, in order:
// the loop of every wrapper that filters another strategy's proposals.
std::vector<nas::v1::Architecture> ProposeFiltered(
    SearchStrategy& inner, int n, int attempts,
    const std::function<bool(const nas::v1::Architecture&)>& keep);

// StrategyNames() returns the names MakeStrategy() accepts.
std::vector<std::string> StrategyNames();

// MakeStrategy() builds the strategy `spec` names over `space`. An unknown name, an unknown
// setting or a setting out of range is InvalidArgument naming "strategy.name" or
// "strategy.settings[<key>]". `hypervolume_reference` is the point, in minimisation form, from
// which the search's fronts are measured (empty: none); strategies that select by
// hypervolume contribution measure from it.
absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeStrategy(
    const nas::v1::Strategy& spec, const SearchSpaceDef& space,
    const std::vector<double>& hypervolume_reference = {});

}  // namespace nas

#endif  // NAS_SEARCH_STRATEGY_H_
