// ControllerTarget(): the gRPC target for one controller or several replicas of it, from what a
// user writes in nas-trainer --controller, nasctl --server or $NAS_SERVER.
//
//   "127.0.0.1:50051"                  one controller, as is
//   "dns:///nas-controller:50051"      every address the name resolves to (Kubernetes' headless
//                                      Service), as is: gRPC re-resolves it
//   "10.0.0.5:50051,10.0.0.6:50051"    several replicas: "ipv4:10.0.0.5:50051,10.0.0.6:50051"
//   "ctl-a:50051,ctl-b:50051"          names resolved once, here, to their first IPv4 address
//
// Clients connect with the round_robin load-balancing policy, so calls spread over the replicas
// that answer and a dead one is skipped (docs/scaling.md: several controllers on one database).
#ifndef NAS_COMMON_CONTROLLER_ADDRESS_H_
#define NAS_COMMON_CONTROLLER_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nas {

// ControllerTarget() returns the target; InvalidArgument naming the entry when one has no
// port, an IPv6 literal sits in a list (use a dns:/// name), or a name does not resolve.
absl::StatusOr<std::string> ControllerTarget(absl::string_view addresses);

}  // namespace nas

#endif  // NAS_COMMON_CONTROLLER_ADDRESS_H_
