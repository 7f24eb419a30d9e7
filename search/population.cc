#include "search/population.h"

#include <cstring>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace nas {
namespace {

// Doubles as the hex of their bits: exact, and no locale or precision to get wrong.
std::string Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return absl::StrCat(absl::Hex(b));
}

bool FromBits(const std::string& s, double* v) {
  uint64_t b;
  if (!absl::SimpleHexAtoi(s, &b)) return false;
  std::memcpy(v, &b, sizeof b);
  return true;
}

}  // namespace

Member ToMember(const Observation& o) {
  Member m;
  m.architecture = o.architecture;
  m.ranked.objectives = o.objectives;
  m.ranked.violation = o.feasible ? 0 : std::max(o.violation, 1.0);
  return m;
}

std::string SavePopulation(const std::string& tag, const std::mt19937_64& rng,
                           const std::vector<int64_t>& counters,
                           const std::vector<Member>& members) {
  std::ostringstream os;
  os << tag << "\n" << rng << "\n" << counters.size();
  for (int64_t c : counters) os << " " << c;
  os << "\n" << members.size() << "\n";
  for (const Member& m : members) {
    os << absl::Base64Escape(m.architecture.SerializeAsString()) << " " << Bits(m.ranked.violation)
       << " " << m.ranked.objectives.size();
    for (double v : m.ranked.objectives) os << " " << Bits(v);
    os << "\n";
  }
  return os.str();
}

absl::StatusOr<LoadedPopulation> LoadPopulation(const std::string& tag, absl::string_view text) {
  std::istringstream is{std::string(text)};
  std::string got;
  is >> got;
  if (got != tag) {
    return absl::InvalidArgumentError(
        absl::StrCat(tag, " state: unknown format \"", got.substr(0, 40), "\""));
  }
  auto corrupt = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(tag, " state: corrupt ", what));
  };
  LoadedPopulation p;
  size_t n = 0;
  is >> p.rng >> n;
  if (is.fail() || n > 64) return corrupt("header");
  p.counters.resize(n);
  for (int64_t& c : p.counters) is >> c;
  is >> n;
  if (is.fail()) return corrupt("counters");
  for (size_t i = 0; i < n; ++i) {
    std::string arch64, violation, decoded;
    size_t k = 0;
    is >> arch64 >> violation >> k;
    Member m;
    if (is.fail() || k > 16 || !absl::Base64Unescape(arch64, &decoded) ||
        !m.architecture.ParseFromString(decoded) || !FromBits(violation, &m.ranked.violation)) {
      return corrupt(absl::StrCat("member ", i));
    }
    m.ranked.objectives.resize(k);
    for (double& v : m.ranked.objectives) {
      std::string bits;
      is >> bits;
      if (!FromBits(bits, &v)) return corrupt(absl::StrCat("member ", i));
    }
    p.members.push_back(std::move(m));
  }
  return p;
}

std::string PopulationStrategy::SaveState() const {
  return SavePopulation(tag_, rng_, {random_proposed_}, members_);
}

absl::Status PopulationStrategy::RestoreState(absl::string_view state) {
  absl::StatusOr<LoadedPopulation> p = LoadPopulation(tag_, state);
  if (!p.ok()) return p.status();
  if (p->counters.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(tag_, " state: corrupt counters"));
  }
  rng_ = p->rng;
  random_proposed_ = p->counters[0];
  members_ = std::move(p->members);
  return absl::OkStatus();
}

}  // namespace nas
