#include "cli/format.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/client.h"
#include "cli/flags.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "search/objectives.h"

namespace nas::cli {

absl::StatusOr<int64_t> IdArg(const std::vector<std::string>& args, size_t i, const char* what) {
  int64_t id = 0;
  if (args.size() <= i || !absl::SimpleAtoi(args[i], &id) || id <= 0) {
    return UsageError(absl::StrCat("expected ", what, " (a positive number)"));
  }
  return id;
}

absl::Status ParseFile(const std::string& path, google::protobuf::Message* message) {
  NAS_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  if (absl::EndsWith(path, ".json")) {
    auto st = google::protobuf::util::JsonStringToMessage(text, message);
    if (!st.ok()) return UsageError(absl::StrCat(path, ": ", st.ToString()));
  } else if (!google::protobuf::TextFormat::ParseFromString(text, message)) {
    return UsageError(
        absl::StrCat(path, ": not a valid text proto of ", message->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<nas::v1::Metric> ParseMetric(absl::string_view name) {
  const MetricInfo* m = FindMetric(absl::AsciiStrToLower(name));
  if (m == nullptr) {
    return UsageError(absl::StrCat("unknown metric \"", name, "\" (one of ", MetricNames(), ")"));
  }
  return m->metric;
}

absl::StatusOr<nas::v1::Constraint> ParseConstraint(absl::string_view text) {
  const size_t at = text.find_first_of("<>");
  const absl::string_view op = at == absl::string_view::npos ? "" : text.substr(at, 2);
  if (op != "<=" && op != ">=") {
    return UsageError(
        absl::StrCat("--constraints: \"", text, "\" is not METRIC<=BOUND or METRIC>=BOUND"));
  }
  NAS_ASSIGN_OR_RETURN(const nas::v1::Metric metric,
                       ParseMetric(absl::StripAsciiWhitespace(text.substr(0, at))));
  const MetricInfo& info = MetricInfoOf(metric);
  if ((op == ">=") != info.maximise) {
    return UsageError(absl::StrCat("--constraints: ", info.name, " takes a ",
                                   info.maximise ? "floor (>=)" : "ceiling (<=)"));
  }
  double bound = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text.substr(at + 2)), &bound)) {
    return UsageError(absl::StrCat("--constraints: \"", text, "\": the bound is not a number"));
  }
  nas::v1::Constraint c;
  c.set_metric(metric);
  c.set_bound(bound);
  return c;
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i],
                      i + 1 < row.size() ? std::string(widths[i] - row[i].size() + 2, ' ') : "");
    }
    std::cout << line << "\n";
  }
}

std::string Describe(const nas::v1::Architecture& a) {
  std::vector<std::string> stages;
  for (const auto& s : a.stages()) {
    std::vector<std::string> blocks;
    for (const auto& b : s.blocks()) {
      // b: basic residual, n: bottleneck, c: convolution, d: depthwise-separable, each with its
      // kernel when not 3; k<kernel>e<expansion>: an inverted residual.
      nas::v1::BlockType type = b.type();
      if (type == nas::v1::BLOCK_TYPE_UNSPECIFIED) {
        type = a.space() == "resnet" ? nas::v1::BASIC_RESIDUAL : nas::v1::INVERTED_RESIDUAL;
      }
      const std::string k = b.kernel() == 0 || b.kernel() == 3 ? "" : absl::StrCat(b.kernel());
      switch (type) {
        case nas::v1::BASIC_RESIDUAL:
          blocks.push_back("b" + k);
          break;
        case nas::v1::BOTTLENECK_RESIDUAL:
          blocks.push_back("n" + k);
          break;
        case nas::v1::CONV:
          blocks.push_back("c" + k);
          break;
        case nas::v1::DEPTHWISE_SEPARABLE:
          blocks.push_back("d" + k);
          break;
        default:
          blocks.push_back(
              absl::StrCat("k", b.kernel(), "e", b.expansion(), b.squeeze_excite() ? "+se" : ""));
      }
    }
    stages.push_back(absl::StrCat(s.width(), s.stride() == 1 && !stages.empty() ? "/s1" : "", ":",
                                  absl::StrJoin(blocks, ",")));
  }
  return absl::StrCat(a.space(), " r", a.resolution(), " [", absl::StrJoin(stages, " | "), "]",
                      a.head_width() > 0 ? absl::StrCat(" head ", a.head_width()) : "");
}

std::string VsReference(const nas::v1::ReferenceComparison& vs, bool is_reference) {
  if (is_reference) return "reference";
  if (vs.reference_candidate_id() == 0) return "-";
  const double delta =
      vs.has_test_accuracy_delta() ? vs.test_accuracy_delta() : vs.val_accuracy_delta();
  return absl::StrFormat("%.1fx smaller, %.1fx fewer MACs, %+.1f points", vs.params_ratio(),
                         vs.macs_ratio(), 100 * delta);
}

std::string FinalistCell(const nas::v1::Finalist& f) {
  if (f.candidate_id() == 0) return "-";
  if (f.state() != nas::v1::CANDIDATE_STATE_EVALUATED) {
    return absl::StrCat(f.candidate_id(), " ", Short(f.state()));
  }
  std::string cell =
      absl::StrFormat("%d: test %.4f", f.candidate_id(), f.metrics().test_accuracy());
  if (f.metrics().has_int8_test_accuracy()) {
    absl::StrAppend(&cell, absl::StrFormat(", int8 %.4f", f.metrics().int8_test_accuracy()));
  }
  return cell;
}

void PrintSearch(const nas::v1::Search& s) {
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << Json(s) << "\n";
    return;
  }
  const auto& p = s.progress();
  std::vector<std::vector<std::string>> rows = {
      {"search", absl::StrCat(s.id(), s.spec().display_name().empty()
                                          ? ""
                                          : absl::StrCat(" (", s.spec().display_name(), ")"))},
      {"state", Short(s.state()) + (s.message().empty() ? "" : absl::StrCat(": ", s.message()))},
      {"strategy", absl::StrCat(s.spec().strategy().name(), ", seed ", s.spec().strategy().seed())},
      {"space", s.spec().space().name()},
      {"profiles", absl::StrJoin(s.spec().profile_ids(), ", ")},
      {"progress", absl::StrFormat("%d/%d evaluated, %d running, %d queued, %d failed",
                                   p.evaluated(), p.target(), p.leased(), p.queued(), p.failed())},
  };
  if (!p.evaluated_per_rung().empty()) {
    rows.push_back(
        {"rungs", absl::StrCat("evaluated per rung ", absl::StrJoin(p.evaluated_per_rung(), ", "),
                               " (eta ", s.spec().multi_fidelity().eta(), ")")});
  }
  if (s.spec().has_final_training()) {
    const nas::v1::FinalTraining& ft = s.spec().final_training();
    rows.push_back(
        {"final training",
         absl::StrCat(ft.finalists_per_profile(), " per profile, ", ft.epochs(),
                      ft.epochs() == 1 ? " epoch on " : " epochs on ",
                      ft.train_subset() > 0 ? absl::StrCat(ft.train_subset(), " examples")
                                            : std::string("the whole training split"),
                      ": ",
                      p.finalists() == 0 ? std::string("after the search phase")
                                         : absl::StrCat(p.finalists_trained(), " of ",
                                                        p.finalists(), " finalists trained"))});
  }
  rows.push_back({"best accuracy", absl::StrFormat("%.4f", s.best_accuracy())});
  if (s.spec().has_warm_start()) {
    rows.push_back({"warm start", absl::StrCat("from search ", s.spec().warm_start().search_id(),
                                               " (", s.spec().warm_start().seeds(), ")")});
  }
  rows.push_back({"created", s.created_at()});
  // What the controller warned of when it accepted the search (it may have passed since).
  for (const std::string& w : s.warnings()) rows.push_back({"warning at submit", w});
  PrintTable(rows);
}

}  // namespace nas::cli
