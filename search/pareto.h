// Pareto dominance and an incrementally maintained Pareto front.
//
// Every objective vector is in minimisation form (negate what is maximised, e.g. accuracy):
//
//   ParetoArchive front;
//   std::vector<int64_t> removed;
//   front.Insert(/*id=*/7, {-0.91, 3.2}, &removed);   // true: 7 joined the front
//   front.Insert(/*id=*/8, {-0.90, 3.5}, &removed);   // false: 7 dominates it
//
// Points with equal vectors do not dominate each other, so both stay on the front, exactly as a
// brute-force front over the same points would keep them.
#ifndef NAS_SEARCH_PARETO_H_
#define NAS_SEARCH_PARETO_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace nas {

// Dominates() is true when `a` is no worse than `b` in every objective and better in one.
bool Dominates(absl::Span<const double> a, absl::Span<const double> b);

// NonDominatedIndices() returns the indices of the points no other point dominates, ascending.
// O(n^2); the reference the incremental archive is tested against.
std::vector<size_t> NonDominatedIndices(const std::vector<std::vector<double>>& points);

class ParetoArchive {
 public:
  struct Member {
    int64_t id;
    std::vector<double> values;
  };

  ParetoArchive() = default;
  explicit ParetoArchive(std::vector<Member> members) : members_(std::move(members)) {}

  // ParetoArchive::Insert() adds the point unless a member dominates it, and drops the members
  // it dominates (their ids are appended to `removed`). Returns whether the point joined.
  bool Insert(int64_t id, std::vector<double> values, std::vector<int64_t>* removed);

  const std::vector<Member>& members() const { return members_; }

 private:
  std::vector<Member> members_;
};

}  // namespace nas

#endif  // NAS_SEARCH_PARETO_H_
