#include "common/metrics_http.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nas {

absl::StatusOr<int> ServeMetrics(
    const std::string& address,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables,
    std::unique_ptr<prometheus::Exposer>* exposer) {
  try {
    *exposer = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address, ": ", e.what()));
  }
  for (const auto& c : collectables) (*exposer)->RegisterCollectable(c);
  const std::vector<int> ports = (*exposer)->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

}  // namespace nas
