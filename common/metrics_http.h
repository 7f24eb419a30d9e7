// The /metrics HTTP endpoint of a process (prometheus-cpp's Exposer), shared by the controller
// and the workers.
//
//   NAS_ASSIGN_OR_RETURN(int port, ServeMetrics("0.0.0.0:9100", {registry}, &exposer_));
#ifndef NAS_COMMON_METRICS_HTTP_H_
#define NAS_COMMON_METRICS_HTTP_H_

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nas {

// ServeMetrics() listens on `address` ("host:port", port 0 for any) and serves
// `collectables`; the exposer goes to `*exposer` (serving until it is destroyed). Returns the
// port it listens on; Unavailable naming the address when it cannot.
absl::StatusOr<int> ServeMetrics(
    const std::string& address,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables,
    std::unique_ptr<prometheus::Exposer>* exposer);

}  // namespace nas

#endif  // NAS_COMMON_METRICS_HTTP_H_
