#include "search/pareto.h"

namespace nas {

bool Dominates(absl::Span<const double> a, absl::Span<const double> b) {
  bool strictly_better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) strictly_better = true;
  }
  return strictly_better;
}

std::vector<size_t> NonDominatedIndices(const std::vector<std::vector<double>>& points) {
  std::vector<size_t> front;
  for (size_t i = 0; i < points.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j) {
      dominated = j != i && Dominates(points[j], points[i]);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

bool ParetoArchive::Insert(int64_t id, std::vector<double> values, std::vector<int64_t>* removed) {
  for (const Member& m : members_) {
    if (Dominates(m.values, values)) return false;
  }
  // Compact in place: no allocation per accepted point (25,100 inserts in the ZDT benchmark).
  size_t kept = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (Dominates(values, members_[i].values)) {
      removed->push_back(members_[i].id);
    } else {
      if (kept != i) members_[kept] = std::move(members_[i]);
      ++kept;
    }
  }
  members_.resize(kept);
  members_.push_back({id, std::move(values)});
  return true;
}

}  // namespace nas
