// Who may join a search's fronts, and the joining: a feasible finished candidate offered to a
// profile's front, and the accuracy-drop constraint judged against the search's reference
// (results that awaited the reference judged again once it has an outcome). Each runs in the
// caller's transaction, which holds the search row's lock. Internal to services/store.
//
//   FrontCache fronts;  // one per transaction
//   const DropReference ref = LoadDropReference(tx, search_id, spec, rung);
//   ProfileMetrics pm = EvaluateOnProfile(..., ref.On(profile.db_id));
//   if (pm.feasible()) JoinFront(tx, search_id, spec, profile, id, metrics, pm, fronts);
#ifndef NAS_SERVICES_STORE_FRONTS_H_
#define NAS_SERVICES_STORE_FRONTS_H_

#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <vector>

#include "proto/nas.pb.h"
#include "search/hardware_profile.h"
#include "search/pareto.h"
#include "services/store/search_profiles.h"

namespace nas {

// FrontCache: the fronts of the searches one transaction changes, each search's read from the
// database once (one statement for all its profiles) and kept current by JoinFront(), so that a
// batch of reports reads a front once, not once per report. Valid only inside the transaction
// that filled it, which holds the searches' row locks (no other writer can change them).
class FrontCache {
 public:
  // The current members of the search's front on a profile.
  std::vector<ParetoArchive::Member>& Members(pqxx::work& tx, int64_t search_id,
                                              int64_t profile_db_id);

 private:
  // search id -> profile (database id) -> members; a search's entry holds all its fronts.
  std::map<int64_t, std::map<int64_t, std::vector<ParetoArchive::Member>>> fronts_;
};

// JoinFront() offers a feasible finished candidate to `profile`'s front of the search (its
// members from `fronts`): stores the change engine::OfferToFront() decides, keeps `fronts`
// current, and appends a FRONT_CHANGED event with the front's hypervolume.
void JoinFront(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
               const SearchProfile& profile, int64_t candidate_id, const CandidateMetrics& metrics,
               const ProfileMetrics& pm, FrontCache& fronts);

// The search's reference as a METRIC_ACCURACY_DROP constraint sees it at one rung.
struct DropReference {
  // The reference's candidate at the rung; 0 when the drop is not judged there (no such
  // constraint, or a rung the reference does not train at: below a multi-fidelity search's
  // final rung).
  int64_t candidate_id = 0;
  // It failed or was cancelled: the drop can never be known at this rung.
  bool lost = false;
  // Its accuracy per profile (database id), once evaluated.
  std::map<int64_t, double> accuracy;

  ReferenceAccuracy On(int64_t profile_db_id) const;
};

// LoadDropReference() reads the reference a result at `rung` of the search is judged against.
DropReference LoadDropReference(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                                int rung);

// JudgeAwaitingDrops() is called when candidate `candidate_id` at `rung` has an outcome
// (evaluated, failed, cancelled). When it is the reference there, every result of the rung
// that awaited it is judged again: its cost on the profile stored anew, and offered to the
// front when now feasible at the final rung. Returns how many results it judged, and appends
// one event saying so when there were any.
int JudgeAwaitingDrops(pqxx::work& tx, SearchProfileCache& profiles, FrontCache& fronts,
                       int64_t search_id, const SearchSpec& spec, int64_t candidate_id, int rung);

}  // namespace nas

#endif  // NAS_SERVICES_STORE_FRONTS_H_
