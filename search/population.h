// What the evolutionary strategies remember of evaluated candidates, and its serialisation.
#ifndef NAS_SEARCH_POPULATION_H_
#define NAS_SEARCH_POPULATION_H_

#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/nsga2.h"
#include "search/strategy.h"

namespace nas {

struct Member {
  nas::v1::Architecture architecture;
  Ranked ranked;  // objectives in minimisation form, total violation
};

// ToMember(): an observation as a population member (infeasible ones carry their violation).
Member ToMember(const Observation& o);

// SavePopulation() writes a tag, the generator, counters and the members as one line of text
// per item, in a form LoadPopulation() reads back exactly (doubles round-trip bit for bit).
std::string SavePopulation(const std::string& tag, const std::mt19937_64& rng,
                           const std::vector<int64_t>& counters,
                           const std::vector<Member>& members);

struct LoadedPopulation {
  std::mt19937_64 rng;
  std::vector<int64_t> counters;
  std::vector<Member> members;
};

// LoadPopulation() reads what SavePopulation() wrote under `tag`; InvalidArgument when the tag
// differs or the text is corrupt.
absl::StatusOr<LoadedPopulation> LoadPopulation(const std::string& tag, absl::string_view text);

}  // namespace nas

#endif  // NAS_SEARCH_POPULATION_H_
