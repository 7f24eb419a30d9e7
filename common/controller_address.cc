#include "common/controller_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace nas {
namespace {

// The first IPv4 address of `host` (a literal is its own).
absl::StatusOr<std::string> Ipv4Of(const std::string& host) {
  in_addr literal;
  if (inet_pton(AF_INET, host.c_str(), &literal) == 1) return host;
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", host, "\" does not resolve to an IPv4 address: ", gai_strerror(rc)));
  }
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof(text));
  freeaddrinfo(found);
  return std::string(text);
}

}  // namespace

absl::StatusOr<std::string> ControllerTarget(absl::string_view addresses) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(addresses);
  if (trimmed.empty()) return absl::InvalidArgumentError("no controller address");
  // A gRPC target with its scheme, or a single address, is used as written.
  const bool has_scheme = absl::StartsWith(trimmed, "ipv4:") ||
                          absl::StartsWith(trimmed, "ipv6:") || absl::StartsWith(trimmed, "dns:") ||
                          absl::StartsWith(trimmed, "unix:");
  if (has_scheme || trimmed.find(',') == absl::string_view::npos) return std::string(trimmed);
  std::vector<std::string> resolved;
  for (absl::string_view entry : absl::StrSplit(trimmed, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(entry.substr(colon + 1), &port) ||
        port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("controller address \"", entry, "\": not HOST:PORT"));
    }
    const std::string host(entry.substr(0, colon));
    if (host.find(':') != std::string::npos || absl::StartsWith(host, "[")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "controller address \"", entry,
          "\": IPv6 in a list is not supported; name the replicas with one dns:/// name"));
    }
    absl::StatusOr<std::string> ip = Ipv4Of(host);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("controller address \"", entry, "\": ", ip.status().message()));
    }
    resolved.push_back(absl::StrCat(*ip, ":", port));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(resolved, ","));
}

}  // namespace nas
