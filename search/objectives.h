// The registry of objectives and metrics: for each nas.v1.Metric its name, direction, unit,
// where its value comes from, the profile limit that bounds it, its hypervolume reference, and
// whether it is known before training. Validation, constraints, hypervolume, the strategies'
// static-cost filter, nasctl and the plots all read it; adding a metric is one enum value in
// proto/nas.proto and one entry in objectives.cc.
//
//   const MetricInfo& info = MetricInfoOf(nas::v1::METRIC_LATENCY);
//   double v = info.value(candidate_metrics, profile_metrics);   // natural units (ms)
//   const MetricInfo* m = FindMetric("latency");                 // nasctl's names
#ifndef NAS_SEARCH_OBJECTIVES_H_
#define NAS_SEARCH_OBJECTIVES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/nas.pb.h"

namespace nas {

struct MetricInfo {
  nas::v1::Metric metric = nas::v1::METRIC_UNSPECIFIED;
  // Short name used in messages, tables and nasctl ("accuracy", "latency_ms").
  const char* name = "unspecified";
  // Other names nasctl accepts ("latency", "memory").
  std::vector<const char*> aliases;
  // Maximised (accuracy) or minimised (every cost).
  bool maximise = false;
  // Unit of the natural value, empty for counts and fractions ("ms", "B").
  const char* unit = "";
  // nasctl's column heading.
  const char* column = "";
  // Where the value comes from, for docs and `nasctl metrics`.
  const char* source = "";
  // Known from the architecture alone, before training, on a profile whose latency is
  // modelled (the strategies drop proposals such a bound rules out on every profile).
  bool static_cost = false;
  // Measured against the search's reference network: a constraint only, never an objective,
  // and only in a search with a reference (METRIC_ACCURACY_DROP).
  bool relative_to_reference = false;
  // The value in natural units, from a worker's result and its cost on one profile.
  double (*value)(const nas::v1::CandidateMetrics&, const nas::v1::ProfileMetrics&) = nullptr;
  // The profile's limit on it (natural units), 0 when the profile sets none or has none.
  double (*limit)(const nas::v1::ProfileLimits&) = nullptr;
  // Hypervolume reference (natural units) when neither a limit nor a constraint bounds it.
  double reference = 1e12;
  // The best value there can be (natural units): the far corner of the hypervolume's box.
  double ideal = 0;
  // Range a constraint's bound may take (natural units).
  double min_bound = 0;
  double max_bound = 1e300;

  // MinimisationForm() returns the value to minimise (a maximised metric negated).
  double MinimisationForm(double natural_value) const {
    return maximise ? -natural_value : natural_value;
  }
  // Satisfies() is whether `value` meets a constraint's `bound` (a floor when maximised).
  bool Satisfies(double value, double bound) const {
    return maximise ? value >= bound : value <= bound;
  }
  // Format() prints a value with its unit ("0.9132", "1.250 ms", "40.0 KiB").
  std::string Format(double value) const;
};

// Metrics() lists every metric, in enum order.
const std::vector<MetricInfo>& Metrics();
// MetricInfoOf() returns a metric's entry; for an unknown one an entry named "unspecified"
// whose value is 0.
const MetricInfo& MetricInfoOf(nas::v1::Metric metric);
// FindMetric() finds a metric by name or alias; nullptr when there is none.
const MetricInfo* FindMetric(absl::string_view name);
// MetricNames() is "accuracy, latency_ms, ..." for error messages.
std::string MetricNames();

}  // namespace nas

#endif  // NAS_SEARCH_OBJECTIVES_H_
