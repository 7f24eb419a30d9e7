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
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/client.h"
#include "cli/flags.h"
#include "cli/format.h"
#include "cli/nasctl.h"
#include "common/command_line.h"
#include "common/status_macros.h"

namespace nas::cli {
namespace {

constexpr char kUsage[] = R"(nasctl: the NAS service's command-line client.

Usage: nasctl COMMAND [ARGS] [flags]

  submit [--spec=FILE] [--dataset=..] [--space=..] [--strategy=nsga2] [--profiles=a,b]
         [--candidates=N] [--epochs=N] [--batch_size=N] [--optimizer=adamw] ...
         [--warm_start=SEARCH_ID] [--watch]
  list                         your searches
  get SEARCH_ID                one search
  watch SEARCH_ID              stream progress until the search ends
  cancel SEARCH_ID
  extend SEARCH_ID --add_candidates=N [--add_wall_seconds=S]
                               raise a search's budget; an ended search runs on
  resume SEARCH_ID             run a cancelled search on where it stopped
  pareto SEARCH_ID [--profile=ID]
  candidates SEARCH_ID [--state=evaluated]
  candidate CANDIDATE_ID
  fetch CANDIDATE_ID [--format=onnx-int8] [--profile=ID] [--out=FILE]
                               download a model (and its metadata, FILE.json) and check its
                               sha256
  profiles [list] | profiles get ID | profiles register FILE | profiles register --lut=TABLE --name=NAME
  users list | users create NAME [--admin]
  tokens create [--user=NAME] [--label=..] | tokens revoke TOKEN_ID
  whoami
  health                       is the controller serving?

Connection: --server (or $NAS_SERVER), --token (or $NAS_TOKEN, or --token_file).
Output: tables; --json for scripts. Exit 1 when a call fails, 2 on a usage error.)";

}  // namespace

absl::Status Nasctl::Run(const std::vector<std::string>& args) {
  NAS_RETURN_IF_ERROR(client_.status());
  if (args.empty()) return UsageError("no command given; see nasctl --help");
  const std::string& cmd = args[0];
  if (cmd == "submit") return Submit();
  if (cmd == "list") return List();
  if (cmd == "profiles") return Profiles(args);
  if (cmd == "users") return Users(args);
  if (cmd == "tokens") return Tokens(args);
  if (cmd == "whoami") return WhoAmI();
  if (cmd == "health") return Health();
  const bool on_search = cmd == "get" || cmd == "watch" || cmd == "cancel" || cmd == "extend" ||
                         cmd == "resume" || cmd == "pareto" || cmd == "candidates";
  const bool on_candidate = cmd == "candidate" || cmd == "fetch";
  if (!on_search && !on_candidate) {
    return UsageError(absl::StrCat("unknown command \"", cmd, "\"; see nasctl --help"));
  }
  NAS_ASSIGN_OR_RETURN(const int64_t id, IdArg(args, 1, on_search ? "SEARCH_ID" : "CANDIDATE_ID"));
  if (cmd == "get") return Get(id);
  if (cmd == "watch") return Watch(id);
  if (cmd == "cancel") return Cancel(id);
  if (cmd == "extend") return Extend(id, /*resume=*/false);
  if (cmd == "resume") return Extend(id, /*resume=*/true);
  if (cmd == "pareto") return Pareto(id);
  if (cmd == "candidates") return Candidates(id);
  if (cmd == "candidate") return CandidateCmd(id);
  return Fetch(id);
}

}  // namespace nas::cli

int main(int argc, char** argv) {
  std::vector<char*> positional =
      nas::ParseCommandLineOrExit(argc, argv, nas::cli::kUsage, {"cli/"});
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  nas::cli::Nasctl nasctl;
  const absl::Status st = nasctl.Run(args);
  if (nas::cli::IsUsageError(st)) {
    std::cerr << "nasctl: " << st.message() << "\n";
    return 2;
  }
  if (!st.ok()) {
    std::cerr << "nasctl: " << absl::StatusCodeToString(st.code()) << ": " << st.message() << "\n";
    return 1;
  }
  return nasctl.exit_code();
}
