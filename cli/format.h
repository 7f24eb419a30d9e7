// How nasctl reads its arguments and prints what it gets: ids, spec files, metric names,
// aligned tables, sizes, architectures, JSON.
#ifndef NAS_CLI_FORMAT_H_
#define NAS_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "common/enum_names.h"
#include "google/protobuf/message.h"
#include "proto/nas.pb.h"
#include "proto/nas_service.pb.h"

namespace nas::cli {

// IdArg() reads args[i] as a positive id; a usage error naming `what` otherwise.
absl::StatusOr<int64_t> IdArg(const std::vector<std::string>& args, size_t i, const char* what);

// ParseFile() reads a message from a .json file, or a text proto otherwise.
absl::Status ParseFile(const std::string& path, google::protobuf::Message* message);

// ParseMetric() reads a metric by its registry name or alias (search/objectives.h).
absl::StatusOr<nas::v1::Metric> ParseMetric(absl::string_view name);

// ParseConstraint() reads one bound: "accuracy>=0.9" (accuracy is a floor), "params<=500000",
// "accuracy_drop<=1" (every other metric a ceiling).
absl::StatusOr<nas::v1::Constraint> ParseConstraint(absl::string_view text);

// Json() prints a message as one line of JSON with the proto's field names.
std::string Json(const google::protobuf::Message& m);

// Short() is an enum value as nasctl prints it: SEARCH_STATE_RUNNING -> running.
template <typename Enum>
std::string Short(Enum value) {
  return absl::AsciiStrToLower(ShortEnumName(value));
}

// PrintTable() prints rows as an aligned table on stdout.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// Describe() is an architecture in one line: "mobilenetv2 r28 [16:k3e1 | 24:k5e3,k3e3+se]".
std::string Describe(const nas::v1::Architecture& a);

// VsReference() is how a candidate compares with its search's reference network, for tables:
// "reference", "21.3x smaller, 6.1x fewer MACs, -0.7 points" (parameters; test accuracy where
// both have one, else validation), or "-" when not compared (yet).
std::string VsReference(const nas::v1::ReferenceComparison& vs, bool is_reference);

// FinalistCell() is a front member's finalist (final training), for tables: "41: test 0.9012,
// int8 0.8997" once trained, "41 leased" before, "-" when it has none.
std::string FinalistCell(const nas::v1::Finalist& f);

// PrintSearch() prints a search as a table (or JSON with --json).
void PrintSearch(const nas::v1::Search& s);

}  // namespace nas::cli

#endif  // NAS_CLI_FORMAT_H_
