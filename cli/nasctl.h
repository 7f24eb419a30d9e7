// Nasctl: nasctl's commands, one method each, returning absl::Status like the rest of the
// code (a usage error from cli/client.h exits 2, a failed call 1). Grouped by what they touch:
// searches.cc (submit, list, get, watch, cancel), results.cc (pareto, candidates, candidate,
// fetch), admin.cc (profiles, users, tokens, whoami, health).
#ifndef NAS_CLI_NASCTL_H_
#define NAS_CLI_NASCTL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/client.h"
#include "proto/nas_service.pb.h"

namespace nas::cli {

class Nasctl {
 public:
  // Nasctl::Run() runs the command in `args` ("pareto", "3").
  absl::Status Run(const std::vector<std::string>& args);
  // Nasctl::exit_code() is 1 when the command succeeded but its answer is a failure (a
  // watched search that failed, a controller not serving); 0 otherwise.
  int exit_code() const { return exit_code_; }

 private:
  // searches.cc
  absl::Status Submit();
  absl::Status List();
  absl::Status Get(int64_t id);
  absl::StatusOr<nas::v1::Search> FetchSearch(int64_t id);
  absl::Status Watch(int64_t id);
  absl::Status Cancel(int64_t id);
  // Nasctl::Extend() raises a search's budget (--add_candidates, --add_wall_seconds), or with
  // `resume` runs an ended search on with the budget it has.
  absl::Status Extend(int64_t id, bool resume);
  // results.cc
  absl::StatusOr<nas::v1::ParetoFront> FetchFront(int64_t id, const std::string& profile);
  absl::Status Pareto(int64_t id);
  absl::Status Plot(const nas::v1::Search& search, const std::vector<nas::v1::ParetoFront>& fronts,
                    const std::string& path);
  absl::Status Candidates(int64_t id);
  absl::Status CandidateCmd(int64_t id);
  absl::Status Fetch(int64_t id);
  // admin.cc
  absl::Status Profiles(const std::vector<std::string>& args);
  absl::Status Users(const std::vector<std::string>& args);
  absl::Status Tokens(const std::vector<std::string>& args);
  absl::Status WhoAmI();
  absl::Status Health();

  Client client_;
  int exit_code_ = 0;
};

}  // namespace nas::cli

#endif  // NAS_CLI_NASCTL_H_
