#include "search/rank_correlation.h"

#include <cstddef>
#include <cstdint>

namespace nas {

double KendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2 || b.size() != n) return 0;
  int64_t concordant = 0, discordant = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double sign = (a[i] - a[j]) * (b[i] - b[j]);
      concordant += sign > 0;
      discordant += sign < 0;
    }
  }
  return static_cast<double>(concordant - discordant) / (static_cast<double>(n) * (n - 1) / 2);
}

}  // namespace nas
