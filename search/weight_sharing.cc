#include "search/weight_sharing.h"

#include <cstdint>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nas {
namespace {

const std::set<std::string>& OwnSettings() {
  static const auto* kOwn = new std::set<std::string>{
      "search",          "supernet_epochs",   "supernet_examples", "sandwich",
      "random_subnets",  "finetune_share",    "finetune",          "recalibration_batches",
      "supernet_search", "estimate_examples", "supernet_workers"};
  return *kOwn;
}

absl::Status Bad(const std::string& key, const std::string& value, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("strategy.settings[", key, "]: \"", value.substr(0, 40), "\" is not ", what));
}

absl::Status ReadInt(const nas::v1::Strategy& s, const std::string& key, int64_t lo, int64_t hi,
                     int64_t* out) {
  auto it = s.settings().find(key);
  if (it == s.settings().end()) return absl::OkStatus();
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
    return Bad(key, it->second, absl::StrCat("an integer from ", lo, " to ", hi));
  }
  *out = v;
  return absl::OkStatus();
}

}  // namespace

bool IsWeightSharing(const nas::v1::Strategy& strategy) {
  return strategy.name() == kWeightSharing;
}

absl::StatusOr<WeightSharingPlan> ParseWeightSharing(const nas::v1::Strategy& strategy) {
  WeightSharingPlan plan;
  const auto& settings = strategy.settings();
  if (auto it = settings.find("search"); it != settings.end()) {
    if (it->second != "evolution" && it->second != "nsga2" && it->second != "random") {
      return Bad("search", it->second, "one of evolution, nsga2, random");
    }
    plan.search = it->second;
  }
  int64_t epochs = plan.supernet_epochs, examples = plan.supernet_examples,
          random = plan.random_subnets, share = plan.finetune_share,
          recal = plan.recalibration_batches, estimate_examples = plan.estimate_examples,
          workers = plan.supernet_workers;
  for (absl::Status st :
       {ReadInt(strategy, "supernet_epochs", 1, 200, &epochs),
        ReadInt(strategy, "supernet_examples", 0, 10'000'000, &examples),
        ReadInt(strategy, "random_subnets", 0, 8, &random),
        ReadInt(strategy, "finetune_share", 2, 100, &share),
        ReadInt(strategy, "recalibration_batches", 1, 100, &recal),
        ReadInt(strategy, "estimate_examples", 0, 1'000'000, &estimate_examples),
        ReadInt(strategy, "supernet_search", 1, INT64_MAX, &plan.supernet_search),
        ReadInt(strategy, "supernet_workers", 1, kMaxSupernetWorkers, &workers)}) {
    if (!st.ok()) return st;
  }
  plan.supernet_epochs = static_cast<int>(epochs);
  plan.supernet_examples = static_cast<int>(examples);
  plan.random_subnets = static_cast<int>(random);
  plan.finetune_share = static_cast<int>(share);
  plan.recalibration_batches = static_cast<int>(recal);
  plan.estimate_examples = static_cast<int>(estimate_examples);
  plan.supernet_workers = static_cast<int>(workers);
  if (auto it = settings.find("sandwich"); it != settings.end()) {
    if (it->second != "true" && it->second != "false")
      return Bad("sandwich", it->second, "true or false");
    plan.sandwich = it->second == "true";
  }
  if (!plan.sandwich && plan.random_subnets == 0) {
    return absl::InvalidArgumentError(
        "strategy.settings[random_subnets]: 0 without the sandwich rule trains no subnet");
  }
  if (auto it = settings.find("finetune"); it != settings.end()) {
    if (it->second != "supernet" && it->second != "scratch") {
      return Bad("finetune", it->second, "supernet or scratch");
    }
    plan.finetune_from_supernet = it->second == "supernet";
  }
  return plan;
}

nas::v1::Strategy InnerStrategy(const nas::v1::Strategy& strategy) {
  nas::v1::Strategy inner;
  auto it = strategy.settings().find("search");
  inner.set_name(it == strategy.settings().end() ? "evolution" : it->second);
  inner.set_seed(strategy.seed());
  for (const auto& [key, value] : strategy.settings()) {
    if (OwnSettings().count(key) == 0) (*inner.mutable_settings())[key] = value;
  }
  return inner;
}

}  // namespace nas
