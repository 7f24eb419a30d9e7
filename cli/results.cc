// nasctl's result commands: pareto (and its plot), candidates, candidate, fetch.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/flags.h"
#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/units.h"
#include "cli/watch_view.h"
#include "common/model_format.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"
#include "search/objectives.h"

namespace nas::cli {
namespace {

// The accuracy a profile ranks by (the int8 model's on an int8 profile), as the registry says.
double ProfileAccuracy(const nas::v1::CandidateMetrics& c, const nas::v1::ProfileMetrics& pm) {
  return MetricInfoOf(nas::v1::METRIC_ACCURACY).value(c, pm);
}

// The metrics `nasctl pareto` always shows.
const absl::flat_hash_set<int> kShownMetrics = {
    nas::v1::METRIC_ACCURACY, nas::v1::METRIC_LATENCY, nas::v1::METRIC_PEAK_ACTIVATION_BYTES,
    nas::v1::METRIC_MODEL_BYTES, nas::v1::METRIC_PARAMS};

}  // namespace

absl::StatusOr<nas::v1::ParetoFront> Nasctl::FetchFront(int64_t id, const std::string& profile) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::GetParetoFrontRequest req;
  req.set_search_id(id);
  req.set_profile_id(profile);
  nas::v1::ParetoFront front;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().GetParetoFront(&ctx, req, &front)));
  return front;
}

namespace {

// "0.572 ms", a measured one with its 95% half-width ("0.572 ms +-0.012"), '?' when unsettled.
std::string LatencyCell(const nas::v1::ProfileMetrics& pm) {
  std::string cell = absl::StrFormat("%.3f ms", pm.latency_ms());
  if (pm.latency_ci_ms() > 0)
    absl::StrAppend(&cell, absl::StrFormat(" +-%.3f", pm.latency_ci_ms()));
  if (pm.latency_unsettled()) absl::StrAppend(&cell, " ?");
  return cell;
}

}  // namespace

absl::Status Nasctl::Pareto(int64_t id) {
  NAS_ASSIGN_OR_RETURN(const nas::v1::Search search, FetchSearch(id));
  std::vector<std::string> profiles(search.spec().profile_ids().begin(),
                                    search.spec().profile_ids().end());
  if (!absl::GetFlag(FLAGS_profile).empty()) profiles = {absl::GetFlag(FLAGS_profile)};
  std::vector<nas::v1::ParetoFront> fronts;
  for (const std::string& profile : profiles) {
    NAS_ASSIGN_OR_RETURN(nas::v1::ParetoFront fetched, FetchFront(id, profile));
    fronts.push_back(std::move(fetched));
    const nas::v1::ParetoFront& front = fronts.back();
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << Json(front) << "\n";
      continue;
    }
    std::cout << absl::StrFormat(
        "Pareto front of search %d on %s: %d members (%d evaluated, %d infeasible), "
        "hypervolume %.4f of its reference box\n",
        id, front.profile_id(), front.members_size(), front.evaluated(), front.infeasible(),
        front.normalized_hypervolume());
    // The usual columns, then any objective of the search they do not show (from the
    // registry of metrics, search/objectives.h).
    std::vector<const MetricInfo*> extra;
    for (const nas::v1::Objective& o : search.spec().objectives()) {
      if (!kShownMetrics.contains(o.metric())) extra.push_back(&MetricInfoOf(o.metric()));
    }
    // An int8 device's front ranks the int8 model's accuracy.
    bool int8 = false;
    for (const auto& m : front.members()) int8 |= m.profile_metrics().accuracy_kind() == "int8";
    if (int8) std::cout << "accuracy: validation, of the int8 model (what this profile runs)\n";
    std::vector<std::vector<std::string>> rows = {{"CANDIDATE", int8 ? "INT8 ACC" : "ACCURACY",
                                                   "LATENCY", "SOURCE", "PEAK MEM", "MODEL",
                                                   "PARAMS"}};
    for (const MetricInfo* info : extra) rows[0].push_back(info->column);
    const bool compared = search.spec().has_reference();
    if (compared) rows[0].push_back("VS REFERENCE");
    const bool finals = search.spec().has_final_training();
    if (finals) rows[0].push_back("FINALIST (fetch this)");
    rows[0].push_back("ARCHITECTURE");
    for (const auto& m : front.members()) {
      const auto& pm = m.profile_metrics();
      rows.push_back({absl::StrCat(m.candidate_id()),
                      absl::StrFormat("%.4f", ProfileAccuracy(m.metrics(), pm)), LatencyCell(pm),
                      Short(pm.latency_source()), Bytes(pm.peak_activation_bytes()),
                      Bytes(pm.model_bytes()), absl::StrCat(m.metrics().params())});
      for (const MetricInfo* info : extra) {
        rows.back().push_back(info->Format(info->value(m.metrics(), pm)));
      }
      if (compared) {
        // A trained finalist compares with the reference's finalist: both trained alike.
        const bool final = m.finalist().vs_reference().reference_candidate_id() != 0;
        rows.back().push_back(final ? VsReference(m.finalist().vs_reference(), false) + " (final)"
                                    : VsReference(m.vs_reference(), m.is_reference()));
      }
      if (finals) rows.back().push_back(FinalistCell(m.finalist()));
      rows.back().push_back(Describe(m.architecture()));
    }
    PrintTable(rows);
    std::vector<std::string> unsettled;
    for (const auto& m : front.members()) {
      if (m.profile_metrics().latency_unsettled())
        unsettled.push_back(absl::StrCat(m.candidate_id()));
    }
    if (!unsettled.empty()) {
      std::cout << "latency not settled for " << absl::StrJoin(unsettled, ", ")
                << " (95% interval wider than +-5% after the most runs the worker makes, '?'): "
                   "their places on this front are within measurement noise\n";
    }
    std::cout << "\n";
  }
  if (!absl::GetFlag(FLAGS_plot).empty()) {
    NAS_RETURN_IF_ERROR(Plot(search, fronts, absl::GetFlag(FLAGS_plot)));
  }
  return absl::OkStatus();
}

// Writes ParetoPlotSvg() of `fronts` and every final-rung candidate of the search to `path`.
absl::Status Nasctl::Plot(const nas::v1::Search& search,
                          const std::vector<nas::v1::ParetoFront>& fronts,
                          const std::string& path) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::ListCandidatesRequest req;
  req.set_search_id(search.id());
  req.set_state(nas::v1::CANDIDATE_STATE_EVALUATED);
  req.set_limit(10000);
  nas::v1::ListCandidatesResponse resp;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().ListCandidates(&ctx, req, &resp)));
  const int rungs = search.spec().multi_fidelity().rungs();
  const int final_rung = rungs >= 2 ? rungs - 1 : 0;
  std::vector<PlotPanel> panels;
  for (const nas::v1::ParetoFront& front : fronts) {
    PlotPanel panel;
    panel.profile_id = front.profile_id();
    panel.hypervolume = front.normalized_hypervolume();
    std::set<int64_t> members;
    for (const auto& m : front.members()) members.insert(m.candidate_id());
    for (const nas::v1::Candidate& c : resp.candidates()) {
      if (c.fidelity().rung() != final_rung) continue;
      for (const nas::v1::ProfileMetrics& pm : c.profile_metrics()) {
        if (pm.profile_id() != front.profile_id()) continue;
        panel.latency_source = absl::AsciiStrToLower(Short(pm.latency_source()));
        if (!pm.accuracy_kind().empty()) panel.accuracy_kind = pm.accuracy_kind();
        std::string note;
        if (c.is_reference()) {
          note = "ref";
        } else if (c.vs_reference().reference_candidate_id() != 0) {
          const auto& vs = c.vs_reference();
          note = absl::StrFormat("%.1fx, %+.1f", vs.params_ratio(),
                                 100 * (vs.has_test_accuracy_delta() ? vs.test_accuracy_delta()
                                                                     : vs.val_accuracy_delta()));
        }
        panel.points.push_back({c.id(), ProfileAccuracy(c.metrics(), pm), pm.latency_ms(),
                                static_cast<double>(pm.peak_activation_bytes()), pm.feasible(),
                                members.count(c.id()) > 0, note, pm.latency_ci_ms(),
                                pm.latency_unsettled()});
      }
    }
    panels.push_back(std::move(panel));
  }
  const std::string title =
      absl::StrCat("search ", search.id(), " \"", search.spec().display_name(),
                   "\": accuracy against "
                   "latency and memory, per hardware profile");
  std::ofstream out(path);
  out << ParetoPlotSvg(title, panels);
  out.close();
  if (!out) return UsageError(absl::StrCat("--plot: cannot write ", path));
  if (!absl::GetFlag(FLAGS_json)) std::cout << "wrote " << path << "\n";
  return absl::OkStatus();
}

absl::Status Nasctl::Candidates(int64_t id) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::ListCandidatesRequest req;
  req.set_search_id(id);
  req.set_limit(absl::GetFlag(FLAGS_limit));
  if (!absl::GetFlag(FLAGS_state).empty()) {
    nas::v1::CandidateState state;
    if (!nas::v1::CandidateState_Parse(
            absl::StrCat("CANDIDATE_STATE_", absl::AsciiStrToUpper(absl::GetFlag(FLAGS_state))),
            &state)) {
      return UsageError(absl::StrCat("unknown state \"", absl::GetFlag(FLAGS_state), "\""));
    }
    req.set_state(state);
  }
  nas::v1::ListCandidatesResponse resp;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().ListCandidates(&ctx, req, &resp)));
  if (absl::GetFlag(FLAGS_json)) {
    for (const auto& c : resp.candidates()) std::cout << Json(c) << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "STATE", "RUNG", "ACCURACY", "TEST ACC",
                                                 "INT8 TEST", "PARAMS", "MACS", "TRIES", "TRAINED",
                                                 "MODEL"}};
  bool compared = false;
  for (const auto& c : resp.candidates()) compared |= c.is_reference();
  if (compared) rows[0].push_back("VS REFERENCE");
  rows[0].push_back("ARCHITECTURE");
  for (const auto& c : resp.candidates()) {
    const bool done = c.state() == nas::v1::CANDIDATE_STATE_EVALUATED;
    rows.push_back(
        {absl::StrCat(c.id()), Short(c.state()),
         // A finalist of final training shows as such, not by its rung.
         c.fidelity().final_training() ? std::string("final") : absl::StrCat(c.fidelity().rung()),
         done ? absl::StrFormat("%.4f", c.metrics().val_accuracy()) : "-",
         // Measured for finished models (full-fidelity training) only.
         done && c.metrics().test_accuracy() >= 0
             ? absl::StrFormat("%.4f", c.metrics().test_accuracy())
             : "-",
         done && c.metrics().has_int8_test_accuracy() && c.metrics().int8_test_accuracy() >= 0
             ? absl::StrFormat("%.4f", c.metrics().int8_test_accuracy())
             : "-",
         done ? absl::StrCat(c.metrics().params()) : "-",
         done ? absl::StrCat(c.metrics().macs()) : "-", absl::StrCat(c.attempts()),
         // The arithmetic it trained in, and the epochs resumed from a checkpoint
         // a lost worker left.
         done && !c.metrics().train_precision().empty()
             ? absl::StrCat(c.metrics().train_precision(),
                            c.metrics().resumed_epochs() > 0
                                ? absl::StrCat(", ", c.metrics().resumed_epochs(), " resumed")
                                : "")
             : "-",
         c.has_artifact() ? "yes" : "no"});
    if (compared) rows.back().push_back(VsReference(c.vs_reference(), c.is_reference()));
    rows.back().push_back(Describe(c.architecture()));
  }
  PrintTable(rows);
  return absl::OkStatus();
}

absl::Status Nasctl::CandidateCmd(int64_t id) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::GetCandidateRequest req;
  req.set_candidate_id(id);
  nas::v1::Candidate c;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().GetCandidate(&ctx, req, &c)));
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << Json(c) << "\n";
    return absl::OkStatus();
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(c, &text);
  std::cout << text;
  return absl::OkStatus();
}

absl::Status Nasctl::Fetch(int64_t id) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx, /*unary=*/false));
  nas::v1::FetchModelRequest req;
  req.set_candidate_id(id);
  req.set_format(absl::GetFlag(FLAGS_format));
  req.set_profile_id(absl::GetFlag(FLAGS_profile));
  if (!req.format().empty() && !IsModelFormat(req.format())) {
    return UsageError(absl::StrCat("--format: \"", req.format(), "\" is not ", kModelFormatList));
  }
  auto reader = client_.nas().FetchModel(&ctx, req);
  nas::v1::FetchModelResponse msg;
  nas::v1::ModelMetadata meta;
  std::string data;
  while (reader->Read(&msg)) {
    if (msg.has_metadata()) {
      meta = msg.metadata();
    } else {
      data += msg.chunk();
    }
  }
  NAS_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  const std::string sha = Sha256Hex(data);
  if (sha != meta.sha256() || static_cast<int64_t>(data.size()) != meta.size_bytes()) {
    return absl::DataLossError(absl::StrCat("model of candidate ", id, " arrived corrupt: sha256 ",
                                            sha, ", expected ", meta.sha256()));
  }
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    out = meta.file_name().empty() ? absl::StrCat("candidate-", id, ".pt") : meta.file_name();
  }
  // Write beside, then rename: a reader never sees half a model.
  const std::string tmp = out + ".part";
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) return UsageError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) {
    return UsageError(absl::StrCat("cannot rename ", tmp, " to ", out));
  }
  std::ofstream(out + ".json") << Json(meta) << "\n";
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << Json(meta) << "\n";
  } else {
    std::cout << "wrote " << out << " (" << meta.format() << ", " << Bytes(meta.size_bytes())
              << ", sha256 " << sha << " verified) and " << out << ".json\n";
    const nas::v1::CandidateMetrics& m = meta.metrics();
    std::cout << absl::StrFormat("  accuracy: fp32 val %.4f test %.4f", m.val_accuracy(),
                                 m.test_accuracy());
    if (m.has_int8_val_accuracy()) {
      std::cout << absl::StrFormat("; int8 val %.4f test %.4f", m.int8_val_accuracy(),
                                   m.int8_test_accuracy());
    }
    std::cout << "\n";
    if (meta.has_input()) {
      const nas::v1::InputContract& in = meta.input();
      std::cout << "  input: " << in.dtype() << " " << in.layout() << " ["
                << absl::StrJoin(in.shape(), ", ") << "] " << in.channel_order() << ", values in ["
                << in.value_min() << ", " << in.value_max() << "]"
                << (in.normalised_inside() ? "; the model normalises and resizes itself" : "")
                << "\n";
    }
    if (meta.formats_size() > 1) {
      std::cout << "  formats: " << absl::StrJoin(meta.formats(), ", ") << " (--format)\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace nas::cli
