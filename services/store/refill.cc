// Refill: the store's half of a search's lifecycle. TxSearchReader reads a search for
// engine::PlanRefill() inside one transaction; Store::Refill() applies the plan in the same
// transaction. The decisions (what to queue, promote, when to end) are engine/lifecycle.cc's.
#include <algorithm>
#include <map>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/lifecycle.h"
#include "search/search_space.h"
#include "services/store/fronts.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/search_profiles.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {
namespace {

// TxSearchReader: engine::SearchReader over one transaction. Queue(lock = true) takes the
// search row's lock (the first lock of the store's lock order); everything read after it sees
// what other transactions committed before.
class TxSearchReader : public engine::SearchReader {
 public:
  TxSearchReader(pqxx::work& tx, SearchProfileCache& cache, int64_t search_id)
      : tx_(tx), cache_(cache), search_id_(search_id) {}

  int64_t search_id() const override { return search_id_; }
  // The spec Queue() read.
  const SearchSpec& spec() const { return spec_; }

  absl::StatusOr<engine::QueueView> Queue(bool lock) override {
    if (lock) {
      // Lock first, count after, in a statement of its own: under READ COMMITTED a statement
      // that waited for the row lock still counts candidates in the snapshot it took before
      // waiting, so a refill that queued rows meanwhile would go unseen and the queue overfill.
      tx_.exec_params("SELECT 1 FROM searches WHERE id = $1 FOR NO KEY UPDATE", search_id_);
    }
    pqxx::result rows = tx_.exec_params(
        "SELECT spec, state, deadline_at < now(), target, "
        "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'QUEUED'), "
        "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'LEASED'), "
        "n_evaluated, n_failed, array_to_string(evaluated_per_rung, ', '), "
        "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.final_training "
        "  AND c.state <> 'CANCELLED'), "
        "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.final_training "
        "  AND c.state IN ('QUEUED', 'LEASED')), "
        "COALESCE(search_phase_end, ''), extract(epoch FROM deadline_at - now()) "
        "FROM searches s WHERE id = $1",
        search_id_);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id_, " not found"));
    const pqxx::row& r = rows[0];
    engine::QueueView v;
    v.spec = Parse<SearchSpec>(r[0]);
    v.running = r[1].as<std::string>() == "RUNNING";
    v.overdue = !r[2].is_null() && r[2].as<bool>();
    v.budget = {r[3].as<int>(), r[6].as<int>(), r[7].as<int>()};
    v.queued = r[4].as<int>();
    v.outstanding = v.queued + r[5].as<int>();
    v.evaluated_per_rung = r[8].as<std::string>();
    v.finalists = r[9].as<int>();
    v.finalists_outstanding = r[10].as<int>();
    v.search_phase_end = r[11].as<std::string>();
    if (!r[12].is_null()) v.seconds_left = r[12].as<double>();
    if (v.seconds_left.has_value() && engine::HasFinalTraining(v.spec) && v.finalists == 0) {
      v.phase_times = PhaseTimes(v.spec);
    }
    if (v.spec.has_multi_fidelity()) {
      // Only multi-fidelity searches pay for this count; otherwise every candidate is rung 0.
      v.architectures = tx_.exec_params1(
                               "SELECT count(*) FROM candidates WHERE search_id = $1 "
                               "AND rung = 0 AND state <> 'CANCELLED'",
                               search_id_)[0]
                            .as<int>();
    } else {
      v.architectures = v.outstanding + v.budget.evaluated + v.budget.failed;
    }
    spec_ = v.spec;
    return v;
  }

  absl::StatusOr<std::vector<engine::FrontView>> Fronts() override {
    std::vector<engine::FrontView> fronts;
    std::map<int64_t, size_t> index;  // profile db id -> fronts[]
    for (const SearchProfile& p : *Profiles()) {
      index[p.db_id] = fronts.size();
      fronts.push_back({p.profile.id(), {}});
    }
    for (const pqxx::row& r :
         tx_.exec_params("SELECT pm.profile_id, pm.candidate_id, pm.objectives, c.arch "
                         "FROM pareto_members pm JOIN candidates c ON c.id = pm.candidate_id "
                         "WHERE pm.search_id = $1 ORDER BY pm.candidate_id",
                         search_id_)) {
      auto it = index.find(r[0].as<int64_t>());
      if (it == index.end()) continue;
      fronts[it->second].members.push_back({r[1].as<int64_t>(),
                                            ParseDoubleArray(r[2].as<std::string>()),
                                            Parse<nas::v1::Architecture>(r[3])});
    }
    return fronts;
  }

  absl::StatusOr<engine::SupernetEpochs> Supernet() override {
    engine::SupernetEpochs epochs;
    for (const pqxx::row& r :
         tx_.exec_params("SELECT state, count(*), max(error) FROM candidates WHERE search_id = $1 "
                         "AND rung = -1 GROUP BY state",
                         search_id_)) {
      const std::string state = r[0].as<std::string>();
      if (state == "EVALUATED") epochs.evaluated = r[1].as<int>();
      if (state == "QUEUED" || state == "LEASED") epochs.outstanding += r[1].as<int>();
      if (state == "FAILED") epochs.failure = r[2].is_null() ? "" : r[2].as<std::string>();
    }
    return epochs;
  }

  absl::StatusOr<engine::RungResults> Rungs(int final_rung) override {
    engine::RungResults out;
    for (const pqxx::row& r :
         tx_.exec_params("SELECT c.id, c.rung, c.arch, c.arch_hash, e.metrics, pm.metrics "
                         "FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
                         "LEFT JOIN profile_metrics pm ON pm.candidate_id = e.candidate_id "
                         "  AND pm.profile_id = $3 "
                         "WHERE e.search_id = $1 AND c.rung >= 0 AND c.rung < $2 ORDER BY e.id",
                         search_id_, final_rung, FirstProfile())) {
      engine::RungEntry e;
      e.candidate_id = r[0].as<int64_t>();
      e.rung = r[1].as<int>();
      const ProfileMetrics pm = r[5].is_null() ? ProfileMetrics() : Parse<ProfileMetrics>(r[5]);
      e.ranked.objectives = engine::ObjectiveVector(spec_, Parse<CandidateMetrics>(r[4]), pm);
      e.ranked.violation = r[5].is_null() ? 1 : KnownViolations(pm);
      e.architecture = Parse<nas::v1::Architecture>(r[2]);
      e.arch_hash = r[3].as<std::string>();
      out.entries.push_back(std::move(e));
    }
    out.present.resize(final_rung + 1);
    for (const pqxx::row& r :
         tx_.exec_params("SELECT rung, arch_hash FROM candidates WHERE search_id = $1 AND rung > 0",
                         search_id_)) {
      const int rung = r[0].as<int>();
      if (rung <= final_rung) out.present[rung].insert(r[1].as<std::string>());
    }
    return out;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> CandidatesAfter(
      int64_t after_id) override {
    std::vector<std::pair<int64_t, std::string>> out;
    for (const pqxx::row& r : tx_.exec_params(
             "SELECT id, arch_hash FROM candidates WHERE search_id = $1 AND id > $2 ORDER BY id",
             search_id_, after_id)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>()});
    }
    return out;
  }

  absl::StatusOr<engine::StrategyView> Strategy() override {
    pqxx::row st = tx_.exec_params1(
        "SELECT state, observed_through, generation, dry_refills FROM strategy_state "
        "WHERE search_id = $1",
        search_id_);
    engine::StrategyView v;
    v.saved_state = Bytes(st[0]);
    v.generation = st[2].as<int64_t>();
    v.dry_refills = st[3].as<int>();
    v.observed_through = st[1].as<int64_t>();
    for (const SearchProfile& p : *Profiles()) v.profiles.push_back(p.profile);
    // The strategy learns from rung 0, where every architecture has a result at the same
    // fidelity (a single-fidelity search has only rung 0).
    for (const pqxx::row& r :
         tx_.exec_params("SELECT e.id, e.candidate_id, c.arch, e.metrics, pm.metrics "
                         "FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
                         "LEFT JOIN profile_metrics pm ON pm.candidate_id = e.candidate_id "
                         "  AND pm.profile_id = $3 "
                         "WHERE e.search_id = $1 AND e.id > $2 AND c.rung = 0 ORDER BY e.id",
                         search_id_, v.observed_through, FirstProfile())) {
      Observation o;
      o.candidate_id = r[1].as<int64_t>();
      o.architecture = Parse<nas::v1::Architecture>(r[2]);
      const ProfileMetrics pm = r[4].is_null() ? ProfileMetrics() : Parse<ProfileMetrics>(r[4]);
      o.objectives = engine::ObjectiveVector(spec_, Parse<CandidateMetrics>(r[3]), pm);
      o.violation = r[4].is_null() ? 1 : KnownViolations(pm);
      o.feasible = o.violation == 0;
      v.new_observations.push_back(std::move(o));
      v.observed_through = r[0].as<int64_t>();
    }
    return v;
  }

 private:
  // The search phase's training times: the mean of the last 32 models of its last rung, the
  // longest of those and of the reference's (found by its architecture hash: it is usually
  // the longest and trained early), and the dataset's size if a worker has reported it.
  engine::SearchPhaseTimes PhaseTimes(const SearchSpec& spec) {
    engine::SearchPhaseTimes t;
    const int final_rung = engine::FinalRung(spec);
    double recent = 0;
    int n = 0;
    for (const pqxx::row& r : tx_.exec_params(
             "SELECT e.metrics FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
             "WHERE e.search_id = $1 AND c.rung = $2 AND NOT c.final_training "
             "ORDER BY e.id DESC LIMIT 32",
             search_id_, final_rung)) {
      const double seconds = Parse<CandidateMetrics>(r[0]).train_seconds();
      t.slowest_train_seconds = std::max(t.slowest_train_seconds, seconds);
      recent += seconds;
      ++n;
    }
    t.mean_train_seconds = n == 0 ? 0 : recent / n;
    if (spec.has_reference()) {
      for (const pqxx::row& r : tx_.exec_params(
               "SELECT e.metrics FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
               "WHERE e.search_id = $1 AND c.arch_hash = $2 AND NOT c.final_training",
               search_id_, ArchitectureHash(spec.reference().architecture()))) {
        t.slowest_train_seconds =
            std::max(t.slowest_train_seconds, Parse<CandidateMetrics>(r[0]).train_seconds());
      }
    }
    const pqxx::result size =
        tx_.exec_params("SELECT train_examples FROM dataset_sizes WHERE name = $1", spec.dataset());
    if (!size.empty()) t.train_examples = size[0][0].as<int64_t>();
    return t;
  }

  std::shared_ptr<const std::vector<SearchProfile>> Profiles() {
    if (profiles_ == nullptr) profiles_ = cache_.Get(tx_, search_id_);
    return profiles_;
  }
  // The first profile's database id: the one strategies and promotions rank on (0: none).
  int64_t FirstProfile() {
    const auto profiles = Profiles();
    return profiles->empty() ? 0 : (*profiles)[0].db_id;
  }

  pqxx::work& tx_;
  SearchProfileCache& cache_;
  const int64_t search_id_;
  SearchSpec spec_;
  std::shared_ptr<const std::vector<SearchProfile>> profiles_;
};

// Queues final training's finalists and lowers the search's target to the evaluations done
// and the finalists queued; returns how many were queued.
int QueueFinalists(pqxx::work& tx, SearchProfileCache& profiles, int64_t search_id,
                   const SearchSpec& spec, const engine::RefillPlan& plan) {
  const nas::v1::Fidelity fidelity = engine::FinalTrainingFidelity(spec);
  // The search phase is over: what it still had in flight (a wall-clock end leaves some) is
  // cancelled, so that it neither delays the finalists nor counts against their target.
  const int cancelled = CancelOutstanding(tx, search_id, /*keep_finalists=*/true);
  if (cancelled > 0) {
    // The reference among them: what awaited it for an accuracy drop never will know it.
    const int rung = engine::FinalRung(spec);
    FrontCache fronts;
    JudgeAwaitingDrops(tx, profiles, fronts, search_id, spec,
                       LoadDropReference(tx, search_id, spec, rung).candidate_id, rung);
  }
  std::vector<std::string> queued;
  std::optional<std::pair<int64_t, nas::v1::Architecture>> reference;
  for (const engine::FinalistPlan& f : plan.finalists) {
    pqxx::result r = tx.exec_params(
        "INSERT INTO candidates (search_id, arch, arch_hash, rung, fidelity, state, "
        "  final_training) VALUES ($1, $2, $3, $4, $5, 'QUEUED', true) "
        "ON CONFLICT DO NOTHING RETURNING id",
        search_id, Bin(f.architecture), ArchitectureHash(f.architecture), fidelity.rung(),
        Bin(fidelity));
    if (r.empty()) continue;
    if (f.reference) reference = {r[0][0].as<int64_t>(), f.architecture};
    queued.push_back(absl::StrCat(
        r[0][0].as<int64_t>(), " (",
        f.reference ? std::string("the reference") : absl::StrCat("candidate ", f.from_candidate),
        ")"));
  }
  tx.exec_params(
      "UPDATE searches SET target = n_evaluated + n_failed + $2, search_phase_end = $3, "
      "  updated_at = now() WHERE id = $1",
      search_id, static_cast<int>(queued.size()), plan.search_phase_end);
  AppendEvent(
      tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, 0, "",
      absl::StrCat("search phase over (", plan.search_phase_end,
                   cancelled > 0 ? absl::StrCat(", ", cancelled, " in flight cancelled") : "",
                   "); final training: ", queued.size(),
                   " finalists queued: ", absl::StrJoin(queued, ", ")));
  // The reference trained alike before (an earlier search's final training): reused.
  if (reference.has_value()) {
    ReuseEarlierTraining(tx, profiles, search_id, spec, reference->first, reference->second,
                         fidelity, "the reference's finalist");
  }
  return static_cast<int>(queued.size());
}

}  // namespace

absl::StatusOr<RefillResult> Store::Refill(int64_t search_id, engine::StrategyCache& strategies) {
  return pool_->Run("Refill", [&](pqxx::work& tx) -> absl::StatusOr<RefillResult> {
    TxSearchReader reader(tx, *profiles_, search_id);
    NAS_ASSIGN_OR_RETURN(const engine::RefillPlan plan, engine::PlanRefill(reader, strategies));
    RefillResult result;
    if (plan.supernet_epoch.has_value()) {
      tx.exec_params(
          "INSERT INTO candidates (search_id, arch, arch_hash, rung, fidelity, state) "
          "VALUES ($1, $2, $3, -1, $4, 'QUEUED')",
          search_id, Bin(plan.supernet_architecture),
          absl::StrCat("supernet-epoch-", plan.supernet_epoch->epochs()),
          Bin(*plan.supernet_epoch));
      AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, 0, "",
                  plan.supernet_message);
      result.inserted = 1;
    }
    for (const engine::Promotion& p : plan.promotions) {
      if (!InsertCandidate(tx, search_id, p.architecture, p.fidelity)) continue;
      ++result.inserted;
      AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, p.from_candidate, "",
                  absl::StrCat("candidate ", p.from_candidate, " promoted from rung ", p.from_rung,
                               " to rung ", p.from_rung + 1));
    }
    int fresh = 0;
    for (const nas::v1::Architecture& arch : plan.proposals) {
      if (InsertCandidate(tx, search_id, arch, plan.proposal_fidelity)) {
        ++fresh;
      } else {
        ++result.duplicates;
      }
    }
    result.inserted += fresh;
    std::optional<engine::SearchEnd> end = plan.end;
    engine::RefillPlan final_plan;  // final training started by an exhausted space
    if (plan.strategy_state.has_value()) {
      tx.exec_params(
          "UPDATE strategy_state SET state = $2, observed_through = $3, "
          "  generation = generation + 1, dry_refills = $4, updated_at = now() "
          "WHERE search_id = $1",
          search_id, pqxx::binarystring(*plan.strategy_state), plan.observed_through,
          plan.DryRefills(result.inserted));
      if (fresh > 0) {
        AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, 0, "",
                    absl::StrCat("queued ", fresh, fresh == 1 ? " candidate" : " candidates"));
      }
      if (!end.has_value()) {
        if (std::optional<engine::SearchEnd> exhausted = plan.ExhaustedEnd(result.inserted)) {
          NAS_RETURN_IF_ERROR(
              engine::ConcludeSearchPhase(reader, reader.spec(), *exhausted, &final_plan));
          end = final_plan.end;
        }
      }
    }
    const engine::RefillPlan* const plans[] = {&plan, &final_plan};
    for (const engine::RefillPlan* p : plans) {
      if (p->finalists.empty()) continue;
      const int queued = QueueFinalists(tx, *profiles_, search_id, reader.spec(), *p);
      result.inserted += queued;
      if (queued == 0) end = engine::SearchEnd{"SUCCEEDED", p->search_phase_end};
    }
    if (end.has_value()) {
      EndSearch(tx, search_id, *end);
      result.ended = true;
    }
    // Workers waiting on any controller may lease it now.
    if (result.inserted > 0) NotifyChange(tx);
    return result;
  });
}

}  // namespace nas
