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
  size_t promoted = 0;
  for (const RungResult& r : rung) promoted += already_promoted.contains(r.candidate_id);
  std::vector<int64_t> out;
  for (size_t i = 0; i < quota && promoted + out.size() < quota; ++i) {
    const RungResult& r = rung[order[i]];
    if (r.ranked.violation > 0) break;  // Sorted: the rest are infeasible too.
    if (!already_promoted.contains(r.candidate_id)) out.push_back(r.candidate_id);
  }
  return out;
}

absl::StatusOr<std::vector<nas::v1::Fidelity>> FidelityRungs(const nas::v1::TrainingRecipe& recipe,
                                                             int eta, int count) {
  if (eta < 2 || eta > 10) {
    return absl::InvalidArgumentError(
        absl::StrCat("multi_fidelity.eta: must be 2 to 10, got ", eta));
  }
  if (count < 1 || count > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("multi_fidelity.rungs: must be 1 to 5, got ", count));
  }
  const int batch = recipe.batch_size() > 0 ? recipe.batch_size() : 128;
  std::vector<nas::v1::Fidelity> rungs(count);
  double fraction = 1;
  for (int r = count - 1; r >= 0; --r) {
    nas::v1::Fidelity& f = rungs[r];
    f.set_rung(r);
    f.set_epochs(recipe.epochs());
    f.set_train_subset(recipe.train_subset());
    if (r < count - 1) f.set_train_fraction(fraction);
    if (recipe.train_subset() > 0 && recipe.train_subset() * fraction < batch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "multi_fidelity.rungs: rung ", r, " would train on ",
          static_cast<int64_t>(recipe.train_subset() * fraction), " of recipe.train_subset ",
          recipe.train_subset(), " examples, less than one batch of ", batch,
          "; use fewer rungs or a smaller eta"));
    }
    fraction /= eta;
  }
  return rungs;
}

int64_t MaxEvaluations(int64_t architectures, int eta, int count) {
  int64_t total = 0;
  int64_t n = architectures;
  for (int r = 0; r < count && n > 0; ++r) {
    total += n;
    n = eta > 0 ? n / eta : 0;
  }
  return total;
}

}  // namespace nas
