#include "search/successive_halving.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace nas {

std::vector<int64_t> Promotable(absl::Span<const RungResult> rung, int eta,
                                const absl::flat_hash_set<int64_t>& already_promoted) {
  std::vector<Ranked> ranked;
  for (const RungResult& r : rung) ranked.push_back(r.ranked);
  const std::vector<RankCrowd> rc = RankAndCrowding(ranked);
  std::vector<size_t> order(rung.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return CrowdedLess(rc[a], rc[b]); });
  const size_t quota = eta > 0 ? rung.size() / eta : 0;
  std::vector<int64_t> out;
  for (size_t i = 0; i < quota; ++i) {
    const RungResult& r = rung[order[i]];
    if (r.ranked.violation > 0) break;  // Sorted: the rest are infeasible too.
    if (!already_promoted.contains(r.candidate_id)) out.push_back(r.candidate_id);
  }
  return out;
}

absl::StatusOr<std::vector<nas::v1::Fidelity>> FidelityRungs(const nas::v1::TrainingRecipe& recipe,
                                                             int eta, int count,
                                                             int train_examples) {
  if (eta < 2) return absl::InvalidArgumentError("successive halving: eta must be at least 2");
  if (count < 1) return absl::InvalidArgumentError("successive halving: at least one rung");
  const int full = recipe.train_subset() > 0 ? std::min(recipe.train_subset(), train_examples)
                                             : train_examples;
  const int batch = recipe.batch_size() > 0 ? recipe.batch_size() : 128;
  std::vector<nas::v1::Fidelity> rungs(count);
  int64_t examples = full;
  for (int r = count - 1; r >= 0; --r) {
    if (examples < batch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "successive halving: rung ", r, " would train on ", examples,
          " examples, less than one batch of ", batch, "; use fewer rungs or a smaller eta"));
    }
    rungs[r].set_rung(r);
    rungs[r].set_epochs(recipe.epochs());
    rungs[r].set_train_subset(static_cast<int32_t>(examples));
    examples /= eta;
  }
  return rungs;
}

}  // namespace nas
