#include "search/objectives.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace nas {
namespace {

using nas::v1::CandidateMetrics;
using nas::v1::ProfileLimits;
using nas::v1::ProfileMetrics;

std::vector<MetricInfo> MakeRegistry() {
  std::vector<MetricInfo> r;
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_ACCURACY;
    m.name = "accuracy";
    m.maximise = true;
    m.column = "ACCURACY";
    m.source =
        "top-1 accuracy on the validation split, measured by the worker: of the int8 "
        "model on a profile whose weights are int8, of the fp32 model otherwise";
    m.value = [](const CandidateMetrics& c, const ProfileMetrics& p) {
      return p.accuracy_kind().empty() ? c.val_accuracy() : p.accuracy();
    };
    m.reference = 0;
    m.ideal = 1;
    m.max_bound = 1;
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_LATENCY;
    m.name = "latency_ms";
    m.aliases = {"latency"};
    m.unit = "ms";
    m.column = "LATENCY";
    m.source =
        "batch-1 latency on the profile: measured by a worker of its device, predicted "
        "by its lookup table, or modelled by its roofline";
    m.value = [](const CandidateMetrics&, const ProfileMetrics& p) { return p.latency_ms(); };
    m.limit = [](const ProfileLimits& l) { return l.max_latency_ms(); };
    m.reference = 1000;
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_PEAK_ACTIVATION_BYTES;
    m.name = "peak_activation_bytes";
    m.aliases = {"memory"};
    m.unit = "B";
    m.column = "PEAK MEM";
    m.source = "peak activation memory at batch 1 (cost model), at the profile's weight type";
    m.static_cost = true;
    m.value = [](const CandidateMetrics&, const ProfileMetrics& p) {
      return static_cast<double>(p.peak_activation_bytes());
    };
    m.limit = [](const ProfileLimits& l) {
      return static_cast<double>(l.max_peak_activation_bytes());
    };
    m.reference = 256.0 * (1 << 20);
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_MODEL_BYTES;
    m.name = "model_bytes";
    m.unit = "B";
    m.column = "MODEL";
    m.source = "weight bytes at the profile's weight type (4 per fp32 weight, 1 per int8)";
    m.static_cost = true;
    m.value = [](const CandidateMetrics&, const ProfileMetrics& p) {
      return static_cast<double>(p.model_bytes());
    };
    m.limit = [](const ProfileLimits& l) { return static_cast<double>(l.max_model_bytes()); };
    m.reference = 1024.0 * (1 << 20);
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_PARAMS;
    m.name = "params";
    m.column = "PARAMS";
    m.source = "trainable parameters (cost model, checked against LibTorch)";
    m.static_cost = true;
    m.value = [](const CandidateMetrics& c, const ProfileMetrics&) {
      return static_cast<double>(c.params());
    };
    m.reference = 1e9;
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_MACS;
    m.name = "macs";
    m.column = "MACS";
    m.source = "multiply-accumulates at batch 1 (cost model)";
    m.static_cost = true;
    m.value = [](const CandidateMetrics& c, const ProfileMetrics&) {
      return static_cast<double>(c.macs());
    };
    m.reference = 1e12;
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_INT8_MODEL_BYTES;
    m.name = "int8_model_bytes";
    m.aliases = {"int8_bytes"};
    m.unit = "B";
    m.column = "INT8 MODEL";
    m.source =
        "size of the int8 deploy graph (int8 weights, per-channel scales, int32 biases, "
        "activation quantizers), whatever the profile's weight type: the flash an int8 "
        "build of the model needs";
    m.static_cost = true;
    m.value = [](const CandidateMetrics& c, const ProfileMetrics&) {
      return static_cast<double>(c.int8_model_bytes() > 0 ? c.int8_model_bytes() : c.params());
    };
    m.reference = 256.0 * (1 << 20);
    r.push_back(m);
  }
  {
    MetricInfo m;
    m.metric = nas::v1::METRIC_ACCURACY_DROP;
    m.name = "accuracy_drop";
    m.aliases = {"drop"};
    m.unit = "points";
    m.column = "DROP";
    m.source =
        "the reference network's accuracy on the profile minus the candidate's, in "
        "points, at the same fidelity (a constraint only, in a search with a reference)";
    m.relative_to_reference = true;
    m.value = [](const CandidateMetrics&, const ProfileMetrics& p) { return p.accuracy_drop(); };
    m.reference = 100;
    m.min_bound = -100;
    m.max_bound = 100;
    r.push_back(m);
  }
  return r;
}

const MetricInfo& Unspecified() {
  static const MetricInfo* const kUnspecified = [] {
    auto* m = new MetricInfo;
    m->value = [](const CandidateMetrics&, const ProfileMetrics&) { return 0.0; };
    return m;
  }();
  return *kUnspecified;
}

}  // namespace

std::string MetricInfo::Format(double value) const {
  const absl::string_view u = unit;
  if (u == "ms") return absl::StrFormat("%.3f ms", value);
  if (u == "points") return absl::StrFormat("%.2f points", value);
  if (u == "B") {
    if (value >= 1 << 20) return absl::StrFormat("%.1f MiB", value / (1 << 20));
    if (value >= 1 << 10) return absl::StrFormat("%.1f KiB", value / (1 << 10));
    return absl::StrFormat("%.0f B", value);
  }
  if (maximise && max_bound <= 1) return absl::StrFormat("%.4f", value);
  return absl::StrFormat("%.0f", value);
}

const std::vector<MetricInfo>& Metrics() {
  static const std::vector<MetricInfo>* const kRegistry =
      new std::vector<MetricInfo>(MakeRegistry());
  return *kRegistry;
}

const MetricInfo& MetricInfoOf(nas::v1::Metric metric) {
  for (const MetricInfo& m : Metrics()) {
    if (m.metric == metric) return m;
  }
  return Unspecified();
}

const MetricInfo* FindMetric(absl::string_view name) {
  for (const MetricInfo& m : Metrics()) {
    if (name == m.name) return &m;
    for (const char* alias : m.aliases) {
      if (name == alias) return &m;
    }
  }
  return nullptr;
}

std::string MetricNames() {
  return absl::StrJoin(Metrics(), ", ",
                       [](std::string* out, const MetricInfo& m) { out->append(m.name); });
}

}  // namespace nas
