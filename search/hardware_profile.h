// Hardware profiles as data: validation, and a candidate's cost and feasibility on a profile.
//
//   absl::Status ok = ValidateHardwareProfile(profile);
//   nas::v1::ProfileMetrics pm =
//       EvaluateOnProfile(profile, worker_metrics, spec.constraints(),
//       /*measured_on_device=*/true);
//   double latency = ObjectiveValue(nas::v1::METRIC_LATENCY, worker_metrics, pm);
//
// Latency is honest about its source: MEASURED only when a worker whose device tag matches the
// profile measured it, MODELLED for the roofline model. A measured profile without a matching
// measurement makes the candidate infeasible on it, with the reason given, never a made-up
// figure.
#ifndef NAS_SEARCH_HARDWARE_PROFILE_H_
#define NAS_SEARCH_HARDWARE_PROFILE_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_field.h"
#include "proto/nas.pb.h"
#include "search/cost_model.h"

namespace nas {

// A measured latency is settled when the 95% confidence half-width of its median is within
// this share of it (the worker measures until it is, or gives up saying so).
inline constexpr double kLatencyRelativeCi = 0.05;

// ValidateHardwareProfile() checks a profile a user registers; the error names the field
// ("profile.limits.max_latency_ms: must be >= 0").
absl::Status ValidateHardwareProfile(const nas::v1::HardwareProfile& profile);

// ModelBytes() returns the model's size at the profile's weight type.
int64_t ModelBytes(const nas::v1::HardwareProfile& profile,
                   const nas::v1::CandidateMetrics& metrics);

// What a METRIC_ACCURACY_DROP constraint is judged against on one profile.
struct ReferenceAccuracy {
  enum class State {
    kNotJudged,  // no such constraint, or the reference does not train at this fidelity
    kAwaited,    // the reference is not evaluated yet: not feasible until it is
    kLost,       // the reference failed or was cancelled: the drop can never be known
    kKnown,      // `accuracy` is the reference's on the profile (ProfileMetrics.accuracy)
  };
  State state = State::kNotJudged;
  double accuracy = 0;
};

// EvaluateOnProfile() returns the candidate's latency, memory and feasibility on `profile`
// under its limits and `constraints`. `measured_on_device` says whether metrics.latency_ms was
// measured on a device whose tag matches the profile's. A lookup-table profile predicts the
// latency of `architecture` on `input` (search/latency_table.h); without the architecture, or
// with an operator the table lacks, the latency is unknown and the reason a violation.
// `reference` judges an accuracy-drop constraint (see ReferenceAccuracy).
nas::v1::ProfileMetrics EvaluateOnProfile(
    const nas::v1::HardwareProfile& profile, const nas::v1::CandidateMetrics& metrics,
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
    bool measured_on_device, const nas::v1::Architecture* architecture = nullptr,
    const InputShape& input = FashionMnistInput(), const ReferenceAccuracy& reference = {});

// KnownViolations() counts the limits and constraints `pm` is known to break (at least 1 when
// it is not feasible), leaving out an accuracy drop awaiting the reference: strategies rank by
// it, so a candidate evaluated before the reference is neither dropped nor favoured for it.
int KnownViolations(const nas::v1::ProfileMetrics& pm);

// HasAccuracyDropBound() is whether `constraints` bound the drop against the reference.
bool HasAccuracyDropBound(
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints);

// CertainlyInfeasible() says whether an untrained candidate whose costs are `costs` (params,
// MACs, peak activation bytes: search/cost_model.h) must break a limit of `profile` or one of
// `constraints` there. Accuracy and measured latency are unknown before training, so their
// limits and constraints never count; a roofline latency is known and does, and so does a
// lookup table's prediction for `architecture` when the table covers it.
bool CertainlyInfeasible(const nas::v1::HardwareProfile& profile,
                         const nas::v1::CandidateMetrics& costs,
                         const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
                         const nas::v1::Architecture* architecture = nullptr,
                         const InputShape& input = FashionMnistInput());

// ObjectiveValue() returns `metric` in its natural units (accuracy in [0, 1], latency in ms).
double ObjectiveValue(nas::v1::Metric metric, const nas::v1::CandidateMetrics& metrics,
                      const nas::v1::ProfileMetrics& on_profile);

// MinimisationForm() returns the value to minimise for `metric` (accuracy negated).
double MinimisationForm(nas::v1::Metric metric, double natural_value);

// HypervolumeReference() returns the reference point, in minimisation form, of the hypervolume
// of a front of `objectives` on `profile`: for each objective the tightest of the profile's
// limit and the search's constraints on that metric (an accuracy floor for accuracy), else
// accuracy 0 and a fixed generous bound for costs (1 s latency, 256 MiB activations, 1 GiB
// model, 10^9 parameters, 10^12 MACs). Fixed for a search, so its hypervolume only ever grows;
// a limit or constraint near the front gives it a useful scale.
std::vector<double> HypervolumeReference(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives,
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
    const nas::v1::HardwareProfile& profile);

// NormalizedHypervolume() is `hypervolume` (of a front of `objectives`, against `reference`)
// as a share of the box between the reference and the ideal point (accuracy 1, costs 0), in
// [0, 1]; 0 when the box is empty (a reference at or beyond the ideal).
double NormalizedHypervolume(
    double hypervolume, const std::vector<double>& reference,
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives);

// MetricName() returns the short name used in messages and tables ("accuracy", "latency_ms").
const char* MetricName(nas::v1::Metric metric);

}  // namespace nas

#endif  // NAS_SEARCH_HARDWARE_PROFILE_H_
