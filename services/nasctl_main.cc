// nasctl: the command-line client of the NAS service.
//
//   export NAS_SERVER=127.0.0.1:50051 NAS_TOKEN=nas_...
//   nasctl submit --space=mobilenetv2 --profiles=host-cpu,cortex-m7 --candidates=20 --watch
//   nasctl list
//   nasctl pareto 1
//   nasctl fetch 17 --out=model.pt
//
// Tables for people by default, --json for scripts. An error is one line on stderr and a
// non-zero exit: 1 for a failed call, 2 for a usage error.
#include <grpcpp/grpcpp.h>

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "proto/health.grpc.pb.h"
#include "proto/nas_service.grpc.pb.h"
#include "search/latency_table.h"
#include "services/crypto.h"
#include "services/watch_view.h"

ABSL_FLAG(std::string, server, "", "Controller address (default: $NAS_SERVER or 127.0.0.1:50051)");
ABSL_FLAG(std::string, token, "", "Bearer token (default: $NAS_TOKEN, or the file in --token_file)");
ABSL_FLAG(std::string, token_file, "", "File holding the bearer token");
ABSL_FLAG(std::string, tls_ca_file, "", "PEM CA certificate: connect with TLS");
ABSL_FLAG(bool, json, false, "Print JSON (one object per line) instead of tables");
ABSL_FLAG(int, timeout_seconds, 30, "Deadline of unary calls");
// submit
ABSL_FLAG(std::string, spec, "", "submit: a SearchSpec file (.json, or text proto otherwise)");
ABSL_FLAG(std::string, name, "", "submit: display name; profiles register: the profile's name");
ABSL_FLAG(std::string, dataset, "",
          "submit: dataset name (fashion-mnist, or one that workers serve with --dataset)");
ABSL_FLAG(std::string, space, "", "submit: search space (mobilenetv2, resnet)");
ABSL_FLAG(std::string, strategy, "", "submit: strategy (random, evolution, nsga2)");
ABSL_FLAG(std::string, strategy_settings, "",
          "submit: strategy settings, comma-separated KEY=VALUE (e.g. population=32,sample_size=8)");
ABSL_FLAG(uint64_t, seed, 0, "submit: strategy seed");
ABSL_FLAG(std::string, profiles, "", "submit: comma-separated hardware profile ids");
ABSL_FLAG(std::string, objectives, "",
          "submit: comma-separated metrics (accuracy, latency, peak_activation_bytes, "
          "model_bytes, params, macs)");
ABSL_FLAG(int, candidates, 0, "submit: budget, candidates to evaluate");
ABSL_FLAG(int, parallel, 0, "submit: candidates in flight at once");
ABSL_FLAG(int, epochs, 0, "submit: training epochs per candidate");
ABSL_FLAG(int, train_subset, 0, "submit: training examples per candidate (0: all)");
ABSL_FLAG(int, rungs, 0,
          "submit: successive-halving rungs including the full recipe (2 to 5; 0: off)");
ABSL_FLAG(int, eta, 0, "submit: successive halving's reduction factor (default 3)");
ABSL_FLAG(bool, watch, false, "submit: watch the search until it ends");
// pareto, candidates, fetch, users, tokens
ABSL_FLAG(std::string, profile, "", "pareto: one profile (default: every profile of the search)");
ABSL_FLAG(std::string, plot, "",
          "pareto: also draw accuracy against latency and memory per profile into this SVG file");
ABSL_FLAG(std::string, state, "", "candidates: only this state (queued, leased, evaluated, ...)");
ABSL_FLAG(int, limit, 0, "list, candidates: at most this many");
ABSL_FLAG(std::string, out, "", "fetch: output file (default: the model's suggested name)");
ABSL_FLAG(bool, admin, false, "users create: make an administrator");
ABSL_FLAG(std::string, user, "", "tokens create: for this user (admins only; default: you)");
ABSL_FLAG(std::string, lut, "",
          "profiles register: a latency table written by nas-profile (makes a LUT profile)");
ABSL_FLAG(std::string, label, "", "tokens create: a note to tell tokens apart");
ABSL_FLAG(std::string, device_tag, "",
          "profiles register: the device the profile describes, as its workers' --device_tag "
          "(a LUT's predictions are then compared with their measurements)");

namespace {

using google::protobuf::Message;

constexpr char kUsage[] = R"(nasctl: the NAS service's command-line client.

Usage: nasctl [flags] COMMAND [ARGS]

  submit [--spec=FILE] [--dataset=..] [--space=..] [--strategy=nsga2] [--profiles=a,b]
         [--candidates=N] [--watch] ...
  list                         your searches
  get SEARCH_ID                one search
  watch SEARCH_ID              stream progress until the search ends
  cancel SEARCH_ID
  pareto SEARCH_ID [--profile=ID]
  candidates SEARCH_ID [--state=evaluated]
  candidate CANDIDATE_ID
  fetch CANDIDATE_ID [--out=FILE]   download a model and check its sha256
  profiles [list] | profiles get ID | profiles register FILE | profiles register --lut=TABLE --name=NAME
  users list | users create NAME [--admin]
  tokens create [--user=NAME] [--label=..] | tokens revoke TOKEN_ID
  whoami
  health                       is the controller serving?

Connection: --server (or $NAS_SERVER), --token (or $NAS_TOKEN, or --token_file).
Output: tables; --json for scripts. Exit 1 when a call fails, 2 on a usage error.)";

struct UsageError {
  std::string message;
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{absl::StrCat("cannot read ", path)};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) token = Env("NAS_TOKEN");
  if (token.empty() && !absl::GetFlag(FLAGS_token_file).empty()) {
    token = ReadFileOrDie(absl::GetFlag(FLAGS_token_file));
  }
  return std::string(absl::StripAsciiWhitespace(token));
}

std::shared_ptr<grpc::Channel> Channel() {
  std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) server = Env("NAS_SERVER");
  if (server.empty()) server = "127.0.0.1:50051";
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!absl::GetFlag(FLAGS_tls_ca_file).empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileOrDie(absl::GetFlag(FLAGS_tls_ca_file));
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // `nasctl watch` rides out a controller restart: reconnect within seconds, not gRPC's
  // default of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(server, creds, args);
}

// A failed call: printed as one line by main().
struct CallError {
  grpc::Status status;
};

void Check(const grpc::Status& st) {
  if (!st.ok()) throw CallError{st};
}

void Prepare(grpc::ClientContext* ctx, bool unary = true) {
  const std::string token = Token();
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  if (unary) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(absl::GetFlag(FLAGS_timeout_seconds)));
  }
}

std::string Json(const Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

int64_t IdArg(const std::vector<std::string>& args, size_t i, const char* what) {
  int64_t id = 0;
  if (args.size() <= i || !absl::SimpleAtoi(args[i], &id) || id <= 0) {
    throw UsageError{absl::StrCat("expected ", what, " (a positive number)")};
  }
  return id;
}

// Drops an enum's prefix: SEARCH_STATE_RUNNING -> running.
std::string Short(const std::string& enum_name) {
  const size_t pos = enum_name.find("_STATE_");
  std::string s = pos == std::string::npos ? enum_name : enum_name.substr(pos + 7);
  if (absl::StartsWith(s, "LATENCY_SOURCE_")) s = s.substr(15);
  return absl::AsciiStrToLower(s);
}

// Prints rows as an aligned table.
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

std::string Bytes(int64_t b) {
  if (b >= (1 << 20)) return absl::StrFormat("%.1f MiB", b / 1048576.0);
  if (b >= 1024) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrCat(b, " B");
}

std::string Describe(const nas::v1::Architecture& a) {
  std::vector<std::string> stages;
  for (const auto& s : a.stages()) {
    std::vector<std::string> blocks;
    for (const auto& b : s.blocks()) {
      blocks.push_back(a.space() == "resnet"
                           ? "b"
                           : absl::StrCat("k", b.kernel(), "e", b.expansion(),
                                          b.squeeze_excite() ? "+se" : ""));
    }
    stages.push_back(absl::StrCat(s.width(), ":", absl::StrJoin(blocks, ",")));
  }
  return absl::StrCat(a.space(), " r", a.resolution(), " [", absl::StrJoin(stages, " | "), "]");
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
      {"state", Short(nas::v1::SearchState_Name(s.state())) +
                    (s.message().empty() ? "" : absl::StrCat(": ", s.message()))},
      {"strategy", absl::StrCat(s.spec().strategy().name(), ", seed ", s.spec().strategy().seed())},
      {"space", s.spec().space().name()},
      {"profiles", absl::StrJoin(s.spec().profile_ids(), ", ")},
      {"progress", absl::StrFormat("%d/%d evaluated, %d running, %d queued, %d failed",
                                   p.evaluated(), p.target(), p.leased(), p.queued(), p.failed())},
  };
  if (!p.evaluated_per_rung().empty()) {
    rows.push_back({"rungs", absl::StrCat("evaluated per rung ",
                                          absl::StrJoin(p.evaluated_per_rung(), ", "), " (eta ",
                                          s.spec().multi_fidelity().eta(), ")")});
  }
  rows.push_back({"best accuracy", absl::StrFormat("%.4f", s.best_accuracy())});
  rows.push_back({"created", s.created_at()});
  PrintTable(rows);
}

nas::v1::Metric ParseMetric(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "accuracy") return nas::v1::METRIC_ACCURACY;
  if (n == "latency" || n == "latency_ms") return nas::v1::METRIC_LATENCY;
  if (n == "peak_activation_bytes" || n == "memory") return nas::v1::METRIC_PEAK_ACTIVATION_BYTES;
  if (n == "model_bytes") return nas::v1::METRIC_MODEL_BYTES;
  if (n == "params") return nas::v1::METRIC_PARAMS;
  if (n == "macs") return nas::v1::METRIC_MACS;
  throw UsageError{absl::StrCat("unknown metric \"", name, "\"")};
}

template <typename M>
void ParseFile(const std::string& path, M* message) {
  const std::string text = ReadFileOrDie(path);
  if (absl::EndsWith(path, ".json")) {
    auto st = google::protobuf::util::JsonStringToMessage(text, message);
    if (!st.ok()) throw UsageError{absl::StrCat(path, ": ", st.ToString())};
  } else if (!google::protobuf::TextFormat::ParseFromString(text, message)) {
    throw UsageError{absl::StrCat(path, ": not a valid text proto of ",
                                  message->GetDescriptor()->full_name())};
  }
}

// ---- Commands -------------------------------------------------------------------------------

class Nasctl {
 public:
  Nasctl()
      : channel_(Channel()),
        nas_(nas::v1::NasService::NewStub(channel_)),
        admin_(nas::v1::AdminService::NewStub(channel_)) {}

  int Run(const std::vector<std::string>& args) {
    if (args.empty()) throw UsageError{"no command given; see nasctl --help"};
    const std::string& cmd = args[0];
    if (cmd == "submit") return Submit();
    if (cmd == "list") return List();
    if (cmd == "get") return Get(IdArg(args, 1, "SEARCH_ID"));
    if (cmd == "watch") return Watch(IdArg(args, 1, "SEARCH_ID"));
    if (cmd == "cancel") return Cancel(IdArg(args, 1, "SEARCH_ID"));
    if (cmd == "pareto") return Pareto(IdArg(args, 1, "SEARCH_ID"));
    if (cmd == "candidates") return Candidates(IdArg(args, 1, "SEARCH_ID"));
    if (cmd == "candidate") return CandidateCmd(IdArg(args, 1, "CANDIDATE_ID"));
    if (cmd == "fetch") return Fetch(IdArg(args, 1, "CANDIDATE_ID"));
    if (cmd == "profiles") return Profiles(args);
    if (cmd == "users") return Users(args);
    if (cmd == "tokens") return Tokens(args);
    if (cmd == "whoami") return WhoAmI();
    if (cmd == "health") return Health();
    throw UsageError{absl::StrCat("unknown command \"", cmd, "\"; see nasctl --help")};
  }

 private:
  int Submit() {
    nas::v1::SubmitSearchRequest req;
    nas::v1::SearchSpec* spec = req.mutable_spec();
    if (!absl::GetFlag(FLAGS_spec).empty()) ParseFile(absl::GetFlag(FLAGS_spec), spec);
    // Flags override the file.
    if (!absl::GetFlag(FLAGS_name).empty()) spec->set_display_name(absl::GetFlag(FLAGS_name));
    if (!absl::GetFlag(FLAGS_dataset).empty()) spec->set_dataset(absl::GetFlag(FLAGS_dataset));
    if (!absl::GetFlag(FLAGS_space).empty()) {
      spec->mutable_space()->set_name(absl::GetFlag(FLAGS_space));
    }
    if (!absl::GetFlag(FLAGS_strategy).empty()) {
      spec->mutable_strategy()->set_name(absl::GetFlag(FLAGS_strategy));
    }
    if (absl::GetFlag(FLAGS_seed) != 0) spec->mutable_strategy()->set_seed(absl::GetFlag(FLAGS_seed));
    if (!absl::GetFlag(FLAGS_strategy_settings).empty()) {
      for (absl::string_view kv : absl::StrSplit(absl::GetFlag(FLAGS_strategy_settings), ',')) {
        std::pair<std::string, std::string> setting = absl::StrSplit(kv, absl::MaxSplits('=', 1));
        if (setting.first.empty() || setting.second.empty()) {
          throw UsageError{absl::StrCat("--strategy_settings: \"", kv, "\" is not KEY=VALUE")};
        }
        (*spec->mutable_strategy()->mutable_settings())[setting.first] = setting.second;
      }
    }
    if (!absl::GetFlag(FLAGS_profiles).empty()) {
      spec->clear_profile_ids();
      for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_profiles), ',')) {
        spec->add_profile_ids(std::string(absl::StripAsciiWhitespace(p)));
      }
    }
    if (!absl::GetFlag(FLAGS_objectives).empty()) {
      spec->clear_objectives();
      for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_objectives), ',')) {
        spec->add_objectives()->set_metric(ParseMetric(absl::StripAsciiWhitespace(m)));
      }
    }
    if (absl::GetFlag(FLAGS_candidates) != 0) {
      spec->mutable_budget()->set_max_candidates(absl::GetFlag(FLAGS_candidates));
    }
    if (absl::GetFlag(FLAGS_parallel) != 0) {
      spec->mutable_budget()->set_max_parallel(absl::GetFlag(FLAGS_parallel));
    }
    if (absl::GetFlag(FLAGS_epochs) != 0) {
      spec->mutable_recipe()->set_epochs(absl::GetFlag(FLAGS_epochs));
    }
    if (absl::GetFlag(FLAGS_train_subset) != 0) {
      spec->mutable_recipe()->set_train_subset(absl::GetFlag(FLAGS_train_subset));
    }
    if (absl::GetFlag(FLAGS_rungs) != 0) {
      spec->mutable_multi_fidelity()->set_rungs(absl::GetFlag(FLAGS_rungs));
    }
    if (absl::GetFlag(FLAGS_eta) != 0) {
      spec->mutable_multi_fidelity()->set_eta(absl::GetFlag(FLAGS_eta));
    }
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::Search search;
    Check(nas_->SubmitSearch(&ctx, req, &search));
    if (!absl::GetFlag(FLAGS_json)) std::cout << "submitted search " << search.id() << "\n";
    PrintSearch(search);
    return absl::GetFlag(FLAGS_watch) ? Watch(search.id()) : 0;
  }

  int List() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::ListSearchesRequest req;
    req.set_limit(absl::GetFlag(FLAGS_limit));
    nas::v1::ListSearchesResponse resp;
    Check(nas_->ListSearches(&ctx, req, &resp));
    if (absl::GetFlag(FLAGS_json)) {
      for (const auto& s : resp.searches()) std::cout << Json(s) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "NAME", "STATE", "EVALUATED", "BEST ACC", "PROFILES", "CREATED"}};
    for (const auto& s : resp.searches()) {
      rows.push_back({absl::StrCat(s.id()), s.spec().display_name(),
                      Short(nas::v1::SearchState_Name(s.state())),
                      absl::StrCat(s.progress().evaluated(), "/", s.progress().target()),
                      absl::StrFormat("%.4f", s.best_accuracy()),
                      absl::StrJoin(s.spec().profile_ids(), ","), s.created_at()});
    }
    PrintTable(rows);
    return 0;
  }

  int Get(int64_t id) {
    PrintSearch(FetchSearch(id));
    return 0;
  }

  nas::v1::Search FetchSearch(int64_t id) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::GetSearchRequest req;
    req.set_search_id(id);
    nas::v1::Search s;
    Check(nas_->GetSearch(&ctx, req, &s));
    return s;
  }

  // Follows a search's events until it ends. On a terminal, events scroll above a live
  // progress line (bar, best accuracy, each front's hypervolume, ETA) redrawn once a second;
  // piped, each event is one line with the progress line's figures. Ends with the fronts.
  int Watch(int64_t id) {
    const bool json = absl::GetFlag(FLAGS_json);
    const bool tty = !json && isatty(STDOUT_FILENO) != 0;
    std::map<std::string, double> hypervolume;  // per profile, from FRONT_CHANGED events
    if (!json) {
      const nas::v1::Search search = FetchSearch(id);  // kept alive for the loop
      for (const std::string& profile : search.spec().profile_ids()) {
        hypervolume[profile] = FetchFront(id, profile).hypervolume();
      }
    }
    grpc::ClientContext ctx;
    Prepare(&ctx, /*unary=*/false);
    nas::v1::WatchSearchRequest req;
    req.set_search_id(id);
    auto reader = nas_->WatchSearch(&ctx, req);

    // The stream's reader runs on its own thread, so the terminal's line keeps its clock.
    std::mutex mu;
    std::condition_variable cv;
    std::deque<nas::v1::SearchEvent> inbox;
    bool ended = false;
    std::thread receive([&] {
      nas::v1::SearchEvent e;
      while (reader->Read(&e)) {
        std::lock_guard<std::mutex> lock(mu);
        inbox.push_back(e);
        cv.notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      ended = true;
      cv.notify_one();
    });
    nas::v1::Search latest;
    nas::v1::SearchState final_state = nas::v1::SEARCH_STATE_UNSPECIFIED;
    constexpr int kBar = 24;
    while (true) {
      std::deque<nas::v1::SearchEvent> batch;
      bool done = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, std::chrono::seconds(1), [&] { return !inbox.empty() || ended; });
        batch.swap(inbox);
        done = ended;
      }
      for (const nas::v1::SearchEvent& e : batch) {
        latest = e.search();
        final_state = e.search().state();
        if (json) {
          std::cout << Json(e) << std::endl;
          continue;
        }
        if (e.kind() == nas::v1::SEARCH_EVENT_KIND_FRONT_CHANGED && !e.profile_id().empty()) {
          hypervolume[e.profile_id()] = e.hypervolume();
        }
        if (tty) {
          std::cout << "\r\033[K" << e.message() << "\n";
        } else {
          std::cout << nas::ProgressLine(latest, hypervolume, absl::Now(), kBar) << "  "
                    << e.message() << std::endl;
        }
      }
      if (tty && latest.id() != 0) {
        std::cout << "\r\033[K" << nas::ProgressLine(latest, hypervolume, absl::Now(), kBar)
                  << std::flush;
      }
      if (done) break;
    }
    receive.join();
    if (tty) std::cout << "\n";
    Check(reader->Finish());
    if (!json && latest.id() != 0) {
      std::cout << "\n";
      Pareto(id);
    }
    return final_state == nas::v1::SEARCH_STATE_FAILED ? 1 : 0;
  }

  nas::v1::ParetoFront FetchFront(int64_t id, const std::string& profile) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(id);
    req.set_profile_id(profile);
    nas::v1::ParetoFront front;
    Check(nas_->GetParetoFront(&ctx, req, &front));
    return front;
  }

  // Writes ParetoPlotSvg() of `fronts` and every final-rung candidate of the search to `path`.
  void Plot(const nas::v1::Search& search, const std::vector<nas::v1::ParetoFront>& fronts,
            const std::string& path) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::ListCandidatesRequest req;
    req.set_search_id(search.id());
    req.set_state(nas::v1::CANDIDATE_STATE_EVALUATED);
    req.set_limit(10000);
    nas::v1::ListCandidatesResponse resp;
    Check(nas_->ListCandidates(&ctx, req, &resp));
    const int rungs = search.spec().multi_fidelity().rungs();
    const int final_rung = rungs >= 2 ? rungs - 1 : 0;
    std::vector<nas::PlotPanel> panels;
    for (const nas::v1::ParetoFront& front : fronts) {
      nas::PlotPanel panel;
      panel.profile_id = front.profile_id();
      panel.hypervolume = front.hypervolume();
      std::set<int64_t> members;
      for (const auto& m : front.members()) members.insert(m.candidate_id());
      for (const nas::v1::Candidate& c : resp.candidates()) {
        if (c.fidelity().rung() != final_rung) continue;
        for (const nas::v1::ProfileMetrics& pm : c.profile_metrics()) {
          if (pm.profile_id() != front.profile_id()) continue;
          panel.latency_source = absl::AsciiStrToLower(Short(
              nas::v1::LatencySource_Name(pm.latency_source())));
          panel.points.push_back({c.id(), c.metrics().val_accuracy(), pm.latency_ms(),
                                  static_cast<double>(pm.peak_activation_bytes()),
                                  pm.feasible(), members.count(c.id()) > 0});
        }
      }
      panels.push_back(std::move(panel));
    }
    const std::string title = absl::StrCat("search ", search.id(), " \"",
                                           search.spec().display_name(), "\": accuracy against "
                                           "latency and memory, per hardware profile");
    std::ofstream out(path);
    out << nas::ParetoPlotSvg(title, panels);
    out.close();
    if (!out) throw UsageError{absl::StrCat("--plot: cannot write ", path)};
    if (!absl::GetFlag(FLAGS_json)) std::cout << "wrote " << path << "\n";
  }

  int Cancel(int64_t id) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::CancelSearchRequest req;
    req.set_search_id(id);
    nas::v1::Search s;
    Check(nas_->CancelSearch(&ctx, req, &s));
    PrintSearch(s);
    return 0;
  }

  int Pareto(int64_t id) {
    const nas::v1::Search search = FetchSearch(id);
    std::vector<std::string> profiles(search.spec().profile_ids().begin(),
                                      search.spec().profile_ids().end());
    if (!absl::GetFlag(FLAGS_profile).empty()) profiles = {absl::GetFlag(FLAGS_profile)};
    std::vector<nas::v1::ParetoFront> fronts;
    for (const std::string& profile : profiles) {
      fronts.push_back(FetchFront(id, profile));
      const nas::v1::ParetoFront& front = fronts.back();
      if (absl::GetFlag(FLAGS_json)) {
        std::cout << Json(front) << "\n";
        continue;
      }
      std::cout << absl::StrFormat(
          "Pareto front of search %d on %s: %d members (%d evaluated, %d infeasible), "
          "hypervolume %.6g\n",
          id, front.profile_id(), front.members_size(), front.evaluated(), front.infeasible(),
          front.hypervolume());
      std::vector<std::vector<std::string>> rows = {
          {"CANDIDATE", "ACCURACY", "LATENCY", "SOURCE", "PEAK MEM", "MODEL", "PARAMS",
           "ARCHITECTURE"}};
      for (const auto& m : front.members()) {
        const auto& pm = m.profile_metrics();
        rows.push_back({absl::StrCat(m.candidate_id()),
                        absl::StrFormat("%.4f", m.metrics().val_accuracy()),
                        absl::StrFormat("%.3f ms", pm.latency_ms()),
                        Short(nas::v1::LatencySource_Name(pm.latency_source())),
                        Bytes(pm.peak_activation_bytes()), Bytes(pm.model_bytes()),
                        absl::StrCat(m.metrics().params()), Describe(m.architecture())});
      }
      PrintTable(rows);
      std::cout << "\n";
    }
    if (!absl::GetFlag(FLAGS_plot).empty()) Plot(search, fronts, absl::GetFlag(FLAGS_plot));
    return 0;
  }

  int Candidates(int64_t id) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::ListCandidatesRequest req;
    req.set_search_id(id);
    req.set_limit(absl::GetFlag(FLAGS_limit));
    if (!absl::GetFlag(FLAGS_state).empty()) {
      nas::v1::CandidateState state;
      if (!nas::v1::CandidateState_Parse(
              absl::StrCat("CANDIDATE_STATE_", absl::AsciiStrToUpper(absl::GetFlag(FLAGS_state))),
              &state)) {
        throw UsageError{absl::StrCat("unknown state \"", absl::GetFlag(FLAGS_state), "\"")};
      }
      req.set_state(state);
    }
    nas::v1::ListCandidatesResponse resp;
    Check(nas_->ListCandidates(&ctx, req, &resp));
    if (absl::GetFlag(FLAGS_json)) {
      for (const auto& c : resp.candidates()) std::cout << Json(c) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "STATE", "RUNG", "ACCURACY", "TEST ACC", "PARAMS", "MACS", "TRIES", "MODEL",
         "ARCHITECTURE"}};
    for (const auto& c : resp.candidates()) {
      const bool done = c.state() == nas::v1::CANDIDATE_STATE_EVALUATED;
      rows.push_back({absl::StrCat(c.id()), Short(nas::v1::CandidateState_Name(c.state())),
                      absl::StrCat(c.fidelity().rung()),
                      done ? absl::StrFormat("%.4f", c.metrics().val_accuracy()) : "-",
                      // Measured for finished models (full-fidelity training) only.
                      done && c.metrics().test_accuracy() >= 0
                          ? absl::StrFormat("%.4f", c.metrics().test_accuracy())
                          : "-",
                      done ? absl::StrCat(c.metrics().params()) : "-",
                      done ? absl::StrCat(c.metrics().macs()) : "-", absl::StrCat(c.attempts()),
                      c.has_artifact() ? "yes" : "no", Describe(c.architecture())});
    }
    PrintTable(rows);
    return 0;
  }

  int CandidateCmd(int64_t id) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::GetCandidateRequest req;
    req.set_candidate_id(id);
    nas::v1::Candidate c;
    Check(nas_->GetCandidate(&ctx, req, &c));
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << Json(c) << "\n";
      return 0;
    }
    std::string text;
    google::protobuf::TextFormat::PrintToString(c, &text);
    std::cout << text;
    return 0;
  }

  int Fetch(int64_t id) {
    grpc::ClientContext ctx;
    Prepare(&ctx, /*unary=*/false);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(id);
    auto reader = nas_->FetchModel(&ctx, req);
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
    Check(reader->Finish());
    const std::string sha = nas::Sha256Hex(data);
    if (sha != meta.sha256() || static_cast<int64_t>(data.size()) != meta.size_bytes()) {
      throw CallError{grpc::Status(grpc::StatusCode::DATA_LOSS,
                                   absl::StrCat("model of candidate ", id, " arrived corrupt: sha256 ",
                                                sha, ", expected ", meta.sha256()))};
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
      if (!f) throw UsageError{absl::StrCat("cannot write ", tmp)};
    }
    if (std::rename(tmp.c_str(), out.c_str()) != 0) {
      throw UsageError{absl::StrCat("cannot rename ", tmp, " to ", out)};
    }
    std::ofstream(out + ".json") << Json(meta) << "\n";
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << Json(meta) << "\n";
    } else {
      std::cout << "wrote " << out << " (" << Bytes(meta.size_bytes()) << ", sha256 " << sha
                << " verified) and " << out << ".json\n";
    }
    return 0;
  }

  int Profiles(const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "list";
    if (sub == "list") {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::ListHardwareProfilesResponse resp;
      Check(nas_->ListHardwareProfiles(&ctx, {}, &resp));
      if (absl::GetFlag(FLAGS_json)) {
        for (const auto& p : resp.profiles()) std::cout << Json(p) << "\n";
        return 0;
      }
      std::vector<std::vector<std::string>> rows = {
          {"ID", "KIND", "WEIGHTS", "LATENCY LIMIT", "MODEL LIMIT", "SRAM LIMIT", "OWNER",
           "DESCRIPTION"}};
      for (const auto& p : resp.profiles()) {
        const auto& l = p.limits();
        rows.push_back(
            {p.id(), absl::AsciiStrToLower(nas::v1::ProfileKind_Name(p.kind()).substr(13)),
             p.weight_type() == nas::v1::WEIGHT_TYPE_INT8 ? "int8" : "fp32",
             l.max_latency_ms() > 0 ? absl::StrFormat("%.1f ms", l.max_latency_ms()) : "-",
             l.max_model_bytes() > 0 ? Bytes(l.max_model_bytes()) : "-",
             l.max_peak_activation_bytes() > 0 ? Bytes(l.max_peak_activation_bytes()) : "-",
             p.owner().empty() ? "built-in" : p.owner(), p.description()});
      }
      PrintTable(rows);
      return 0;
    }
    if (sub == "get" && args.size() > 2) {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::GetHardwareProfileRequest req;
      req.set_profile_id(args[2]);
      nas::v1::HardwareProfile p;
      Check(nas_->GetHardwareProfile(&ctx, req, &p));
      std::string text;
      google::protobuf::TextFormat::PrintToString(p, &text);
      std::cout << (absl::GetFlag(FLAGS_json) ? Json(p) + "\n" : text);
      return 0;
    }
    const std::string lut = absl::GetFlag(FLAGS_lut);
    if (sub == "register" && (args.size() > 2 || !lut.empty())) {
      nas::v1::RegisterHardwareProfileRequest req;
      nas::v1::HardwareProfile* profile = req.mutable_profile();
      if (args.size() > 2) ParseFile(args[2], profile);
      if (!absl::GetFlag(FLAGS_name).empty()) profile->set_name(absl::GetFlag(FLAGS_name));
      if (!absl::GetFlag(FLAGS_device_tag).empty()) {
        profile->set_device_tag(absl::GetFlag(FLAGS_device_tag));
      }
      if (!lut.empty()) {
        // A table nas-profile wrote: the profile predicts latency from it.
        absl::StatusOr<nas::v1::LatencyTable> table = nas::ParseLatencyTable(ReadFileOrDie(lut));
        if (!table.ok()) throw UsageError{absl::StrCat(lut, ": ", table.status().message())};
        *profile->mutable_latency_table() = *std::move(table);
        profile->set_kind(nas::v1::PROFILE_KIND_LUT);
        if (profile->description().empty()) {
          profile->set_description(absl::StrCat("lookup table measured on ",
                                                profile->latency_table().device_description()));
        }
      }
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::HardwareProfile p;
      Check(nas_->RegisterHardwareProfile(&ctx, req, &p));
      std::cout << (absl::GetFlag(FLAGS_json) ? Json(p) : absl::StrCat("registered ", p.id()))
                << "\n";
      return 0;
    }
    throw UsageError{
        "usage: nasctl profiles [list] | get ID | register FILE | register --lut=TABLE --name=NAME "
        "[--device_tag=TAG]"};
  }

  int Users(const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "list";
    if (sub == "list") {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::ListUsersResponse resp;
      Check(admin_->ListUsers(&ctx, {}, &resp));
      std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ADMIN", "CREATED"}};
      for (const auto& u : resp.users()) {
        if (absl::GetFlag(FLAGS_json)) std::cout << Json(u) << "\n";
        rows.push_back({absl::StrCat(u.id()), u.name(), u.admin() ? "yes" : "no", u.created_at()});
      }
      if (!absl::GetFlag(FLAGS_json)) PrintTable(rows);
      return 0;
    }
    if (sub == "create" && args.size() > 2) {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::CreateUserRequest req;
      req.set_name(args[2]);
      req.set_admin(absl::GetFlag(FLAGS_admin));
      nas::v1::User u;
      Check(admin_->CreateUser(&ctx, req, &u));
      std::cout << (absl::GetFlag(FLAGS_json) ? Json(u) : absl::StrCat("created user ", u.name()))
                << "\n";
      return 0;
    }
    throw UsageError{"usage: nasctl users list | users create NAME [--admin]"};
  }

  int Tokens(const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "create") {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::CreateTokenRequest req;
      req.set_user_name(absl::GetFlag(FLAGS_user));
      req.set_label(absl::GetFlag(FLAGS_label));
      nas::v1::CreateTokenResponse resp;
      Check(admin_->CreateToken(&ctx, req, &resp));
      if (absl::GetFlag(FLAGS_json)) {
        std::cout << Json(resp) << "\n";
      } else {
        // The secret alone on stdout, so `NAS_TOKEN=$(nasctl tokens create)` works.
        std::cout << resp.token() << "\n";
        std::cerr << "token " << resp.token_id() << " for " << resp.user_name()
                  << " (shown once; store it now)\n";
      }
      return 0;
    }
    if (sub == "revoke") {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      nas::v1::RevokeTokenRequest req;
      req.set_token_id(IdArg(args, 2, "TOKEN_ID"));
      nas::v1::RevokeTokenResponse resp;
      Check(admin_->RevokeToken(&ctx, req, &resp));
      std::cout << "revoked token " << req.token_id() << "\n";
      return 0;
    }
    throw UsageError{"usage: nasctl tokens create [--user=NAME] [--label=..] | revoke TOKEN_ID"};
  }

  int WhoAmI() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    nas::v1::User u;
    Check(admin_->WhoAmI(&ctx, {}, &u));
    std::cout << (absl::GetFlag(FLAGS_json) ? Json(u)
                                            : absl::StrCat(u.name(), u.admin() ? " (admin)" : ""))
              << "\n";
    return 0;
  }

  int Health() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    Check(health->Check(&ctx, {}, &resp));
    const bool serving = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    std::cout << (serving ? "serving" : "not serving") << "\n";
    return serving ? 0 : 1;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nas::v1::NasService::Stub> nas_;
  std::unique_ptr<nas::v1::AdminService::Stub> admin_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  try {
    return Nasctl().Run(args);
  } catch (const UsageError& e) {
    std::cerr << "nasctl: " << e.message << "\n";
    return 2;
  } catch (const CallError& e) {
    std::cerr << "nasctl: "
              << absl::StatusCodeToString(static_cast<absl::StatusCode>(e.status.error_code()))
              << ": " << e.status.error_message() << "\n";
    return 1;
  }
}
