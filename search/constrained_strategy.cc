#include "search/constrained_strategy.h"

#include "common/status_macros.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/objectives.h"
#include "search/search_space.h"

namespace nas {

std::vector<nas::v1::Architecture> ConstrainedStrategy::Propose(int n) {
  return ProposeFiltered(*inner_, n, attempts_, [this](const nas::v1::Architecture& a) {
    if (!drop_(a)) return true;
    ++dropped_;
    return false;
  });
}

void ConstrainedStrategy::Observe(absl::Span<const Observation> results) {
  inner_->Observe(results);
}

std::string ConstrainedStrategy::SaveState() const { return inner_->SaveState(); }

absl::Status ConstrainedStrategy::RestoreState(absl::string_view state) {
  return inner_->RestoreState(state);
}

namespace {

// Whether a limit of `p` or a constraint of the search bounds, on `p`, a cost known before
// training: the cost model's, or a latency a roofline model or a lookup table predicts.
bool BoundsAStaticCost(const nas::v1::HardwareProfile& p, const nas::v1::SearchSpec& spec) {
  const bool latency_known = p.kind() != nas::v1::PROFILE_KIND_MEASURED;
  for (const nas::v1::Constraint& c : spec.constraints()) {
    if (MetricInfoOf(c.metric()).static_cost) return true;
    if (c.metric() == nas::v1::METRIC_LATENCY && latency_known) return true;
  }
  const nas::v1::ProfileLimits& l = p.limits();
  return l.max_model_bytes() > 0 || l.max_peak_activation_bytes() > 0 ||
         (l.max_latency_ms() > 0 && latency_known);
}

}  // namespace

ConstrainedStrategy::Filter InfeasibleEverywhere(
    const nas::v1::SearchSpec& spec, const std::vector<nas::v1::HardwareProfile>& profiles) {
  // A profile with no such bound accepts every architecture: then nothing is infeasible
  // everywhere.
  if (profiles.empty()) return nullptr;
  for (const nas::v1::HardwareProfile& p : profiles) {
    if (!BoundsAStaticCost(p, spec)) return nullptr;
  }
  const InputShape input = InputShapeFor(spec.dataset());
  return [input, profiles, constraints = spec.constraints()](const nas::v1::Architecture& arch) {
    const ArchitectureCost cost = EstimateCost(arch, input);
    nas::v1::CandidateMetrics costs;
    costs.set_params(cost.params);
    costs.set_macs(cost.macs);
    costs.set_peak_activation_bytes(cost.peak_activation_bytes);
    costs.set_model_bytes(cost.model_bytes_fp32);
    costs.set_int8_model_bytes(cost.model_bytes_int8);
    for (const nas::v1::HardwareProfile& p : profiles) {
      if (!CertainlyInfeasible(p, costs, constraints, &arch, input)) return false;
    }
    return true;
  };
}

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(
    const nas::v1::SearchSpec& spec, const std::vector<nas::v1::HardwareProfile>& profiles) {
  NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(spec.space()));
  // Strategies observe results on the first profile, so its front's reference is theirs.
  std::vector<double> reference;
  if (!profiles.empty()) {
    reference = HypervolumeReference(spec.objectives(), spec.constraints(), profiles[0]);
  }
  NAS_ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy,
                       MakeStrategy(spec.strategy(), space, reference));
  ConstrainedStrategy::Filter drop = InfeasibleEverywhere(spec, profiles);
  if (drop == nullptr) return std::move(strategy);
  return std::make_unique<ConstrainedStrategy>(std::move(strategy), std::move(drop));
}

}  // namespace nas
