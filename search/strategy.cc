#include "search/strategy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "search/random_strategy.h"

namespace nas {

std::vector<std::string> StrategyNames() { return {"random"}; }

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeStrategy(const nas::v1::Strategy& spec,
                                                             const SearchSpaceDef& space) {
  const uint64_t seed = spec.seed() == 0 ? 1 : spec.seed();
  if (spec.name() == "random" || spec.name().empty()) {
    // Random search has no settings; a setting here is a typo the user wants to hear about.
    for (const auto& [key, value] : spec.settings()) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy.settings[", key, "]: the random strategy has no settings"));
    }
    return std::make_unique<RandomStrategy>(space, seed);
  }
  return absl::InvalidArgumentError(absl::StrCat("strategy.name: \"", spec.name(),
                                                 "\" is not a strategy (",
                                                 absl::StrJoin(StrategyNames(), ", "), ")"));
}

}  // namespace nas
