#include "search/dedup_strategy.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas {
namespace {
constexpr absl::string_view kHeader = "dedup-v1 ";
}  // namespace

std::vector<nas::v1::Architecture> DedupStrategy::Propose(int n) {
  return ProposeFiltered(*inner_, n, attempts_, [this](const nas::v1::Architecture& a) {
    std::string key = CanonicalKey(a);
    if (!seen_.insert(key).second) return false;
    order_.push_back(std::move(key));
    return true;
  });
}

void DedupStrategy::Observe(absl::Span<const Observation> results) {
  for (const Observation& o : results) {
    std::string key = CanonicalKey(o.architecture);
    if (seen_.insert(key).second) order_.push_back(std::move(key));
  }
  inner_->Observe(results);
}

std::string DedupStrategy::SaveState() const {
  // Keys never contain a newline: "dedup-v1 <count>\n", one key a line, then the inner state.
  std::string out = absl::StrCat(kHeader, order_.size(), "\n");
  for (const std::string& k : order_) absl::StrAppend(&out, k, "\n");
  absl::StrAppend(&out, inner_->SaveState());
  return out;
}

absl::Status DedupStrategy::RestoreState(absl::string_view state) {
  if (!absl::StartsWith(state, kHeader)) {
    seen_.clear();
    order_.clear();
    return inner_->RestoreState(state);
  }
  state.remove_prefix(kHeader.size());
  const size_t eol = state.find('\n');
  size_t count = 0;
  if (eol == absl::string_view::npos || !absl::SimpleAtoi(state.substr(0, eol), &count)) {
    return absl::InvalidArgumentError("dedup-v1 state: corrupt header");
  }
  state.remove_prefix(eol + 1);
  absl::flat_hash_set<std::string> seen;
  std::vector<std::string> order;
  for (size_t i = 0; i < count; ++i) {
    const size_t end = state.find('\n');
    if (end == absl::string_view::npos) return absl::InvalidArgumentError("dedup-v1 state: truncated");
    order.emplace_back(state.substr(0, end));
    seen.insert(order.back());
    state.remove_prefix(end + 1);
  }
  NAS_RETURN_IF_ERROR(inner_->RestoreState(state));
  seen_ = std::move(seen);
  order_ = std::move(order);
  return absl::OkStatus();
}

}  // namespace nas
