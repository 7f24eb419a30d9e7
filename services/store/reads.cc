// What users read of a search: candidates, fronts, models, events; and the metrics snapshot.
#include <algorithm>
#include <map>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/enum_names.h"
#include "common/status_macros.h"
#include "engine/lifecycle.h"
#include "search/hardware_profile.h"
#include "search/hypervolume.h"
#include "search/reference.h"
#include "search/search_space.h"
#include "search/weight_sharing.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/search_profiles.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {
namespace {

// The search's reference network as a candidate (with its profile metrics) at `rung`, if it
// has one: its final rung, or one above for its finalist (final training).
std::optional<nas::v1::Candidate> ReferenceCandidate(pqxx::work& tx, int64_t search_id,
                                                     const SearchSpec& spec, int rung) {
  const std::optional<ReferenceRow> row = FindReference(tx, search_id, spec, rung);
  if (!row.has_value()) return std::nullopt;
  const pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kCandidateColumns, "WHERE c.id = $1"), row->candidate_id);
  std::vector<nas::v1::Candidate> one = {CandidateFromRow(r[0])};
  AttachProfileMetrics(tx, one);
  return one[0];
}

// The reference a candidate compares with: a finalist with the reference's finalist (both
// trained with the final recipe), any other candidate with the reference of the search phase.
struct References {
  std::optional<nas::v1::Candidate> search, final;

  References(pqxx::work& tx, int64_t search_id, const SearchSpec& spec)
      : search(ReferenceCandidate(tx, search_id, spec, engine::FinalRung(spec))),
        final(engine::HasFinalTraining(spec)
                  ? ReferenceCandidate(tx, search_id, spec, engine::FinalRung(spec) + 1)
                  : std::nullopt) {}

  // Marks `c` and compares it, once both are evaluated.
  void Attach(nas::v1::Candidate& c) const {
    const std::optional<nas::v1::Candidate>& ref = c.fidelity().final_training() ? final : search;
    if (!ref.has_value()) return;
    c.set_is_reference(c.id() == ref->id());
    if (ref->state() == nas::v1::CANDIDATE_STATE_EVALUATED &&
        c.state() == nas::v1::CANDIDATE_STATE_EVALUATED) {
      *c.mutable_vs_reference() = CompareWithReference(c, *ref);
    }
  }
};

// Marks the reference among `candidates` and compares every evaluated one with it, once the
// reference is evaluated: derived at read time, nothing stored.
void AttachReference(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                     std::vector<nas::v1::Candidate>& candidates) {
  if (!spec.has_reference()) return;
  const References refs(tx, search_id, spec);
  for (nas::v1::Candidate& c : candidates) refs.Attach(c);
}

// Final training: each front member's finalist (same architecture), with its comparison
// with the reference's finalist (`refs`, read once by the caller).
void AttachFinalists(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                     const References& refs, nas::v1::ParetoFront& front) {
  if (!engine::HasFinalTraining(spec)) return;
  std::vector<nas::v1::Candidate> finalists;
  for (const pqxx::row& r :
       tx.exec_params(absl::StrCat("SELECT ", kCandidateColumns,
                                   "WHERE c.search_id = $1 AND c.final_training ORDER BY c.id"),
                      search_id)) {
    finalists.push_back(CandidateFromRow(r));
  }
  if (finalists.empty()) return;
  AttachProfileMetrics(tx, finalists);
  for (nas::v1::Candidate& c : finalists) refs.Attach(c);
  std::map<std::string, const nas::v1::Candidate*> by_hash;
  for (const nas::v1::Candidate& c : finalists) by_hash[c.architecture_hash()] = &c;
  for (nas::v1::ParetoMember& m : *front.mutable_members()) {
    auto it = by_hash.find(ArchitectureHash(m.architecture()));
    if (it == by_hash.end()) continue;
    const nas::v1::Candidate& c = *it->second;
    nas::v1::Finalist* f = m.mutable_finalist();
    f->set_candidate_id(c.id());
    f->set_state(c.state());
    if (c.has_metrics()) *f->mutable_metrics() = c.metrics();
    if (c.has_vs_reference()) *f->mutable_vs_reference() = c.vs_reference();
  }
}

}  // namespace

absl::StatusOr<std::vector<nas::v1::Candidate>> Store::ListCandidates(
    const Caller& caller, const nas::v1::ListCandidatesRequest& request) {
  return pool_->Run(
      "ListCandidates", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::Candidate>> {
        const pqxx::result s =
            tx.exec_params("SELECT spec FROM searches WHERE id = $1 AND owner_id = $2",
                           request.search_id(), caller.user_id);
        if (s.empty()) {
          return absl::NotFoundError(absl::StrCat("search ", request.search_id(), " not found"));
        }
        std::string state;
        if (request.state() != nas::v1::CANDIDATE_STATE_UNSPECIFIED) {
          state = ShortEnumName(request.state());
        }
        std::vector<nas::v1::Candidate> out;
        for (const pqxx::row& r :
             tx.exec_params(absl::StrCat("SELECT ", kCandidateColumns,
                                         "WHERE c.search_id = $1 AND c.id > $2 "
                                         "AND ($3 = '' OR c.state = $3) ORDER BY c.id LIMIT $4"),
                            request.search_id(), request.after_id(), state, request.limit())) {
          out.push_back(CandidateFromRow(r));
        }
        AttachProfileMetrics(tx, out);
        AttachReference(tx, request.search_id(), Parse<SearchSpec>(s[0][0]), out);
        return out;
      });
}

absl::StatusOr<nas::v1::Candidate> Store::GetCandidate(const Caller& caller, int64_t candidate_id) {
  return pool_->Run("GetCandidate", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Candidate> {
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kCandidateColumns, "WHERE c.id = $1 AND s.owner_id = $2"),
        candidate_id, caller.user_id);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("candidate ", candidate_id, " not found"));
    }
    std::vector<nas::v1::Candidate> one = {CandidateFromRow(r[0])};
    AttachProfileMetrics(tx, one);
    const pqxx::result s =
        tx.exec_params("SELECT spec FROM searches WHERE id = $1", one[0].search_id());
    AttachReference(tx, one[0].search_id(), Parse<SearchSpec>(s[0][0]), one);
    return one[0];
  });
}

absl::StatusOr<nas::v1::ParetoFront> Store::GetParetoFront(const Caller& caller, int64_t search_id,
                                                           const std::string& profile_id) {
  return pool_->Run("GetParetoFront", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::ParetoFront> {
    pqxx::result s = tx.exec_params("SELECT spec FROM searches WHERE id = $1 AND owner_id = $2",
                                    search_id, caller.user_id);
    if (s.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    const SearchSpec spec = Parse<SearchSpec>(s[0][0]);
    NAS_ASSIGN_OR_RETURN(auto name_version, SplitProfileId(profile_id));
    const SearchProfile* chosen = nullptr;
    const auto profiles_held = profiles_->Get(tx, search_id);
    const std::vector<SearchProfile>& profiles = *profiles_held;
    for (const SearchProfile& p : profiles) {
      if (p.profile.name() == name_version.first &&
          (name_version.second == 0 || name_version.second == p.profile.version())) {
        chosen = &p;
      }
    }
    if (chosen == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("profile_id: search ", search_id, " does not target \"", profile_id, "\""));
    }
    nas::v1::ParetoFront front;
    front.set_search_id(search_id);
    front.set_profile_id(chosen->profile.id());
    *front.mutable_objectives() = spec.objectives();
    pqxx::row counts = tx.exec_params1(
        "SELECT count(*), count(*) FILTER (WHERE NOT pm.feasible) FROM profile_metrics pm "
        "JOIN candidates c ON c.id = pm.candidate_id "
        "WHERE pm.search_id = $1 AND pm.profile_id = $2 AND c.rung = $3",
        search_id, chosen->db_id, engine::FinalRung(spec));
    front.set_evaluated(counts[0].as<int>());
    front.set_infeasible(counts[1].as<int>());
    for (const pqxx::row& r : tx.exec_params(
             "SELECT m.candidate_id, c.arch, e.metrics, pm.metrics FROM pareto_members m "
             "JOIN candidates c ON c.id = m.candidate_id "
             "JOIN evaluations e ON e.candidate_id = m.candidate_id "
             "JOIN profile_metrics pm ON pm.candidate_id = m.candidate_id "
             "  AND pm.profile_id = m.profile_id "
             "WHERE m.search_id = $1 AND m.profile_id = $2",
             search_id, chosen->db_id)) {
      nas::v1::ParetoMember* m = front.add_members();
      m->set_candidate_id(r[0].as<int64_t>());
      *m->mutable_architecture() = Parse<nas::v1::Architecture>(r[1]);
      *m->mutable_metrics() = Parse<CandidateMetrics>(r[2]);
      *m->mutable_profile_metrics() = Parse<ProfileMetrics>(r[3]);
      for (const nas::v1::Objective& o : spec.objectives()) {
        m->add_objective_values(ObjectiveValue(o.metric(), m->metrics(), m->profile_metrics()));
      }
    }
    const References refs(tx, search_id, spec);
    AttachFinalists(tx, search_id, spec, refs, front);
    if (const std::optional<nas::v1::Candidate>& ref = refs.search;
        ref.has_value() && ref->state() == nas::v1::CANDIDATE_STATE_EVALUATED) {
      for (nas::v1::ParetoMember& m : *front.mutable_members()) {
        nas::v1::Candidate c;
        c.set_id(m.candidate_id());
        *c.mutable_metrics() = m.metrics();
        *c.add_profile_metrics() = m.profile_metrics();
        m.set_is_reference(m.candidate_id() == ref->id());
        *m.mutable_vs_reference() = CompareWithReference(c, *ref);
      }
    }
    std::vector<std::vector<double>> points;
    for (const nas::v1::ParetoMember& m : front.members()) {
      std::vector<double> v;
      for (int k = 0; k < spec.objectives_size(); ++k) {
        v.push_back(MinimisationForm(spec.objectives(k).metric(), m.objective_values(k)));
      }
      points.push_back(std::move(v));
    }
    const std::vector<double> reference =
        HypervolumeReference(spec.objectives(), spec.constraints(), chosen->profile);
    NAS_ASSIGN_OR_RETURN(double hv, Hypervolume(points, reference));
    front.set_hypervolume(hv);
    front.set_normalized_hypervolume(NormalizedHypervolume(hv, reference, spec.objectives()));
    for (double r : reference) front.add_hypervolume_reference(r);
    // Best first objective first (highest accuracy, or lowest cost), ties by id.
    std::sort(front.mutable_members()->begin(), front.mutable_members()->end(),
              [&](const nas::v1::ParetoMember& a, const nas::v1::ParetoMember& b) {
                const nas::v1::Metric m0 = spec.objectives(0).metric();
                const double va = MinimisationForm(m0, a.objective_values(0));
                const double vb = MinimisationForm(m0, b.objective_values(0));
                return va != vb ? va < vb : a.candidate_id() < b.candidate_id();
              });
    return front;
  });
}

absl::StatusOr<std::pair<nas::v1::ModelMetadata, std::string>> Store::GetArtifact(
    const Caller& caller, int64_t candidate_id, const std::string& format,
    const std::string& profile_id) {
  using Result = std::pair<nas::v1::ModelMetadata, std::string>;
  return pool_->Run("GetArtifact", [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    pqxx::result c = tx.exec_params(
        "SELECT c.state, c.search_id FROM candidates c JOIN searches s ON s.id = c.search_id "
        "WHERE c.id = $1 AND s.owner_id = $2",
        candidate_id, caller.user_id);
    if (c.empty()) {
      return absl::NotFoundError(absl::StrCat("candidate ", candidate_id, " not found"));
    }
    const int64_t search_id = c[0][1].as<int64_t>();
    // The search's profiles, in its order: what the metadata reports, and what profile_id
    // may name ("name" or "name@version").
    std::vector<ProfileMetrics> figures;
    const nas::v1::HardwareProfile* chosen = nullptr;
    std::vector<nas::v1::HardwareProfile> profiles;
    std::vector<std::string> names;
    for (const pqxx::row& r :
         tx.exec_params(absl::StrCat("SELECT ", kProfileColumns,
                                     "JOIN search_profiles sp ON sp.profile_id = hp.id "
                                     "WHERE sp.search_id = $1 ORDER BY sp.position"),
                        search_id)) {
      profiles.push_back(ProfileFromRow(r));
      names.push_back(profiles.back().id());
    }
    if (!profile_id.empty()) {
      for (const nas::v1::HardwareProfile& p : profiles) {
        if (p.id() == profile_id || p.name() == profile_id) chosen = &p;
      }
      if (chosen == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "profile_id: \"", profile_id.substr(0, 64), "\" is not a profile of search ", search_id,
            " (its profiles: ", absl::StrJoin(names, ", "), ")"));
      }
    }
    if (c[0][0].as<std::string>() != "EVALUATED") {
      return absl::FailedPreconditionError(absl::StrCat(
          "candidate ", candidate_id, " is ", absl::AsciiStrToLower(c[0][0].as<std::string>()),
          "; its model can be fetched once it is evaluated"));
    }
    std::vector<std::string> stored;
    for (const pqxx::row& r :
         tx.exec_params("SELECT format FROM artifacts WHERE candidate_id = $1 ORDER BY format",
                        candidate_id)) {
      stored.push_back(r[0].as<std::string>());
    }
    if (stored.empty()) {
      return absl::NotFoundError(
          absl::StrCat("candidate ", candidate_id, " was evaluated but has no model file"));
    }
    auto has = [&](const std::string& f) {
      return std::find(stored.begin(), stored.end(), f) != stored.end();
    };
    std::string want = format;
    if (want.empty()) {
      // The natural format: int8 QDQ for an int8 device, ONNX fp32 for another, TorchScript
      // without a profile (and for models stored before ONNX existed).
      want = chosen == nullptr                                    ? "torchscript"
             : chosen->weight_type() == nas::v1::WEIGHT_TYPE_INT8 ? "onnx-int8"
                                                                  : "onnx-fp32";
      if (!has(want)) want = stored.front();
    } else if (!has(want)) {
      return absl::NotFoundError(absl::StrCat("candidate ", candidate_id, " has no ", want,
                                              " model (it has: ", absl::StrJoin(stored, ", "),
                                              ")"));
    }
    pqxx::row a = tx.exec_params1(
        "SELECT metadata, sha256, size_bytes, format, data FROM artifacts "
        "WHERE candidate_id = $1 AND format = $2",
        candidate_id, want);
    nas::v1::ModelMetadata meta = Parse<nas::v1::ModelMetadata>(a[0]);
    meta.set_candidate_id(candidate_id);
    meta.set_search_id(search_id);
    meta.set_sha256(a[1].as<std::string>());
    meta.set_size_bytes(a[2].as<int64_t>());
    meta.set_format(a[3].as<std::string>());
    meta.clear_formats();
    for (const std::string& f : stored) meta.add_formats(f);
    meta.clear_profiles();
    for (const pqxx::row& r :
         tx.exec_params("SELECT pm.metrics FROM profile_metrics pm JOIN search_profiles sp "
                        "  ON sp.search_id = pm.search_id AND sp.profile_id = pm.profile_id "
                        "WHERE pm.candidate_id = $1 ORDER BY sp.position",
                        candidate_id)) {
      *meta.add_profiles() = Parse<ProfileMetrics>(r[0]);
    }
    return Result(std::move(meta), Bytes(a[4]));
  });
}

absl::StatusOr<std::string> Store::GetArtifactBySha(const std::string& sha256) {
  return pool_->Run("GetArtifactBySha", [&](pqxx::work& tx) -> absl::StatusOr<std::string> {
    pqxx::result r = tx.exec_params("SELECT data FROM artifacts WHERE sha256 = $1 LIMIT 1", sha256);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("no stored file has SHA-256 ", sha256));
    }
    return Bytes(r[0][0]);
  });
}

absl::Status Store::CheckReusableSupernet(const Caller& caller, int64_t search_id,
                                          const SearchSpec& spec) {
  return pool_->Run("CheckReusableSupernet", [&](pqxx::work& tx) -> absl::Status {
    const std::string field = "spec.strategy.settings[supernet_search]";
    absl::StatusOr<nas::v1::Search> other = LoadSearch(tx, caller, search_id);
    if (!other.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", other.status().message()));
    }
    const SearchSpec& theirs = other->spec();
    absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(theirs.strategy());
    if (!IsWeightSharing(theirs.strategy()) || !plan.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": search ", search_id, " is not a weight-sharing search"));
    }
    if (plan->supernet_search != 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": search ", search_id,
                                                     " reuses the supernet of search ",
                                                     plan->supernet_search, "; name that one"));
    }
    if (theirs.space().SerializeAsString() != spec.space().SerializeAsString() ||
        theirs.dataset() != spec.dataset()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": search ", search_id,
                       "'s supernet covers another space or dataset; use the same spec.space "
                       "and spec.dataset"));
    }
    const int trained = tx.exec_params1(
                              "SELECT count(*) FROM candidates WHERE search_id = $1 AND rung = -1 "
                              "AND state = 'EVALUATED'",
                              search_id)[0]
                            .as<int>();
    if (trained < plan->supernet_epochs) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": search ", search_id, "'s supernet has ", trained, " of ",
                       plan->supernet_epochs, " epochs trained; wait until it is ready"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> Store::LatestEventId(const Caller& caller, int64_t search_id) {
  return pool_->Run("LatestEventId", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    SequenceEvents(tx);
    pqxx::result r = tx.exec_params(
        "SELECT (SELECT COALESCE(max(e.seq), 0) FROM events e WHERE e.search_id = s.id) "
        "FROM searches s WHERE s.id = $1 AND s.owner_id = $2",
        search_id, caller.user_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    return r[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<nas::v1::SearchEvent>> Store::EventsAfter(const Caller& caller,
                                                                     int64_t search_id,
                                                                     int64_t after_id, int limit) {
  return pool_->Run(
      "EventsAfter", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::SearchEvent>> {
        const pqxx::result s = tx.exec_params(
            "SELECT spec FROM searches WHERE id = $1 AND owner_id = $2", search_id, caller.user_id);
        if (s.empty()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
        }
        // Each profile's hypervolume reference, to state a front's hypervolume as a share of it.
        const SearchSpec spec = Parse<SearchSpec>(s[0][0]);
        std::map<std::string, std::vector<double>> references;
        for (const SearchProfile& p : *profiles_->Get(tx, search_id)) {
          references[p.profile.id()] =
              HypervolumeReference(spec.objectives(), spec.constraints(), p.profile);
        }
        // In the order events became final (their seq), never skipping one that committed late.
        SequenceEvents(tx);
        std::vector<nas::v1::SearchEvent> out;
        for (const pqxx::row& r :
             tx.exec_params("SELECT seq, kind, COALESCE(candidate_id, 0), profile_id, message, "
                            "rfc3339(created_at), COALESCE(hypervolume, 0) FROM events "
                            "WHERE search_id = $1 AND seq > $2 "
                            "ORDER BY seq LIMIT $3",
                            search_id, after_id, limit)) {
          nas::v1::SearchEvent e;
          e.set_event_id(r[0].as<int64_t>());
          e.set_kind(static_cast<nas::v1::SearchEventKind>(r[1].as<int>()));
          e.set_candidate_id(r[2].as<int64_t>());
          e.set_profile_id(r[3].as<std::string>());
          e.set_message(r[4].as<std::string>());
          e.set_created_at(r[5].as<std::string>());
          e.set_hypervolume(r[6].as<double>());
          if (auto ref = references.find(e.profile_id()); ref != references.end()) {
            e.set_normalized_hypervolume(
                NormalizedHypervolume(e.hypervolume(), ref->second, spec.objectives()));
          }
          out.push_back(std::move(e));
        }
        return out;
      });
}

absl::StatusOr<StoreSnapshot> Store::Snapshot(absl::Duration recent) {
  return pool_->Run("Snapshot", [&](pqxx::work& tx) -> absl::StatusOr<StoreSnapshot> {
    StoreSnapshot snap;
    for (const char* state : {"RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}) {
      snap.searches_by_state[state] = 0;
    }
    for (const pqxx::row& r : tx.exec("SELECT state, count(*) FROM searches GROUP BY state")) {
      snap.searches_by_state[r[0].as<std::string>()] = r[1].as<int64_t>();
    }
    snap.queued =
        tx.exec1("SELECT count(*) FROM candidates WHERE state = 'QUEUED'")[0].as<int64_t>();
    snap.workers_active =
        tx.exec1("SELECT count(*) FROM workers WHERE last_seen_at > now() - interval '1 minute'")[0]
            .as<int64_t>();
    snap.workers_quarantined =
        tx.exec1("SELECT count(*) FROM workers WHERE quarantined_until > now()")[0].as<int64_t>();

    std::map<int64_t, size_t> index;
    std::map<int64_t, SearchSpec> specs;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT id, state, target, best_accuracy, spec, "
             "  EXTRACT(EPOCH FROM now() - GREATEST(created_at, "
             "    (SELECT max(evaluated_at) FROM candidates c WHERE c.search_id = s.id))) "
             "FROM searches s "
             "WHERE state = 'RUNNING' OR updated_at > now() - make_interval(secs => $1) "
             "ORDER BY id",
             absl::ToDoubleSeconds(recent))) {
      StoreSnapshot::Search search;
      search.id = r[0].as<int64_t>();
      search.state = r[1].as<std::string>();
      search.target = r[2].as<int64_t>();
      search.best_accuracy = r[3].as<double>();
      specs[search.id] = Parse<SearchSpec>(r[4]);
      search.seconds_since_progress = r[5].as<double>();
      for (const char* state : {"QUEUED", "LEASED", "EVALUATED", "FAILED", "CANCELLED"}) {
        search.candidates_by_state[state] = 0;
      }
      index[search.id] = snap.searches.size();
      snap.searches.push_back(std::move(search));
    }
    if (snap.searches.empty()) return snap;
    std::vector<int64_t> ids;
    for (const auto& [id, i] : index) ids.push_back(id);
    const std::string id_array = BigintArray(ids);
    for (const pqxx::row& r :
         tx.exec_params("SELECT search_id, state, count(*) FROM candidates "
                        "WHERE search_id = ANY($1::BIGINT[]) GROUP BY search_id, state",
                        id_array)) {
      snap.searches[index[r[0].as<int64_t>()]].candidates_by_state[r[1].as<std::string>()] =
          r[2].as<int64_t>();
    }
    std::map<std::pair<int64_t, int64_t>, std::vector<std::vector<double>>> fronts;
    for (const pqxx::row& r :
         tx.exec_params("SELECT search_id, profile_id, objectives FROM pareto_members "
                        "WHERE search_id = ANY($1::BIGINT[])",
                        id_array)) {
      fronts[{r[0].as<int64_t>(), r[1].as<int64_t>()}].push_back(
          ParseDoubleArray(r[2].as<std::string>()));
    }
    for (StoreSnapshot::Search& search : snap.searches) {
      const SearchSpec& spec = specs[search.id];
      const auto profiles = profiles_->Get(tx, search.id);
      for (const SearchProfile& p : *profiles) {
        const std::vector<std::vector<double>>& points = fronts[{search.id, p.db_id}];
        const absl::StatusOr<double> hv = Hypervolume(
            points, HypervolumeReference(spec.objectives(), spec.constraints(), p.profile));
        search.fronts.push_back(
            {p.profile.id(), static_cast<int64_t>(points.size()), hv.ok() ? *hv : 0});
      }
    }
    return snap;
  });
}

}  // namespace nas
