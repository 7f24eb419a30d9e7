#include "services/spec_validation.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/dataset_name.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/objectives.h"
#include "search/reference.h"
#include "search/search_space.h"
#include "search/strategy.h"
#include "search/successive_halving.h"
#include "search/weight_sharing.h"

namespace nas {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", why));
}

// Prefixes a search/ error (which names fields relative to the spec) with "spec.".
absl::Status InSpec(const absl::Status& st) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat("spec.", st.message()));
}

template <typename T>
absl::Status InRange(absl::string_view field, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return Invalid(field, absl::StrCat(value, " is outside ", lo, " to ", hi));
}

}  // namespace

absl::StatusOr<nas::v1::SearchSpec> NormalizeSearchSpec(nas::v1::SearchSpec spec) {
  if (spec.ByteSizeLong() > kMaxSpecBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: ", spec.ByteSizeLong(), " bytes; the limit is ", kMaxSpecBytes));
  }
  if (spec.display_name().size() > 128) {
    return Invalid("display_name", "longer than 128 characters");
  }
  if (spec.dataset().empty()) spec.set_dataset(std::string(kDefaultDataset));
  if (!IsValidDatasetName(spec.dataset())) {
    return Invalid("dataset", absl::StrCat("\"", absl::CHexEscape(spec.dataset().substr(0, 80)),
                                           "\" is not a dataset name (", kNameRule, ")"));
  }

  if (spec.space().name().empty() && spec.space().stages().empty()) {
    spec.mutable_space()->set_name("mobilenetv2");
  }
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(spec.space());
  NAS_RETURN_IF_ERROR(InSpec(space.status()));
  {
    // A space whose largest network no worker could hold is refused now, not after a worker
    // has run out of memory on it.
    const ArchitectureCost most =
        EstimateCost(LargestArchitecture(*space), InputShapeFor(spec.dataset()));
    if (most.params > kMaxSpaceParams || most.macs > kMaxSpaceMacs) {
      return Invalid("space", absl::StrCat("its largest network has ", most.params,
                                           " parameters and ", most.macs, " MACs; the limits are ",
                                           kMaxSpaceParams, " and ", kMaxSpaceMacs));
    }
  }

  if (spec.strategy().name().empty()) spec.mutable_strategy()->set_name("random");
  if (spec.strategy().seed() == 0) spec.mutable_strategy()->set_seed(1);
  NAS_RETURN_IF_ERROR(InSpec(MakeStrategy(spec.strategy(), *space).status()));
  const bool weight_sharing = IsWeightSharing(spec.strategy());
  if (weight_sharing) {
    NAS_RETURN_IF_ERROR(InSpec(SupernetCovers(*space)));
    if (spec.has_multi_fidelity()) {
      return Invalid("multi_fidelity",
                     "a weight-sharing search has its own rungs (estimate, then fine-tune); "
                     "leave it unset");
    }
    if (spec.initial_architectures_size() > 0) {
      // They would be queued for estimates before the supernet exists.
      return Invalid("initial_architectures", "not taken by weight-sharing searches");
    }
  }

  if (spec.profile_ids().empty()) spec.add_profile_ids("host-cpu");
  if (spec.profile_ids_size() > 16) return Invalid("profile_ids", "at most 16 profiles");
  std::set<std::string> profiles;
  for (int i = 0; i < spec.profile_ids_size(); ++i) {
    if (!profiles.insert(spec.profile_ids(i)).second) {
      return Invalid(absl::StrCat("profile_ids[", i, "]"),
                     absl::StrCat("\"", spec.profile_ids(i), "\" is named twice"));
    }
  }

  if (spec.objectives().empty()) {
    spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
    spec.add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  }
  if (spec.objectives_size() > 3) return Invalid("objectives", "at most 3 objectives");
  std::set<int> metrics;
  for (int i = 0; i < spec.objectives_size(); ++i) {
    const nas::v1::Metric m = spec.objectives(i).metric();
    const std::string field = absl::StrCat("objectives[", i, "].metric");
    if (m == nas::v1::METRIC_UNSPECIFIED || !nas::v1::Metric_IsValid(m)) {
      return Invalid(field, "must name a metric");
    }
    if (!metrics.insert(m).second) {
      return Invalid(field, absl::StrCat(MetricInfoOf(m).name, " is already an objective"));
    }
    if (MetricInfoOf(m).relative_to_reference) {
      return Invalid(field, absl::StrCat(MetricInfoOf(m).name,
                                         " is a constraint only (bound it in constraints)"));
    }
  }

  std::set<int> bounded;
  for (int i = 0; i < spec.constraints_size(); ++i) {
    const nas::v1::Constraint& c = spec.constraints(i);
    const std::string field = absl::StrCat("constraints[", i, "]");
    if (c.metric() == nas::v1::METRIC_UNSPECIFIED || !nas::v1::Metric_IsValid(c.metric())) {
      return Invalid(absl::StrCat(field, ".metric"), "must name a metric");
    }
    if (!bounded.insert(c.metric()).second) {
      return Invalid(field, absl::StrCat("a second bound on ", MetricInfoOf(c.metric()).name));
    }
    const MetricInfo& info = MetricInfoOf(c.metric());
    if (!(c.bound() >= info.min_bound)) {
      return Invalid(absl::StrCat(field, ".bound"), absl::StrCat("must be >= ", info.min_bound));
    }
    if (c.bound() > info.max_bound) {
      return Invalid(absl::StrCat(field, ".bound"),
                     absl::StrCat("a bound on ", info.name, " lies in [", info.min_bound, ", ",
                                  info.max_bound, "]"));
    }
    if (info.relative_to_reference && !spec.has_reference()) {
      return Invalid(absl::StrCat(field, ".metric"),
                     absl::StrCat(info.name,
                                  " is measured against the reference: name one in "
                                  "spec.reference"));
    }
  }

  nas::v1::Budget* b = spec.mutable_budget();
  NAS_RETURN_IF_ERROR(InRange("budget.max_candidates", b->max_candidates(), 1, 1'000'000));
  if (b->max_parallel() == 0) b->set_max_parallel(8);
  NAS_RETURN_IF_ERROR(InRange("budget.max_parallel", b->max_parallel(), 1, 1024));
  if (b->max_attempts() == 0) b->set_max_attempts(3);
  NAS_RETURN_IF_ERROR(InRange("budget.max_attempts", b->max_attempts(), 1, 10));
  NAS_RETURN_IF_ERROR(
      InRange<int64_t>("budget.max_wall_seconds", b->max_wall_seconds(), 0, 30 * 24 * 3600));

  if (spec.initial_architectures_size() > b->max_candidates()) {
    return Invalid(
        "initial_architectures",
        absl::StrCat(spec.initial_architectures_size(),
                     " architectures exceed budget.max_candidates ", b->max_candidates()));
  }
  for (int i = 0; i < spec.initial_architectures_size(); ++i) {
    absl::Status st = ValidateArchitecture(spec.initial_architectures(i), *space);
    if (!st.ok()) {
      // "architecture.stages[1]..." becomes "spec.initial_architectures[0].stages[1]...".
      std::string message(st.message());
      constexpr absl::string_view kPrefix = "architecture";
      if (absl::StartsWith(message, kPrefix)) message.erase(0, kPrefix.size());
      return absl::InvalidArgumentError(
          absl::StrCat("spec.initial_architectures[", i, "]", message));
    }
  }

  if (spec.has_reference()) {
    if (weight_sharing) {
      return Invalid("reference",
                     "not yet taken by weight-sharing searches (the reference "
                     "trains from scratch; their finalists start from the "
                     "supernet)");
    }
    absl::StatusOr<nas::v1::Architecture> reference =
        ResolveReference(spec.reference(), *space, InputShapeFor(spec.dataset()).height);
    NAS_RETURN_IF_ERROR(InSpec(reference.status()));
    *spec.mutable_reference()->mutable_architecture() = *std::move(reference);
    const bool multi_fidelity = spec.has_multi_fidelity() && spec.multi_fidelity().rungs() > 1;
    if (!multi_fidelity && spec.initial_architectures_size() + 1 > b->max_candidates()) {
      return Invalid("reference", absl::StrCat("the reference is one candidate of the budget; "
                                               "budget.max_candidates ",
                                               b->max_candidates(), " leaves none for the search"));
    }
  }

  if (spec.has_warm_start()) {
    nas::v1::WarmStart* ws = spec.mutable_warm_start();
    if (weight_sharing) {
      return Invalid("warm_start",
                     "not taken by weight-sharing searches (they start from an "
                     "earlier search's supernet: strategy setting "
                     "\"supernet_search\")");
    }
    if (ws->search_id() <= 0) return Invalid("warm_start.search_id", "must name a search (>= 1)");
    if (ws->seeds().empty()) ws->set_seeds("front");
    if (ws->seeds() != "front" && ws->seeds() != "all") {
      return Invalid("warm_start.seeds",
                     absl::StrCat("\"", absl::CHexEscape(ws->seeds().substr(0, 40)),
                                  "\" is neither \"front\" nor \"all\""));
    }
    NAS_RETURN_IF_ERROR(InRange("warm_start.max_seeds", ws->max_seeds(), 0, b->max_candidates()));
  }

  nas::v1::TrainingRecipe* r = spec.mutable_recipe();
  if (!nas::v1::Optimizer_IsValid(r->optimizer())) return Invalid("recipe.optimizer", "unknown");
  if (!nas::v1::LrSchedule_IsValid(r->schedule())) return Invalid("recipe.schedule", "unknown");
  if (!nas::v1::Precision_IsValid(r->precision())) return Invalid("recipe.precision", "unknown");
  if (r->precision() == nas::v1::PRECISION_UNSPECIFIED) r->set_precision(nas::v1::PRECISION_AUTO);
  if (r->optimizer() == nas::v1::OPTIMIZER_UNSPECIFIED) r->set_optimizer(nas::v1::OPTIMIZER_SGD);
  if (r->schedule() == nas::v1::LR_SCHEDULE_UNSPECIFIED) {
    r->set_schedule(nas::v1::LR_SCHEDULE_COSINE);
  }
  const bool sgd = r->optimizer() == nas::v1::OPTIMIZER_SGD;
  if (r->epochs() == 0) r->set_epochs(3);
  NAS_RETURN_IF_ERROR(InRange("recipe.epochs", r->epochs(), 1, 200));
  if (r->batch_size() == 0) r->set_batch_size(128);
  NAS_RETURN_IF_ERROR(InRange("recipe.batch_size", r->batch_size(), 1, 4096));
  if (r->learning_rate() == 0) r->set_learning_rate(sgd ? 0.05 : 0.002);
  if (!(r->learning_rate() > 0 && r->learning_rate() <= 10)) {
    return Invalid("recipe.learning_rate", "must be in (0, 10]");
  }
  if (r->weight_decay() == 0) r->set_weight_decay(sgd ? 5e-4 : 0.05);
  if (!(r->weight_decay() >= 0 && r->weight_decay() <= 1)) {
    return Invalid("recipe.weight_decay", "must be in [0, 1]");
  }
  if (!(r->label_smoothing() >= 0 && r->label_smoothing() < 1)) {
    return Invalid("recipe.label_smoothing", "must be in [0, 1)");
  }
  if (!(r->warmup_fraction() >= 0 && r->warmup_fraction() <= 0.5)) {
    return Invalid("recipe.warmup_fraction",
                   absl::StrCat(r->warmup_fraction(), " is outside (0, 0.5]"));
  }
  if (r->warmup_fraction() > 0 && r->schedule() != nas::v1::LR_SCHEDULE_ONE_CYCLE &&
      r->schedule() != nas::v1::LR_SCHEDULE_COSINE_WARMUP) {
    return Invalid("recipe.warmup_fraction",
                   "only LR_SCHEDULE_ONE_CYCLE and LR_SCHEDULE_COSINE_WARMUP warm up");
  }
  NAS_RETURN_IF_ERROR(InRange("recipe.train_subset", r->train_subset(), 0, 10'000'000));
  NAS_RETURN_IF_ERROR(InRange("recipe.qat_epochs", r->qat_epochs(), 0, 20));
  if (r->qat_max_loss() == 0) r->set_qat_max_loss(0.01);
  if (!(r->qat_max_loss() > 0 && r->qat_max_loss() <= 1)) {
    return Invalid("recipe.qat_max_loss", "must be in (0, 1]");
  }
  if (r->seed() == 0) r->set_seed(spec.strategy().seed());
  if (!(r->validation_fraction() >= 0 && r->validation_fraction() <= 0.5)) {
    return Invalid("recipe.validation_fraction",
                   absl::StrCat(r->validation_fraction(), " is outside (0, 0.5]"));
  }
  NAS_RETURN_IF_ERROR(
      InRange("recipe.validation_examples", r->validation_examples(), 0, 10'000'000));
  if (r->validation_fraction() > 0 && r->validation_examples() > 0) {
    return Invalid("recipe.validation_examples",
                   "give validation_fraction or validation_examples, not both");
  }

  if (spec.has_final_training()) {
    nas::v1::FinalTraining* ft = spec.mutable_final_training();
    NAS_RETURN_IF_ERROR(
        InRange("final_training.finalists_per_profile", ft->finalists_per_profile(), 1, 16));
    if (ft->epochs() == 0) ft->set_epochs(r->epochs());
    NAS_RETURN_IF_ERROR(InRange("final_training.epochs", ft->epochs(), 1, 200));
    NAS_RETURN_IF_ERROR(InRange("final_training.train_subset", ft->train_subset(), 0, 10'000'000));
  }

  // A weight-sharing search is a two-rung search: supernet estimates, then the best
  // 1/finetune_share of them fine-tuned with the recipe (engine::Rungs(), engine/lifecycle.cc).
  if (weight_sharing) {
    NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
    spec.mutable_multi_fidelity()->set_rungs(2);
    spec.mutable_multi_fidelity()->set_eta(plan.finetune_share);
    return spec;
  }
  // Normalised: an unset or one-rung multi_fidelity is cleared, so a search is multi-fidelity
  // exactly when spec.has_multi_fidelity().
  if (spec.has_multi_fidelity()) {
    nas::v1::MultiFidelity* mf = spec.mutable_multi_fidelity();
    if (mf->eta() == 0) mf->set_eta(3);
    if (mf->rungs() < 0) return Invalid("multi_fidelity.rungs", "must be 0 to 5");
    NAS_RETURN_IF_ERROR(InSpec(FidelityRungs(*r, mf->eta(), std::max(1, mf->rungs())).status()));
    if (mf->rungs() <= 1) spec.clear_multi_fidelity();
  }
  return spec;
}

}  // namespace nas
