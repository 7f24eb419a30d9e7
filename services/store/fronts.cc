// Fronts and the accuracy-drop judgement (services/store/fronts.h).
#include "services/store/fronts.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/lifecycle.h"
#include "search/cost_model.h"
#include "search/search_space.h"
#include "services/store/rows.h"
#include "services/store/transitions.h"

namespace nas {

std::vector<ParetoArchive::Member>& FrontCache::Members(pqxx::work& tx, int64_t search_id,
                                                        int64_t profile_db_id) {
  auto it = fronts_.find(search_id);
  if (it == fronts_.end()) {
    it = fronts_.emplace(search_id, std::map<int64_t, std::vector<ParetoArchive::Member>>()).first;
    for (const pqxx::row& r :
         tx.exec_params("SELECT profile_id, candidate_id, objectives FROM pareto_members "
                        "WHERE search_id = $1",
                        search_id)) {
      it->second[r[0].as<int64_t>()].push_back(
          {r[1].as<int64_t>(), ParseDoubleArray(r[2].as<std::string>())});
    }
  }
  return it->second[profile_db_id];
}

void JoinFront(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
               const SearchProfile& profile, int64_t candidate_id, const CandidateMetrics& metrics,
               const ProfileMetrics& pm, FrontCache& fronts) {
  std::vector<ParetoArchive::Member>& members = fronts.Members(tx, search_id, profile.db_id);
  const engine::FrontChange change =
      engine::OfferToFront(spec, profile.profile, candidate_id, metrics, pm, members);
  if (!change.joined) return;
  if (!change.removed.empty()) {
    tx.exec_params(
        "DELETE FROM pareto_members WHERE search_id = $1 AND profile_id = $2 "
        "AND candidate_id = ANY($3::BIGINT[])",
        search_id, profile.db_id, BigintArray(change.removed));
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const ParetoArchive::Member& m) {
                                   return std::find(change.removed.begin(), change.removed.end(),
                                                    m.id) != change.removed.end();
                                 }),
                  members.end());
  }
  tx.exec_params(
      "INSERT INTO pareto_members (search_id, profile_id, candidate_id, objectives) "
      "VALUES ($1, $2, $3, $4::DOUBLE PRECISION[])",
      search_id, profile.db_id, candidate_id, DoubleArray(change.objectives));
  members.push_back({candidate_id, change.objectives});
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_FRONT_CHANGED, candidate_id,
              profile.profile.id(), change.Describe(candidate_id, profile.profile.name()),
              change.hypervolume.value_or(-1));
}

ReferenceAccuracy DropReference::On(int64_t profile_db_id) const {
  using State = ReferenceAccuracy::State;
  if (candidate_id == 0) return {};
  if (lost) return {State::kLost};
  const auto it = accuracy.find(profile_db_id);
  if (it == accuracy.end()) return {State::kAwaited};
  return {State::kKnown, it->second};
}

DropReference LoadDropReference(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                                int rung) {
  DropReference ref;
  // The reference trains at the final rung and, in final training, one above.
  if (!spec.has_reference() || !HasAccuracyDropBound(spec.constraints()) ||
      rung < engine::FinalRung(spec)) {
    return ref;
  }
  const std::optional<ReferenceRow> row = FindReference(tx, search_id, spec, rung);
  if (!row.has_value()) return ref;
  ref.candidate_id = row->candidate_id;
  ref.lost = row->state == "FAILED" || row->state == "CANCELLED";
  for (const pqxx::row& r :
       tx.exec_params("SELECT profile_id, metrics FROM profile_metrics WHERE candidate_id = $1",
                      ref.candidate_id)) {
    ref.accuracy[r[0].as<int64_t>()] = Parse<ProfileMetrics>(r[1]).accuracy();
  }
  return ref;
}

int JudgeAwaitingDrops(pqxx::work& tx, SearchProfileCache& profiles, FrontCache& fronts,
                       int64_t search_id, const SearchSpec& spec, int64_t candidate_id, int rung) {
  const DropReference ref = LoadDropReference(tx, search_id, spec, rung);
  if (ref.candidate_id == 0 || ref.candidate_id != candidate_id) return 0;
  const auto held = profiles.Get(tx, search_id);
  const InputShape input = InputShapeFor(spec.dataset());
  int judged = 0;
  int feasible = 0;
  for (const pqxx::row& r :
       tx.exec_params("SELECT pm.candidate_id, pm.profile_id, pm.metrics, e.metrics, c.arch "
                      "FROM profile_metrics pm JOIN candidates c ON c.id = pm.candidate_id "
                      "JOIN evaluations e ON e.candidate_id = pm.candidate_id "
                      "WHERE pm.search_id = $1 AND c.rung = $2 AND NOT pm.feasible "
                      "ORDER BY pm.candidate_id, pm.profile_id",
                      search_id, rung)) {
    const ProfileMetrics before = Parse<ProfileMetrics>(r[2]);
    if (!before.awaiting_reference()) continue;
    const int64_t id = r[0].as<int64_t>();
    const int64_t profile_db_id = r[1].as<int64_t>();
    const SearchProfile* profile = nullptr;
    for (const SearchProfile& p : *held) {
      if (p.db_id == profile_db_id) profile = &p;
    }
    if (profile == nullptr) continue;
    // Judged as first stored: with the latency measured on the profile's device, if it was.
    CandidateMetrics metrics = Parse<CandidateMetrics>(r[3]);
    const bool measured = before.latency_source() == nas::v1::LATENCY_SOURCE_MEASURED;
    if (measured) metrics.set_latency_ms(before.latency_ms());
    const nas::v1::Architecture arch = Parse<nas::v1::Architecture>(r[4]);
    const ProfileMetrics pm = EvaluateOnProfile(profile->profile, metrics, spec.constraints(),
                                                measured, &arch, input, ref.On(profile_db_id));
    tx.exec_params(
        "UPDATE profile_metrics SET metrics = $3, feasible = $4 "
        "WHERE candidate_id = $1 AND profile_id = $2",
        id, profile_db_id, Bin(pm), pm.feasible());
    ++judged;
    if (!pm.feasible()) continue;
    ++feasible;
    if (rung == engine::FinalRung(spec)) {
      JoinFront(tx, search_id, spec, *profile, id, metrics, pm, fronts);
    }
  }
  if (judged > 0) {
    AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED, ref.candidate_id, "",
                absl::StrCat(judged, " results awaiting the reference (candidate ",
                             ref.candidate_id, ") judged on the accuracy drop",
                             ref.lost ? ": the reference did not train, none can be"
                                      : absl::StrCat(": ", feasible, " now feasible")));
  }
  return judged;
}

}  // namespace nas
