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

// PopulationStrategy: what the evolutionary strategies share. Their first `population`
// proposals are uniform samples (RandomStart()); then subclasses breed from members_. The whole
// state (generator, counters, members) is saved and restored exactly under the subclass's tag.
class PopulationStrategy : public SearchStrategy {
 public:
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view state) override;

 protected:
  PopulationStrategy(std::string tag, SearchSpaceDef space, uint64_t seed, int population)
      : tag_(std::move(tag)), space_(std::move(space)), rng_(seed), population_(population) {}

  // True while the random start lasts (it then counts one more random proposal), or while
  // fewer than two members are known.
  bool RandomStart() {
    if (random_proposed_ < population_ || members_.size() < 2) {
      ++random_proposed_;
      return true;
    }
    return false;
  }

  const std::string tag_;
  const SearchSpaceDef space_;
  std::mt19937_64 rng_;
  const int population_;
  int64_t random_proposed_ = 0;
  std::vector<Member> members_;
};

}  // namespace nas

#endif  // NAS_SEARCH_POPULATION_H_
