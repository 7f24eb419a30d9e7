#include "search/dedup_strategy.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace nas {
namespace {
constexpr absl::string_view kHeader = "dedup-v2\n";
constexpr absl::string_view kHeaderV1 = "dedup-v1 ";
}  // namespace

std::vector<nas::v1::Architecture> DedupStrategy::Propose(int n) {
  return ProposeFiltered(*inner_, n, attempts_, [this](const nas::v1::Architecture& a) {
    return seen_.insert(ArchitectureHash(a)).second;
  });
}

void DedupStrategy::Observe(absl::Span<const Observation> results) {
  for (const Observation& o : results) seen_.insert(ArchitectureHash(o.architecture));
  inner_->Observe(results);
}

void DedupStrategy::Remember(absl::Span<const std::string> architecture_hashes) {
  seen_.insert(architecture_hashes.begin(), architecture_hashes.end());
}

std::string DedupStrategy::SaveState() const { return absl::StrCat(kHeader, inner_->SaveState()); }

absl::Status DedupStrategy::RestoreState(absl::string_view state) {
  if (absl::StartsWith(state, kHeader)) {
    state.remove_prefix(kHeader.size());
    NAS_RETURN_IF_ERROR(inner_->RestoreState(state));
    seen_.clear();
    return absl::OkStatus();
  }
  if (!absl::StartsWith(state, kHeaderV1)) {
    seen_.clear();
    return inner_->RestoreState(state);
  }
  // "dedup-v1 <count>\n", one CanonicalKey a line, then the inner state.
  state.remove_prefix(kHeaderV1.size());
  const size_t eol = state.find('\n');
  size_t count = 0;
  if (eol == absl::string_view::npos || !absl::SimpleAtoi(state.substr(0, eol), &count)) {
    return absl::InvalidArgumentError("dedup-v1 state: corrupt header");
  }
  state.remove_prefix(eol + 1);
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < count; ++i) {
    const size_t end = state.find('\n');
    if (end == absl::string_view::npos)
      return absl::InvalidArgumentError("dedup-v1 state: truncated");
    seen.insert(Sha256Hex(state.substr(0, end)));
    state.remove_prefix(end + 1);
  }
  NAS_RETURN_IF_ERROR(inner_->RestoreState(state));
  seen_ = std::move(seen);
  return absl::OkStatus();
}

}  // namespace nas
