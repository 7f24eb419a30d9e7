#include "search/strategy.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "search/dedup_strategy.h"
#include "search/evolution_strategy.h"
#include "search/nsga2_strategy.h"
#include "search/random_strategy.h"
#include "search/weight_sharing.h"

namespace nas {
namespace {

// Reads the settings a strategy accepts; any other key is an error naming it.
class Settings {
 public:
  Settings(const nas::v1::Strategy& spec, std::vector<std::string> known)
      : spec_(spec), known_(std::move(known)) {}

  absl::Status CheckKeys() const {
    for (const auto& [key, value] : spec_.settings()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("strategy.settings[", key, "]: not a setting of ", spec_.name(),
                         known_.empty() ? " (it has none)"
                                        : absl::StrCat(" (", absl::StrJoin(known_, ", "), ")")));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> Int(const std::string& key, int fallback, int lo, int hi) const {
    auto it = spec_.settings().find(key);
    if (it == spec_.settings().end()) return fallback;
    int v = 0;
    if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat("strategy.settings[", key, "]: \"",
                                                     it->second.substr(0, 40),
                                                     "\" is not an integer from ", lo, " to ", hi));
    }
    return v;
  }

  absl::StatusOr<double> Double(const std::string& key, double fallback, double lo,
                                double hi) const {
    auto it = spec_.settings().find(key);
    if (it == spec_.settings().end()) return fallback;
    double v = 0;
    if (!absl::SimpleAtod(it->second, &v) || !(v >= lo && v <= hi)) {
      return absl::InvalidArgumentError(absl::StrCat("strategy.settings[", key, "]: \"",
                                                     it->second.substr(0, 40),
                                                     "\" is not a number from ", lo, " to ", hi));
    }
    return v;
  }

  absl::StatusOr<std::string> OneOf(const std::string& key,
                                    const std::vector<std::string>& choices) const {
    auto it = spec_.settings().find(key);
    if (it == spec_.settings().end()) return choices[0];
    if (std::find(choices.begin(), choices.end(), it->second) == choices.end()) {
      return absl::InvalidArgumentError(absl::StrCat("strategy.settings[", key, "]: \"",
                                                     it->second.substr(0, 40), "\" is not one of ",
                                                     absl::StrJoin(choices, ", ")));
    }
    return it->second;
  }

 private:
  const nas::v1::Strategy& spec_;
  std::vector<std::string> known_;
};

}  // namespace

std::vector<nas::v1::Architecture> ProposeFiltered(
    SearchStrategy& inner, int n, int attempts,
    const std::function<bool(const nas::v1::Architecture&)>& keep) {
  std::vector<nas::v1::Architecture> out;
  int64_t looked = 0;
  while (static_cast<int>(out.size()) < n && looked < int64_t{n} * attempts) {
    std::vector<nas::v1::Architecture> batch = inner.Propose(n - static_cast<int>(out.size()));
    if (batch.empty()) break;
    looked += static_cast<int64_t>(batch.size());
    for (nas::v1::Architecture& a : batch) {
      if (keep(a)) out.push_back(std::move(a));
    }
  }
  return out;
}

std::vector<std::string> StrategyNames() {
  return {"random", "evolution", "nsga2", kWeightSharing};
}

namespace {

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeUnwrapped(
    const nas::v1::Strategy& spec, const SearchSpaceDef& space,
    const std::vector<double>& hypervolume_reference) {
  const uint64_t seed = spec.seed() == 0 ? 1 : spec.seed();
  if (spec.name() == "random" || spec.name().empty()) {
    // Random search has no settings; a setting here is a typo the user wants to hear about.
    for (const auto& [key, value] : spec.settings()) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy.settings[", key, "]: the random strategy has no settings"));
    }
    return std::make_unique<RandomStrategy>(space, seed);
  }
  if (IsWeightSharing(spec)) {
    // The supernet's settings are the controller's; the subnets come from the inner strategy.
    absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec);
    if (!plan.ok()) return plan.status();
    return MakeUnwrapped(InnerStrategy(spec), space, hypervolume_reference);
  }
  if (spec.name() == "evolution") {
    const Settings settings(spec, {"population", "sample_size", "tie_break", "immigrants"});
    if (absl::Status st = settings.CheckKeys(); !st.ok()) return st;
    absl::StatusOr<int> population = settings.Int("population", 16, 2, 10000);
    if (!population.ok()) return population.status();
    absl::StatusOr<int> sample =
        settings.Int("sample_size", std::min(4, *population), 2, *population);
    if (!sample.ok()) return sample.status();
    absl::StatusOr<std::string> tie_break =
        settings.OneOf("tie_break", {"crowding", "hypervolume"});
    if (!tie_break.ok()) return tie_break.status();
    absl::StatusOr<double> immigrants = settings.Double("immigrants", 0.25, 0, 1);
    if (!immigrants.ok()) return immigrants.status();
    return std::make_unique<EvolutionStrategy>(
        space, seed, *population, *sample,
        *tie_break == "hypervolume" ? hypervolume_reference : std::vector<double>{}, *immigrants);
  }
  if (spec.name() == "nsga2") {
    const Settings settings(spec, {"population", "crossover_probability"});
    if (absl::Status st = settings.CheckKeys(); !st.ok()) return st;
    absl::StatusOr<int> population = settings.Int("population", 16, 4, 10000);
    if (!population.ok()) return population.status();
    absl::StatusOr<double> crossover = settings.Double("crossover_probability", 0.9, 0, 1);
    if (!crossover.ok()) return crossover.status();
    return std::make_unique<Nsga2Strategy>(space, seed, *population, *crossover);
  }
  return absl::InvalidArgumentError(absl::StrCat("strategy.name: \"", spec.name(),
                                                 "\" is not a strategy (",
                                                 absl::StrJoin(StrategyNames(), ", "), ")"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeStrategy(
    const nas::v1::Strategy& spec, const SearchSpaceDef& space,
    const std::vector<double>& hypervolume_reference) {
  absl::StatusOr<std::unique_ptr<SearchStrategy>> inner =
      MakeUnwrapped(spec, space, hypervolume_reference);
  if (!inner.ok()) return inner.status();
  return std::make_unique<DedupStrategy>(*std::move(inner));
}

}  // namespace nas
