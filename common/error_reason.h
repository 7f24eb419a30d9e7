// The machine-readable reason beside an error's status code (proto/errors.proto): set where a
// failure is decided (the store), read where it is handled (the controller's counters, the
// worker), and carried between them in gRPC's status details.
#ifndef NAS_COMMON_ERROR_REASON_H_
#define NAS_COMMON_ERROR_REASON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace nas {

enum class ErrorReason {
  kNone,               // no reason given: the code and message say all there is
  kLeaseFenced,        // LEASE_FENCED: the named lease is no longer live
  kWorkerQuarantined,  // WORKER_QUARANTINED: the worker may not lease work for now
};

// The reason's name on the wire ("LEASE_FENCED"); "" for kNone.
absl::string_view ErrorReasonName(ErrorReason reason);

// WithReason() returns `status` (not OK) carrying `reason`.
absl::Status WithReason(absl::Status status, ErrorReason reason);

// ReasonOf() is the reason `status` carries, kNone if none (or an unknown one).
ErrorReason ReasonOf(const absl::Status& status);

// StatusDetails() is `status` as gRPC status details (a serialized RpcStatus with its reason
// as an ErrorInfo), or "" when it carries no reason.
std::string StatusDetails(const absl::Status& status);

// ReasonOfDetails() reads the reason back from gRPC status details (what StatusDetails()
// wrote, or any google.rpc.Status); kNone for "", garbage or another domain's reason.
ErrorReason ReasonOfDetails(absl::string_view details);

}  // namespace nas

#endif  // NAS_COMMON_ERROR_REASON_H_
