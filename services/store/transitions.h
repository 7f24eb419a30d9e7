// The state changes several of the store's aggregates share: queueing a candidate, counting a
// finished one against the budget, ending a search, and the lease fence. Each runs inside the
// caller's transaction, which holds the search row's lock where it says so. Internal to
// services/store.
#ifndef NAS_SERVICES_STORE_TRANSITIONS_H_
#define NAS_SERVICES_STORE_TRANSITIONS_H_

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/lifecycle.h"
#include "proto/nas.pb.h"
#include "services/store/search_profiles.h"

namespace nas {

// InsertCandidate() queues a candidate at `fidelity`'s rung unless the search already has it
// there. Returns whether it was new.
bool InsertCandidate(pqxx::work& tx, int64_t search_id, const nas::v1::Architecture& arch,
                     const nas::v1::Fidelity& fidelity);

// A search's budget counters after a transition, and its evaluations per rung ("3, 1").
struct Counted {
  engine::Budget budget;
  std::string evaluated_per_rung;
  std::string search_phase_end;  // set once final training started
};

// CountFinal() counts `n` more of a search's candidates in final state `to` (EVALUATED,
// FAILED), raises its best accuracy to `accuracy`, and returns the counters. The caller holds
// the search row's lock.
Counted CountFinal(pqxx::work& tx, int64_t search_id, absl::string_view to, int n = 1,
                   double accuracy = 0);

// CancelOutstanding() cancels a search's queued and leased candidates (all, or all but final
// training's finalists) and revokes their live leases; returns how many it cancelled.
int CancelOutstanding(pqxx::work& tx, int64_t search_id, bool keep_finalists);

// EndSearch() ends a running search: queued candidates are cancelled, live leases revoked.
void EndSearch(pqxx::work& tx, int64_t search_id, const engine::SearchEnd& end);

// EndIfBudgetSpent() ends the (locked, running) search when engine::EndIfBudgetSpent() says
// so. Returns whether it ended.
bool EndIfBudgetSpent(pqxx::work& tx, int64_t search_id, const Counted& counted);

// ReuseEarlierTraining() stores, for the queued candidate `candidate_id` of a search, the
// evaluation and files of the same network trained alike (dataset, recipe and fidelity, but
// for the seed) in an earlier search of the same owner, if there is one: as if reported (its
// cost on every profile, the fronts, the budget), under no lease, naming the candidate that
// trained it. Used for reference networks and warm-start seeds; `role` names the candidate in
// the event ("the reference"). Returns whether it found one. (results.cc)
bool ReuseEarlierTraining(pqxx::work& tx, SearchProfileCache& profiles, int64_t search_id,
                          const SearchSpec& spec, int64_t candidate_id,
                          const nas::v1::Architecture& architecture,
                          const nas::v1::Fidelity& fidelity, absl::string_view role);

// The search's reference network as queued at `rung` (its training in the search phase, or its
// finalist one rung up): the candidate's id and state.
struct ReferenceRow {
  int64_t candidate_id = 0;
  std::string state;
};
// FindReference() returns it, or nothing when the search has no reference or none at `rung`.
std::optional<ReferenceRow> FindReference(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                                          int rung);

// LeaseNotLive() explains why a lease cannot be used: NotFound, PermissionDenied (another
// worker's), or FailedPrecondition naming its state, with the reason ErrorReason::kLeaseFenced
// (common/error_reason.h) so that no other FailedPrecondition is mistaken for a fence.
absl::Status LeaseNotLive(pqxx::work& tx, int64_t worker_id, int64_t lease_id);

// LockLiveLease() locks and checks a live lease (search row first, then the lease: the store's
// lock order). Returns {candidate_id, search_id}.
absl::StatusOr<std::pair<int64_t, int64_t>> LockLiveLease(pqxx::work& tx, int64_t worker_id,
                                                          int64_t lease_id);

}  // namespace nas

#endif  // NAS_SERVICES_STORE_TRANSITIONS_H_
