// Who may join a search's fronts, and the joining: a feasible finished candidate offered to a
// profile's front, and the accuracy-drop constraint judged against the search's reference
// (results that awaited the reference judged again once it has an outcome). Each runs in the
// caller's transaction, which holds the search row's lock. Internal to services/store.
//
//   const DropReference ref = LoadDropReference(tx, search_id, spec, rung);
//   ProfileMetrics pm = EvaluateOnProfile(..., ref.On(profile.db_id));
//   if (pm.feasible()) JoinFront(tx, search_id, spec, profile, id, metrics, pm,
//                                FrontMembers(tx, search_id, profile.db_id));
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

// JoinFront() offers a feasible finished candidate to `profile`'s front of the search, whose
// current members are `members`: stores the change engine::OfferToFront() decides, and a
// FRONT_CHANGED event with the front's hypervolume.
void JoinFront(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
               const SearchProfile& profile, int64_t candidate_id, const CandidateMetrics& metrics,
               const ProfileMetrics& pm, std::vector<ParetoArchive::Member> members);

// FrontMembers() reads the current members of one profile's front of a search.
std::vector<ParetoArchive::Member> FrontMembers(pqxx::work& tx, int64_t search_id,
                                                int64_t profile_db_id);

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
int JudgeAwaitingDrops(pqxx::work& tx, SearchProfileCache& profiles, int64_t search_id,
                       const SearchSpec& spec, int64_t candidate_id, int rung);

}  // namespace nas

#endif  // NAS_SERVICES_STORE_FRONTS_H_
