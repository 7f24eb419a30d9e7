// ConstrainedStrategy: a wrapper that keeps any strategy from queueing architectures certain to
// be infeasible, so no worker spends time training them.
//
//   absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeSearchStrategy(spec, profiles);
//
// An architecture's parameters, MACs and peak activation memory are known before training
// (search/cost_model.h). When they already break a limit or constraint on every profile of the
// search (search/hardware_profile.h, CertainlyInfeasible), it could never join any front: the
// wrapper drops it and asks the wrapped strategy again (up to 50 looks per proposal). Dropped
// proposals still pass through the DedupStrategy inside, which remembers them, so they are never
// proposed twice. Candidates that turn out infeasible after training (accuracy, measured latency)
// are kept and marked, as everywhere else; NSGA-II's constrained domination ranks them.
#ifndef NAS_SEARCH_CONSTRAINED_STRATEGY_H_
#define NAS_SEARCH_CONSTRAINED_STRATEGY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/strategy.h"

namespace nas {

class ConstrainedStrategy final : public SearchStrategy {
 public:
  // Returns true for an architecture that must not be queued.
  using Filter = std::function<bool(const nas::v1::Architecture&)>;

  // `attempts`: how many proposals of the wrapped strategy to look at, per proposal asked
  // for, before returning fewer (a tight device can reject most of a space).
  ConstrainedStrategy(std::unique_ptr<SearchStrategy> inner, Filter drop, int attempts = 50)
      : inner_(std::move(inner)), drop_(std::move(drop)), attempts_(attempts) {}

  std::vector<nas::v1::Architecture> Propose(int n) override;
  void Observe(absl::Span<const Observation> results) override;
  // The wrapped strategy's state: the wrapper keeps nothing Propose() depends on.
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view state) override;
  void Remember(absl::Span<const std::string> architecture_hashes) override {
    inner_->Remember(architecture_hashes);
  }

  // How many proposals this object dropped (not saved: a count for logs and tests).
  int64_t dropped() const { return dropped_; }

 private:
  std::unique_ptr<SearchStrategy> inner_;
  const Filter drop_;
  const int attempts_;
  int64_t dropped_ = 0;
};

// InfeasibleEverywhere() returns a filter that drops an architecture certain to be infeasible
// on every one of `profiles` under `spec`'s constraints, its costs computed for the spec's
// dataset (search/cost_model.h, InputShapeFor). Null when some profile has no limit, and the
// search no constraint, on a cost known before training: then nothing can be dropped.
ConstrainedStrategy::Filter InfeasibleEverywhere(
    const nas::v1::SearchSpec& spec, const std::vector<nas::v1::HardwareProfile>& profiles);

// MakeSearchStrategy() builds what the controller runs for a search: MakeStrategy() over the
// spec's space, measuring hypervolume from the first profile's reference (the profile whose
// results strategies observe), wrapped in a ConstrainedStrategy when InfeasibleEverywhere() has a
// filter.
absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(
    const nas::v1::SearchSpec& spec, const std::vector<nas::v1::HardwareProfile>& profiles);

}  // namespace nas

#endif  // NAS_SEARCH_CONSTRAINED_STRATEGY_H_
