// Exact hypervolume of a set of points in minimisation form, for 1, 2 and 3 objectives.
//
//   double hv = Hypervolume({{0.1, 2.0}, {0.5, 1.0}}, /*reference=*/{1.0, 3.0});   // 1.2
//
// The hypervolume is the measure of the region dominated by the points and bounded by the
// reference point (Zitzler & Thiele 1998): larger is better. Points that do not strictly
// dominate the reference in every objective add nothing. Dominated and duplicate points are
// allowed and add nothing either. Two objectives: a staircase of the non-dominated points,
// O(n log n). Three: a sweep over the third objective keeping the staircase of the points
// below, O(n^2) worst case. Exact, no sampling.
#ifndef NAS_SEARCH_HYPERVOLUME_H_
#define NAS_SEARCH_HYPERVOLUME_H_

#include <vector>

#include "absl/status/statusor.h"

namespace nas {

// Hypervolume() for points of 1 to 3 objectives. InvalidArgument for another number of
// objectives, or when a point's size differs from the reference's.
absl::StatusOr<double> Hypervolume(const std::vector<std::vector<double>>& points,
                                   const std::vector<double>& reference);

}  // namespace nas

#endif  // NAS_SEARCH_HYPERVOLUME_H_
