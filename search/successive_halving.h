// Multi-objective successive halving: which candidates a cheap training rung promotes to the
// next, more expensive one.
//
//   std::vector<nas::v1::Fidelity> rungs = *FidelityRungs(recipe, /*eta=*/3, /*count=*/3);
//   std::vector<int64_t> up = Promotable(results_at_rung_0, /*eta=*/3, already_promoted);
//
// Asynchronous, as in ASHA (Li et al. 2020): whenever a rung holds n results, its best
// floor(n / eta) may go up, so workers never wait for a rung to fill. Unlike ASHA, a rung
// never promotes more than floor(n / eta) in all, even when an early promotion has since
// fallen out of its best: the budget's bound (MaxEvaluations) holds. "Best" is NSGA-II's order
// (constrained non-dominated rank, then crowding distance; search/nsga2.h), not accuracy alone:
// a fast, slightly less accurate candidate on the front is promoted over a dominated one.
#ifndef NAS_SEARCH_SUCCESSIVE_HALVING_H_
#define NAS_SEARCH_SUCCESSIVE_HALVING_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/nas.pb.h"
#include "search/nsga2.h"

namespace nas {

struct RungResult {
  int64_t candidate_id = 0;
  Ranked ranked;  // objectives in minimisation form, total violation
};

// Promotable() returns the ids among the best floor(size / eta) results of one rung that are
// not in `already_promoted`, best first, but no more than floor(size / eta) less the rung's
// results already promoted. Infeasible results are never promoted.
std::vector<int64_t> Promotable(absl::Span<const RungResult> rung, int eta,
                                const absl::flat_hash_set<int64_t>& already_promoted);

// FidelityRungs() returns `count` fidelities, numbered by `rung`, ending at the recipe's full
// one; below it each trains on eta times fewer examples than the next (Fidelity.train_fraction
// 1/eta, 1/eta^2, ...; the trainer keeps at least one batch). InvalidArgument naming
// "multi_fidelity.eta" or "multi_fidelity.rungs" for eta outside 2..10, count outside 1..5,
// or, when the recipe fixes train_subset, a lowest rung of fewer examples than one batch.
absl::StatusOr<std::vector<nas::v1::Fidelity>> FidelityRungs(const nas::v1::TrainingRecipe& recipe,
                                                             int eta, int count);

// MaxEvaluations() returns the most evaluations successive halving spends on `architectures`
// (each evaluated at rung 0) over `count` rungs: every rung promotes at most floor(n / eta) of
// its n results.
int64_t MaxEvaluations(int64_t architectures, int eta, int count);

}  // namespace nas

#endif  // NAS_SEARCH_SUCCESSIVE_HALVING_H_
