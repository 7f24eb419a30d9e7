#include "common/error_reason.h"

#include <utility>

#include "absl/strings/cord.h"
#include "proto/errors.pb.h"

namespace nas {
namespace {

// The type URL of google.rpc.ErrorInfo, which nas.v1.ErrorInfo mirrors field for field: the
// payload's key in an absl::Status and the detail's type in the wire status.
constexpr absl::string_view kErrorInfoUrl = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr absl::string_view kDomain = "nas.v1";

constexpr ErrorReason kReasons[] = {ErrorReason::kLeaseFenced, ErrorReason::kWorkerQuarantined};

ErrorReason FromInfo(const nas::v1::ErrorInfo& info) {
  if (info.domain() != kDomain) return ErrorReason::kNone;
  for (ErrorReason r : kReasons) {
    if (info.reason() == ErrorReasonName(r)) return r;
  }
  return ErrorReason::kNone;
}

}  // namespace

absl::string_view ErrorReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kNone:
      return "";
    case ErrorReason::kLeaseFenced:
      return "LEASE_FENCED";
    case ErrorReason::kWorkerQuarantined:
      return "WORKER_QUARANTINED";
  }
  return "";
}

absl::Status WithReason(absl::Status status, ErrorReason reason) {
  if (status.ok() || reason == ErrorReason::kNone) return status;
  nas::v1::ErrorInfo info;
  info.set_reason(std::string(ErrorReasonName(reason)));
  info.set_domain(std::string(kDomain));
  status.SetPayload(kErrorInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

ErrorReason ReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kErrorInfoUrl);  // absl::optional<absl::Cord>
  nas::v1::ErrorInfo info;
  if (!payload.has_value() || !info.ParseFromString(std::string(*payload))) {
    return ErrorReason::kNone;
  }
  return FromInfo(info);
}

std::string StatusDetails(const absl::Status& status) {
  const ErrorReason reason = ReasonOf(status);
  if (reason == ErrorReason::kNone) return "";
  nas::v1::RpcStatus wire;
  wire.set_code(static_cast<int>(status.code()));
  wire.set_message(std::string(status.message()));
  nas::v1::AnyDetail* detail = wire.add_details();
  detail->set_type_url(std::string(kErrorInfoUrl));
  detail->set_value(std::string(*status.GetPayload(kErrorInfoUrl)));
  return wire.SerializeAsString();
}

ErrorReason ReasonOfDetails(absl::string_view details) {
  nas::v1::RpcStatus wire;
  if (details.empty() || !wire.ParseFromArray(details.data(), static_cast<int>(details.size()))) {
    return ErrorReason::kNone;
  }
  for (const nas::v1::AnyDetail& d : wire.details()) {
    nas::v1::ErrorInfo info;
    if (d.type_url() == kErrorInfoUrl && info.ParseFromString(d.value())) {
      const ErrorReason reason = FromInfo(info);
      if (reason != ErrorReason::kNone) return reason;
    }
  }
  return ErrorReason::kNone;
}

}  // namespace nas
