// A search's lifecycle, as decisions over a read view: what to queue next (strategy proposals,
// successive-halving promotions, the next supernet epoch), which fronts change, and when the
// search ends. Pure C++ over search/: no database, no gRPC, no torch.
//
// The store reads a search through a SearchReader inside one transaction, asks PlanRefill()
// for a plan, and applies it in the same transaction, in its own lock order:
//
//   StrategyCache strategies;                    // one per controller
//   absl::StatusOr<RefillPlan> plan = PlanRefill(reader, strategies);
//   ... insert plan->promotions, plan->proposals, end the search if plan->end ...
//
// A report uses the same rules: OfferToFront() for each profile a finished model is feasible
// on, then EndIfBudgetSpent() on the search's counters.
#ifndef NAS_ENGINE_LIFECYCLE_H_
#define NAS_ENGINE_LIFECYCLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/strategy_cache.h"
#include "proto/nas.pb.h"
#include "search/pareto.h"
#include "search/successive_halving.h"

namespace nas::engine {

// A search's budget counters: the most evaluations it may spend (searches.target), and those
// finished so far.
struct Budget {
  int target = 0;
  int evaluated = 0;
  int failed = 0;
};

// How a running search ends (or, with final training, its search phase).
struct SearchEnd {
  std::string state;  // "SUCCEEDED" or "FAILED"
  std::string message;
};

// Final training (SearchSpec.final_training): once the search phase ends, the finalists
// (members of each front, and the reference) are trained again with the final recipe, one
// rung above the final rung, and the search ends when they are done.
bool HasFinalTraining(const nas::v1::SearchSpec& spec);
// The most finalists a search may train: finalists_per_profile x profiles, plus the reference.
int MaxFinalists(const nas::v1::SearchSpec& spec);
// A finalist's fidelity: FinalRung() + 1, final_training set, the recipe's own epochs and data.
nas::v1::Fidelity FinalTrainingFidelity(const nas::v1::SearchSpec& spec);
// The recipe a lease of `fidelity` carries: the search's, with final training's epochs and
// training examples for a finalist (so that the worker trains it as a finished model).
nas::v1::TrainingRecipe RecipeFor(const nas::v1::SearchSpec& spec,
                                  const nas::v1::Fidelity& fidelity);
// What the search phase's trainings took, for the finalists' estimate.
struct SearchPhaseTimes {
  double mean_train_seconds = 0;     // of the search's finished models (0: none yet)
  double slowest_train_seconds = 0;  // the longest of them (the reference, where there is one)
  int64_t train_examples = 0;        // the dataset's training split (0: no worker reported it)
};
// The wall-clock time the finalists are expected to take: the search phase's training times
// scaled to final training's epochs and examples (a whole-split final training against a
// subset searched on counts only once the dataset's size is known), the slowest model in one
// wave of its own or the finalists spread over max_parallel workers, whichever is longer, and
// a quarter more for evaluation, quantization and export. 0 before any model has trained.
double FinalTrainingReserveSeconds(const nas::v1::SearchSpec& spec, const SearchPhaseTimes& t);

// One member of a front, as final training chooses among them.
struct FrontEntry {
  int64_t candidate_id = 0;
  std::vector<double> objectives;  // minimisation form, the search's objectives' order
  nas::v1::Architecture architecture;
};
struct FrontView {
  std::string profile_id;
  std::vector<FrontEntry> members;
};
// A finalist to queue: a front member's architecture (from_candidate), or the reference's.
struct FinalistPlan {
  int64_t from_candidate = 0;
  bool reference = false;  // the reference network (chosen as such, or a member that is it)
  nas::v1::Architecture architecture;
};
// SelectFinalists(): per front (in the search's profile order) finalists_per_profile members
// evenly spread along the first objective, its best first (one finalist: the best on the
// first objective, most accurate by default); then the reference. The same architecture is
// chosen once. Returned in the order to queue them: most multiply-accumulates first (the
// longest training starts first; ties keep the selection order).
std::vector<FinalistPlan> SelectFinalists(const nas::v1::SearchSpec& spec,
                                          const std::vector<FrontView>& fronts);

// What a refill first reads of a search: its spec, state and queue.
struct QueueView {
  nas::v1::SearchSpec spec;
  bool running = false;
  bool overdue = false;  // past its wall-clock deadline
  Budget budget;
  int queued = 0;
  int outstanding = 0;    // queued or leased
  int architectures = 0;  // rung-0 candidates not cancelled: the strategy's proposals so far
  // evaluated_per_rung as text ("3, 1"), for the end-of-budget message; empty for one rung.
  std::string evaluated_per_rung;
  // Final training: finalists queued (not cancelled), those still queued or leased, and why
  // the search phase ended (empty before).
  int finalists = 0;
  int finalists_outstanding = 0;
  std::string search_phase_end;
  // Seconds to the wall-clock deadline (unset: none), and the search phase's training times
  // (read only for a final-training search with a deadline).
  std::optional<double> seconds_left;
  SearchPhaseTimes phase_times;

  // Candidates the search may lease at once beyond those outstanding (max_parallel).
  int Room() const;
  // New architectures the strategy may propose now: within the budget and the room.
  int Need() const;
};

// Where a weight-sharing search's supernet epochs stand (rung -1 candidates).
struct SupernetEpochs {
  int evaluated = 0;
  int outstanding = 0;
  std::optional<std::string> failure;  // set when an epoch failed for good: its error
};

// One result below the final rung of a multi-fidelity search, ranked on the first profile.
struct RungEntry {
  int64_t candidate_id = 0;
  int rung = 0;
  Ranked ranked;  // objectives in minimisation form, total violation
  nas::v1::Architecture architecture;
  std::string arch_hash;
};

// A multi-fidelity search's results below the final rung, and the architectures (hashes)
// already at each rung above 0 whatever became of them there (index = rung).
struct RungResults {
  std::vector<RungEntry> entries;
  std::vector<absl::flat_hash_set<std::string>> present;
};

// What the strategy needs: its saved state, and the results it has not observed yet.
struct StrategyView {
  std::string saved_state;       // empty before the first save
  int64_t generation = 0;        // save counter
  int dry_refills = 0;           // refills in a row that found nothing new with nothing outstanding
  int64_t observed_through = 0;  // newest evaluation id observed, after new_observations
  std::vector<Observation> new_observations;
  std::vector<nas::v1::HardwareProfile> profiles;  // in the search's order
};

// SearchReader: the engine's only way to read a search. The store implements it over one
// transaction; tests over plain structs. Each call reads at most once per refill.
class SearchReader {
 public:
  virtual ~SearchReader() = default;
  virtual int64_t search_id() const = 0;
  // The search and its queue; `lock` takes the search row's lock first (and reads after it).
  virtual absl::StatusOr<QueueView> Queue(bool lock) = 0;
  virtual absl::StatusOr<SupernetEpochs> Supernet() = 0;
  virtual absl::StatusOr<RungResults> Rungs(int final_rung) = 0;
  virtual absl::StatusOr<StrategyView> Strategy() = 0;
  // Every front of the search, in its profiles' order, members with their architectures.
  virtual absl::StatusOr<std::vector<FrontView>> Fronts() = 0;
  // The search's candidates with an id above `after_id`, as (id, ArchitectureHash), in id
  // order (StrategyRequest::candidates_after). Default: none (a reader over plain structs).
  virtual absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> CandidatesAfter(
      int64_t after_id) {
    return std::vector<std::pair<int64_t, std::string>>();
  }
};

// A candidate to queue at the next rung.
struct Promotion {
  int64_t from_candidate = 0;
  int from_rung = 0;
  nas::v1::Architecture architecture;
  nas::v1::Fidelity fidelity;  // the next rung's
};

// RefillPlan: what one refill does. Applied in this order: the supernet epoch, promotions,
// proposals, the strategy's state, then the end (which cancels whatever is still queued).
struct RefillPlan {
  std::optional<SearchEnd> end;
  // A supernet epoch to queue: the largest architecture at rung -1, fidelity.epochs = epoch.
  std::optional<nas::v1::Fidelity> supernet_epoch;
  nas::v1::Architecture supernet_architecture;
  std::string supernet_message;  // "supernet epoch 2 of 3 queued"
  std::vector<Promotion> promotions;
  // New architectures from the strategy, at `proposal_fidelity` (rung 0).
  std::vector<nas::v1::Architecture> proposals;
  nas::v1::Fidelity proposal_fidelity;
  // The strategy's state to save when it was asked (with the evaluation id it observed to).
  std::optional<std::string> strategy_state;
  int64_t observed_through = 0;
  // The dry-refill counter to save, given how many candidates the store could insert (a
  // proposal already in the search is not inserted); and the end when that exhausts the space.
  int previous_dry_refills = 0;
  bool nothing_outstanding = false;
  int architectures = 0;

  // Final training starts: the finalists to queue (at FinalTrainingFidelity()), and why the
  // search phase ended.
  std::vector<FinalistPlan> finalists;
  std::string search_phase_end;

  int DryRefills(int inserted) const;
  std::optional<SearchEnd> ExhaustedEnd(int inserted) const;
};

// A space smaller than the budget runs dry: after this many refills in a row that found
// nothing new while nothing was outstanding, the search has seen all it can.
inline constexpr int kDryRefillsToExhaust = 20;

// Rungs() returns a search's training fidelities, lowest rung first: a weight-sharing search's
// estimate and fine-tune rungs, the successive-halving rungs of a multi-fidelity search, else
// the recipe alone. (A weight-sharing search's supernet epochs are rung -1, outside these.)
std::vector<nas::v1::Fidelity> Rungs(const nas::v1::SearchSpec& spec);

// FinalRung() is the rung whose results are finished models: the only one that enters fronts.
int FinalRung(const nas::v1::SearchSpec& spec);

// SearchPhaseTarget() is the most evaluations the search phase may spend: max_candidates,
// and for a multi-fidelity search every promotion successive halving could add, and its
// reference's evaluation.
int SearchPhaseTarget(const nas::v1::SearchSpec& spec);
// ReferenceFidelity() is where a search trains its reference network: the recipe, at the
// final rung (a multi-fidelity search's reference skips the lower rungs; it is one of the
// budget's candidates only in a single-fidelity search).
nas::v1::Fidelity ReferenceFidelity(const nas::v1::SearchSpec& spec);
// EvaluationTarget() is the most evaluations a search's budget allows (searches.target at
// submission): the search phase's and MaxFinalists(). When final training starts the store
// lowers the target to the evaluations done and the finalists queued.
int EvaluationTarget(const nas::v1::SearchSpec& spec);

// ObjectiveVector() returns a result's objectives on one profile, in minimisation form.
std::vector<double> ObjectiveVector(const nas::v1::SearchSpec& spec,
                                    const nas::v1::CandidateMetrics& metrics,
                                    const nas::v1::ProfileMetrics& on_profile);

// WorthLocking() is false when a refill, judged from an unlocked read, has nothing to do: the
// queue is full enough (refills come in batches of a quarter of max_parallel).
bool WorthLocking(const QueueView& view);

// EndIfBudgetSpent() ends a search whose evaluated and failed candidates reach its target;
// `search_phase_end`, set once final training started, opens the message.
std::optional<SearchEnd> EndIfBudgetSpent(const Budget& budget,
                                          absl::string_view evaluated_per_rung,
                                          absl::string_view search_phase_end = "");
SearchEnd BudgetSpent(const Budget& budget, absl::string_view evaluated_per_rung);
// FinalTrainingDone() ends a search whose finalists are all done (or cancelled).
SearchEnd FinalTrainingDone(const Budget& budget, absl::string_view search_phase_end);
// SearchPhaseOver(): why a final-training search's search phase is over (its budget of
// evaluations spent, or the deadline nearer than the finalists' estimated time), if it is.
std::optional<SearchEnd> SearchPhaseOver(const QueueView& view);
// ConcludeSearchPhase(): the search phase ends for `reason`. Without final training, or with
// no front member to train, the search ends (plan->end); otherwise plan->finalists and
// plan->search_phase_end say what final training queues.
absl::Status ConcludeSearchPhase(SearchReader& reader, const nas::v1::SearchSpec& spec,
                                 SearchEnd reason, RefillPlan* plan);
// Overdue() ends a search past its wall-clock deadline.
SearchEnd Overdue();

// SupernetStep: what a weight-sharing search's supernet needs next.
struct SupernetStep {
  bool ready = false;            // trained (or another search's reused): subnets may be estimated
  std::optional<SearchEnd> end;  // an epoch failed for good
  std::optional<nas::v1::Fidelity> queue;  // queue this epoch (rung -1)
  std::string message;
};

// NextSupernetStep(): ready once the last epoch is evaluated, or at once when the search
// reuses another's supernet; an epoch out of attempts fails the search; otherwise the next
// epoch when none is outstanding (a lost worker's epoch is retried from the last checkpoint).
absl::StatusOr<SupernetStep> NextSupernetStep(const nas::v1::SearchSpec& spec,
                                              const SupernetEpochs& epochs);

// PlanPromotions() returns what successive halving promotes, highest rung first (nearest to a
// finished model), at most `room`, never an architecture already at the next rung.
std::vector<Promotion> PlanPromotions(const nas::v1::SearchSpec& spec,
                                      const std::vector<nas::v1::Fidelity>& rungs,
                                      const RungResults& results, int room);

// PlanRefill() decides one refill of the search `reader` reads: end it (deadline, budget,
// supernet failure, nothing left to try), or what to queue. Reads lazily: a search whose
// queue is full enough costs one unlocked read.
absl::StatusOr<RefillPlan> PlanRefill(SearchReader& reader, StrategyCache& strategies);

// FrontChange: what offering a finished model to one profile's front did.
struct FrontChange {
  bool joined = false;
  std::vector<int64_t> removed;                  // members it displaced
  std::vector<double> objectives;                // its point, minimisation form
  size_t members = 0;                            // the front's size after
  std::optional<double> hypervolume;             // raw (search/hypervolume.h)
  std::optional<double> normalized_hypervolume;  // share of its box (NormalizedHypervolume)
  // "candidate 7 joined the rpi4 front (3 members, 1 displaced; hypervolume 0.4200)", the
  // hypervolume normalised.
  std::string Describe(int64_t candidate_id, absl::string_view profile_name) const;
};

// OfferToFront() offers a feasible finished candidate to the front whose members are
// `members` (the whole current front: the caller serialises reports of one search).
FrontChange OfferToFront(const nas::v1::SearchSpec& spec, const nas::v1::HardwareProfile& profile,
                         int64_t candidate_id, const nas::v1::CandidateMetrics& metrics,
                         const nas::v1::ProfileMetrics& on_profile,
                         std::vector<ParetoArchive::Member> members);

}  // namespace nas::engine

#endif  // NAS_ENGINE_LIFECYCLE_H_
