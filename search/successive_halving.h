// Multi-objective successive halving: which candidates a cheap training rung promotes to the
// next, more expensive one.
//
//   std::vector<nas::v1::Fidelity> rungs = FidelityRungs(recipe, /*eta=*/3, /*count=*/3,
//                                                        /*train_examples=*/50000);
//   std::vector<int64_t> up = Promotable(results_at_rung_0, /*eta=*/3, already_promoted);
//
// Asynchronous, as in ASHA (Li et al. 2020): whenever a rung holds n results, its best
// floor(n / eta) may go up, so workers never wait for a rung to fill. "Best" is NSGA-II's order
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
// not in `already_promoted`, best first. Infeasible results are never promoted.
std::vector<int64_t> Promotable(absl::Span<const RungResult> rung, int eta,
                                const absl::flat_hash_set<int64_t>& already_promoted);

// FidelityRungs() returns `count` fidelities ending at the recipe's full one, each with eta times
// fewer training examples than the next (at least one batch), numbered by `rung`: the budget of
// successive halving. `train_examples` is the dataset's training split size (used when the
// recipe trains on all of it). InvalidArgument for eta < 2, count < 1, or rungs that would
// train on fewer examples than one batch.
absl::StatusOr<std::vector<nas::v1::Fidelity>> FidelityRungs(const nas::v1::TrainingRecipe& recipe,
                                                             int eta, int count,
                                                             int train_examples);

}  // namespace nas

#endif  // NAS_SEARCH_SUCCESSIVE_HALVING_H_
