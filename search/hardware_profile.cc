#include "search/hardware_profile.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/names.h"
#include "search/latency_table.h"
#include "search/objectives.h"

namespace nas {

absl::Status ValidateHardwareProfile(const nas::v1::HardwareProfile& p) {
  if (!IsValidName(p.name())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile.name: \"", absl::CHexEscape(p.name().substr(0, 80)), "\" is not ", kNameRule));
  }
  if (p.description().size() > 4096) {
    return absl::InvalidArgumentError("profile.description: longer than 4096 characters");
  }
  const nas::v1::ProfileLimits& l = p.limits();
  if (l.max_latency_ms() < 0) {
    return absl::InvalidArgumentError("profile.limits.max_latency_ms: must be >= 0");
  }
  if (l.max_model_bytes() < 0) {
    return absl::InvalidArgumentError("profile.limits.max_model_bytes: must be >= 0");
  }
  if (l.max_peak_activation_bytes() < 0) {
    return absl::InvalidArgumentError("profile.limits.max_peak_activation_bytes: must be >= 0");
  }
  if (!nas::v1::WeightType_IsValid(p.weight_type())) {
    return absl::InvalidArgumentError("profile.weight_type: unknown value");
  }
  // Optional on predicting profiles (it names the device a lookup table was measured on).
  if (p.kind() != nas::v1::PROFILE_KIND_MEASURED && !p.device_tag().empty() &&
      !IsValidName(p.device_tag())) {
    return absl::InvalidArgumentError(absl::StrCat("profile.device_tag: must be ", kNameRule));
  }
  switch (p.kind()) {
    case nas::v1::PROFILE_KIND_MEASURED:
      if (!IsValidName(p.device_tag())) {
        return absl::InvalidArgumentError(
            absl::StrCat("profile.device_tag: a measured profile needs the device tag of the "
                         "workers that measure it (",
                         kNameRule, ")"));
      }
      return absl::OkStatus();
    case nas::v1::PROFILE_KIND_ROOFLINE: {
      const nas::v1::RooflineModel& r = p.roofline();
      if (!(r.peak_macs_per_second() > 0)) {
        return absl::InvalidArgumentError("profile.roofline.peak_macs_per_second: must be > 0");
      }
      if (!(r.memory_bytes_per_second() > 0)) {
        return absl::InvalidArgumentError("profile.roofline.memory_bytes_per_second: must be > 0");
      }
      if (r.overhead_ms() < 0) {
        return absl::InvalidArgumentError("profile.roofline.overhead_ms: must be >= 0");
      }
      if (r.source().empty()) {
        return absl::InvalidArgumentError(
            "profile.roofline.source: a modelled profile must say where its figures come from");
      }
      return absl::OkStatus();
    }
    case nas::v1::PROFILE_KIND_LUT: {
      const nas::v1::LatencyTable& t = p.latency_table();
      if (t.entries().empty()) {
        return absl::InvalidArgumentError(
            "profile.latency_table.entries: a lookup-table profile needs the table nas-profile "
            "wrote");
      }
      if (t.entries_size() > 200'000) {
        return absl::InvalidArgumentError("profile.latency_table.entries: at most 200000");
      }
      if (!std::isfinite(t.overhead_ms())) {
        return absl::InvalidArgumentError("profile.latency_table.overhead_ms: must be finite");
      }
      for (int i = 0; i < t.entries_size(); ++i) {
        const nas::v1::LutEntry& e = t.entries(i);
        const std::string at = absl::StrCat("profile.latency_table.entries[", i, "]");
        if (e.key().empty() || e.key().size() > 256) {
          return absl::InvalidArgumentError(absl::StrCat(at, ".key: 1 to 256 characters"));
        }
        if (!(e.mean_ms() >= 0) || !std::isfinite(e.mean_ms())) {
          return absl::InvalidArgumentError(absl::StrCat(at, ".mean_ms: must be a number >= 0"));
        }
        if (!(e.variance_ms2() >= 0) || !std::isfinite(e.variance_ms2())) {
          return absl::InvalidArgumentError(
              absl::StrCat(at, ".variance_ms2: must be a number >= 0"));
        }
        if (e.count() < 1) return absl::InvalidArgumentError(absl::StrCat(at, ".count: >= 1"));
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          "profile.kind: must be PROFILE_KIND_MEASURED, PROFILE_KIND_LUT or "
          "PROFILE_KIND_ROOFLINE");
  }
}

int64_t ModelBytes(const nas::v1::HardwareProfile& profile,
                   const nas::v1::CandidateMetrics& metrics) {
  if (profile.weight_type() != nas::v1::WEIGHT_TYPE_INT8) return metrics.params() * 4;
  // The int8 deploy graph when the result carries its size (results before it: a byte a weight).
  return metrics.int8_model_bytes() > 0 ? metrics.int8_model_bytes() : metrics.params();
}

nas::v1::ProfileMetrics EvaluateOnProfile(
    const nas::v1::HardwareProfile& profile, const nas::v1::CandidateMetrics& metrics,
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
    bool measured_on_device, const nas::v1::Architecture* architecture, const InputShape& input,
    const ReferenceAccuracy& reference) {
  nas::v1::ProfileMetrics pm;
  pm.set_profile_id(profile.id());
  pm.set_model_bytes(ModelBytes(profile, metrics));
  // An int8 device runs the int8 model: rank it by the int8 model's accuracy when measured.
  if (profile.weight_type() == nas::v1::WEIGHT_TYPE_INT8 && metrics.has_int8_val_accuracy()) {
    pm.set_accuracy(metrics.int8_val_accuracy());
    pm.set_accuracy_kind("int8");
  } else {
    pm.set_accuracy(metrics.val_accuracy());
    pm.set_accuracy_kind("fp32");
  }
  // Activations are stored at the weight type's width too (int8 models run int8 kernels).
  const int64_t act_scale = profile.weight_type() == nas::v1::WEIGHT_TYPE_INT8 ? 4 : 1;
  pm.set_peak_activation_bytes(metrics.peak_activation_bytes() / act_scale);

  bool latency_known = true;
  if (profile.kind() == nas::v1::PROFILE_KIND_MEASURED) {
    if (measured_on_device && metrics.latency_ms() > 0) {
      pm.set_latency_ms(metrics.latency_ms());
      pm.set_latency_source(nas::v1::LATENCY_SOURCE_MEASURED);
      pm.set_latency_ci_ms(metrics.latency_ci_ms());
      // Results stored before the interval was measured (no runs recorded) are not judged.
      pm.set_latency_unsettled(metrics.latency_runs() > 0 &&
                               metrics.latency_ci_ms() > kLatencyRelativeCi * metrics.latency_ms());
    } else {
      latency_known = false;
      pm.add_violations(
          absl::StrCat("latency not measured on a \"", profile.device_tag(), "\" device"));
    }
  } else if (profile.kind() == nas::v1::PROFILE_KIND_ROOFLINE) {
    // Roofline: the slower of compute and memory traffic. Traffic is the weights read once plus
    // the peak activation set written and read back: an approximation, labelled MODELLED.
    const nas::v1::RooflineModel& r = profile.roofline();
    const double compute_s = static_cast<double>(metrics.macs()) / r.peak_macs_per_second();
    const double bytes = static_cast<double>(pm.model_bytes() + 2 * pm.peak_activation_bytes());
    const double memory_s = bytes / r.memory_bytes_per_second();
    pm.set_latency_ms(std::max(compute_s, memory_s) * 1e3 + r.overhead_ms());
    pm.set_latency_source(nas::v1::LATENCY_SOURCE_MODELLED);
  } else if (profile.kind() == nas::v1::PROFILE_KIND_LUT) {
    const absl::StatusOr<double> predicted =
        architecture == nullptr ? absl::FailedPreconditionError("no architecture to look up")
                                : PredictLatencyMs(profile.latency_table(), *architecture, input);
    if (predicted.ok()) {
      pm.set_latency_ms(*predicted);
      pm.set_latency_source(nas::v1::LATENCY_SOURCE_PREDICTED);
    } else {
      latency_known = false;
      pm.add_violations(absl::StrCat("latency not predicted: ", predicted.status().message()));
    }
  }

  const nas::v1::ProfileLimits& l = profile.limits();
  if (latency_known && l.max_latency_ms() > 0 && pm.latency_ms() > l.max_latency_ms()) {
    pm.add_violations(
        absl::StrFormat("latency %.3f ms > limit %.3f ms", pm.latency_ms(), l.max_latency_ms()));
  }
  if (l.max_model_bytes() > 0 && pm.model_bytes() > l.max_model_bytes()) {
    pm.add_violations(
        absl::StrCat("model ", pm.model_bytes(), " B > limit ", l.max_model_bytes(), " B"));
  }
  if (l.max_peak_activation_bytes() > 0 &&
      pm.peak_activation_bytes() > l.max_peak_activation_bytes()) {
    pm.add_violations(absl::StrCat("peak activation ", pm.peak_activation_bytes(), " B > limit ",
                                   l.max_peak_activation_bytes(), " B"));
  }
  using Reference = ReferenceAccuracy::State;
  if (reference.state == Reference::kKnown) {
    pm.set_accuracy_drop(100 * (reference.accuracy - pm.accuracy()));
  }
  for (const nas::v1::Constraint& c : constraints) {
    if (c.metric() == nas::v1::METRIC_LATENCY && !latency_known) continue;
    if (c.metric() == nas::v1::METRIC_ACCURACY_DROP && reference.state != Reference::kKnown) {
      if (reference.state == Reference::kAwaited) {
        pm.set_awaiting_reference(true);
        pm.add_violations("accuracy drop not known until the reference is evaluated");
      } else if (reference.state == Reference::kLost) {
        pm.add_violations("accuracy drop never known: the reference did not train");
      }
      continue;
    }
    const MetricInfo& info = MetricInfoOf(c.metric());
    const double v = info.value(metrics, pm);
    if (!info.Satisfies(v, c.bound())) {
      pm.add_violations(
          absl::StrFormat("%s %g %s bound %g", info.name, v, info.maximise ? "<" : ">", c.bound()));
    }
  }
  pm.set_feasible(pm.violations().empty());
  return pm;
}

bool CertainlyInfeasible(const nas::v1::HardwareProfile& profile,
                         const nas::v1::CandidateMetrics& costs,
                         const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
                         const nas::v1::Architecture* architecture, const InputShape& input) {
  // The best an unknown can turn out: perfect accuracy, and on a measured profile a latency
  // too small to break any bound. What is infeasible even then is infeasible for sure.
  nas::v1::CandidateMetrics best = costs;
  best.set_val_accuracy(1);
  best.set_latency_ms(std::numeric_limits<double>::min());
  nas::v1::HardwareProfile judged = profile;
  if (profile.kind() == nas::v1::PROFILE_KIND_LUT &&
      (architecture == nullptr ||
       !PredictLatencyMs(profile.latency_table(), *architecture, input).ok())) {
    judged.set_kind(nas::v1::PROFILE_KIND_MEASURED);  // a latency not known yet
  }
  return !EvaluateOnProfile(judged, best, constraints, /*measured_on_device=*/true, architecture,
                            input)
              .feasible();
}

int KnownViolations(const nas::v1::ProfileMetrics& pm) {
  if (pm.feasible()) return 0;
  const int known = pm.violations_size() - (pm.awaiting_reference() ? 1 : 0);
  return pm.awaiting_reference() ? std::max(0, known) : std::max(1, known);
}

bool HasAccuracyDropBound(
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints) {
  for (const nas::v1::Constraint& c : constraints) {
    if (c.metric() == nas::v1::METRIC_ACCURACY_DROP) return true;
  }
  return false;
}

double ObjectiveValue(nas::v1::Metric metric, const nas::v1::CandidateMetrics& metrics,
                      const nas::v1::ProfileMetrics& on_profile) {
  return MetricInfoOf(metric).value(metrics, on_profile);
}

double MinimisationForm(nas::v1::Metric metric, double natural_value) {
  return MetricInfoOf(metric).MinimisationForm(natural_value);
}

const char* MetricName(nas::v1::Metric metric) { return MetricInfoOf(metric).name; }

double NormalizedHypervolume(
    double hypervolume, const std::vector<double>& reference,
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives) {
  if (reference.size() != static_cast<size_t>(objectives.size())) return 0;
  double box = 1;
  for (int k = 0; k < objectives.size(); ++k) {
    const MetricInfo& info = MetricInfoOf(objectives.Get(k).metric());
    box *= reference[k] - info.MinimisationForm(info.ideal);
  }
  if (!(box > 0) || !std::isfinite(box)) return 0;
  return std::clamp(hypervolume / box, 0.0, 1.0);
}

std::vector<double> HypervolumeReference(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives,
    const google::protobuf::RepeatedPtrField<nas::v1::Constraint>& constraints,
    const nas::v1::HardwareProfile& profile) {
  std::vector<double> reference;
  for (const nas::v1::Objective& o : objectives) {
    const MetricInfo& info = MetricInfoOf(o.metric());
    const double limit = info.limit != nullptr ? info.limit(profile.limits()) : 0;
    // In minimisation form the tightest bound is the smallest (an accuracy floor f is -f).
    double ref = info.MinimisationForm(limit > 0 ? limit : info.reference);
    for (const nas::v1::Constraint& c : constraints) {
      if (c.metric() == o.metric()) ref = std::min(ref, info.MinimisationForm(c.bound()));
    }
    reference.push_back(ref);
  }
  return reference;
}

}  // namespace nas
