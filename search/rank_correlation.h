// Rank agreement between two scorings of the same items.
//
//   double tau = KendallTau(measured, predicted);  // 1: same order, -1: reversed
#ifndef NAS_SEARCH_RANK_CORRELATION_H_
#define NAS_SEARCH_RANK_CORRELATION_H_

#include <vector>

namespace nas {

// KendallTau() returns Kendall's tau-a of `a` and `b` (equal sizes): concordant minus
// discordant pairs over all pairs; a pair tied in either scoring counts as neither. 0 for
// fewer than two items.
double KendallTau(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace nas

#endif  // NAS_SEARCH_RANK_CORRELATION_H_
