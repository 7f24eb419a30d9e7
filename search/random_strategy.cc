#include "search/random_strategy.h"

#include <sstream>

#include "absl/strings/str_cat.h"

namespace nas {

RandomStrategy::RandomStrategy(SearchSpaceDef space, uint64_t seed)
    : space_(std::move(space)), rng_(seed) {}

std::vector<nas::v1::Architecture> RandomStrategy::Propose(int n) {
  std::vector<nas::v1::Architecture> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(SampleArchitecture(space_, rng_));
  return out;
}

std::string RandomStrategy::SaveState() const {
  // The standard defines the text form of an engine's state exactly, so it round-trips.
  std::ostringstream os;
  os << "random-v1 " << rng_;
  return os.str();
}

absl::Status RandomStrategy::RestoreState(absl::string_view state) {
  std::istringstream is{std::string(state)};
  std::string tag;
  is >> tag;
  if (tag != "random-v1") {
    return absl::InvalidArgumentError(
        absl::StrCat("random strategy state: unknown format \"", tag, "\""));
  }
  std::mt19937_64 rng;
  is >> rng;
  if (is.fail()) return absl::InvalidArgumentError("random strategy state: corrupt generator");
  rng_ = rng;
  return absl::OkStatus();
}

}  // namespace nas
