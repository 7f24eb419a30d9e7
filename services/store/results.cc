// Results: a worker's report stored with its cost on every profile of the search and the
// fronts it changes, in one transaction, one branch per kind of work.
#include <cmath>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model_format.h"
#include "common/status_macros.h"
#include "common/work_kind.h"
#include "engine/lifecycle.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/search_space.h"
#include "search/weight_sharing.h"
#include "services/store/fronts.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/search_profiles.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {

namespace {

// A measure-only worker's report on `profile_db_id` (the lease is already completed): the
// candidate's stored metrics with the measured latency, judged again on that profile, stored,
// and offered to its front.
absl::StatusOr<ReportOutcome> StoreMeasurement(pqxx::work& tx, SearchProfileCache& profiles,
                                               FrontCache& fronts,
                                               const nas::v1::ReportResultRequest& request,
                                               int64_t search_id, const SearchSpec& spec,
                                               int64_t candidate_id, int rung,
                                               const nas::v1::Architecture& architecture,
                                               int64_t profile_db_id) {
  ReportOutcome outcome;
  outcome.search_id = search_id;
  outcome.candidate_id = candidate_id;
  outcome.measurement = true;
  const SearchProfile* profile = nullptr;
  const auto held = profiles.Get(tx, search_id);
  for (const SearchProfile& p : *held) {
    if (p.db_id == profile_db_id) profile = &p;
  }
  if (profile == nullptr) return absl::InternalError("measurement lease of an unknown profile");
  if (request.outcome_case() != nas::v1::ReportResultRequest::kMetrics) {
    // Nobody else would do better on the same device: give up, keep it marked unmeasured.
    tx.exec_params(
        "UPDATE profile_metrics SET measure_device = NULL WHERE candidate_id = $1 "
        "AND profile_id = $2",
        candidate_id, profile_db_id);
    AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_MEASURED, candidate_id,
                profile->profile.id(),
                absl::StrCat("candidate ", candidate_id, " could not be measured on ",
                             profile->profile.id(), ": ", request.error()));
    return outcome;
  }
  if (!(request.metrics().latency_ms() > 0)) {
    return absl::InvalidArgumentError("metrics.latency_ms: a measurement must be > 0");
  }
  pqxx::row e =
      tx.exec_params1("SELECT metrics FROM evaluations WHERE candidate_id = $1", candidate_id);
  CandidateMetrics metrics = Parse<CandidateMetrics>(e[0]);
  metrics.set_latency_ms(request.metrics().latency_ms());
  metrics.set_latency_iqr_ms(request.metrics().latency_iqr_ms());
  metrics.set_latency_ci_ms(request.metrics().latency_ci_ms());
  metrics.set_latency_runs(request.metrics().latency_runs());
  metrics.set_latency_threads(request.metrics().latency_threads());
  const ProfileMetrics pm =
      EvaluateOnProfile(profile->profile, metrics, spec.constraints(), /*measured_on_device=*/true,
                        &architecture, InputShapeFor(spec.dataset()),
                        LoadDropReference(tx, search_id, spec, rung).On(profile_db_id));
  tx.exec_params(
      "UPDATE profile_metrics SET metrics = $3, feasible = $4, measure_device = NULL "
      "WHERE candidate_id = $1 AND profile_id = $2",
      candidate_id, profile_db_id, Bin(pm), pm.feasible());
  AppendEvent(
      tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_MEASURED, candidate_id,
      profile->profile.id(),
      absl::StrFormat("candidate %d measured on %s: %.3f ms%s", candidate_id, profile->profile.id(),
                      pm.latency_ms(), pm.feasible() ? "" : " (over a limit)"));
  if (pm.feasible() && rung == engine::FinalRung(spec)) {
    JoinFront(tx, search_id, spec, *profile, candidate_id, metrics, pm, fronts);
  }
  return outcome;
}

// Stores a candidate's evaluation under its (completed) lease, or none (0: a reused training),
// and marks it EVALUATED.
void StoreEvaluation(pqxx::work& tx, int64_t candidate_id, int64_t search_id, int64_t lease_id,
                     const CandidateMetrics& metrics) {
  tx.exec_params(
      "WITH e AS (INSERT INTO evaluations (candidate_id, search_id, lease_id, metrics, "
      "  val_accuracy) VALUES ($1, $2, NULLIF($3, 0), $4, $5)) "
      "UPDATE candidates SET state = 'EVALUATED', evaluated_at = now(), error = '' "
      "WHERE id = $1",
      candidate_id, search_id, lease_id, Bin(metrics), metrics.val_accuracy());
  // A checkpoint an interrupted training left has served its purpose.
  tx.exec_params("DELETE FROM artifacts WHERE candidate_id = $1 AND format = $2", candidate_id,
                 kTrainingCheckpointFormat);
}

// A supernet epoch's report: kept only with the checkpoint the lease uploaded. It counts
// towards no budget, profile or front; the next refill queues the next epoch or starts the
// estimates.
absl::StatusOr<ReportOutcome> StoreSupernetEpoch(pqxx::work& tx,
                                                 const nas::v1::ReportResultRequest& request,
                                                 int64_t search_id, int64_t candidate_id, int epoch,
                                                 ReportOutcome outcome) {
  pqxx::result a = tx.exec_params(
      "SELECT sha256, format FROM artifacts WHERE candidate_id = $1 AND lease_id = $2",
      candidate_id, request.lease_id());
  if (a.empty() || a[0][1].as<std::string>() != kSupernetCheckpointFormat) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease ", request.lease_id(), ": upload the supernet checkpoint (format \"",
                     kSupernetCheckpointFormat, "\") before reporting the epoch"));
  }
  const CandidateMetrics& m = request.metrics();
  StoreEvaluation(tx, candidate_id, search_id, request.lease_id(), m);
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED, candidate_id, "",
              absl::StrFormat("supernet epoch %d trained in %.0f s: loss %.4f, largest subnet "
                              "accuracy %.4f, checkpoint %s",
                              epoch, m.train_seconds(), m.train_loss(), m.val_accuracy(),
                              a[0][0].as<std::string>().substr(0, 12)));
  return outcome;
}

}  // namespace

namespace {

// Called once `candidate_id` succeeded on `worker_id`: every other worker that failed it is
// quarantined when its failures since its own last success are `after` or more different
// candidates that succeeded elsewhere. A candidate that fails everywhere (a poison candidate)
// never counts against a worker. Returns the workers quarantined, with the reason.
std::vector<std::pair<int64_t, std::string>> QuarantineFailingWorkers(
    pqxx::work& tx, int64_t candidate_id, int64_t worker_id, int after,
    absl::Duration quarantine_for) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const pqxx::row& w :
       tx.exec_params("SELECT DISTINCT worker_id FROM leases WHERE candidate_id = $1 AND failed "
                      "  AND worker_id <> $2",
                      candidate_id, worker_id)) {
    const int64_t failing = w[0].as<int64_t>();
    pqxx::row streak = tx.exec_params1(
        "SELECT count(DISTINCT l.candidate_id), "
        "  string_agg(DISTINCT l.candidate_id::TEXT, ', '), "
        "  (SELECT c.error FROM leases x JOIN candidates c ON c.id = x.candidate_id "
        "   WHERE x.worker_id = $1 AND x.failed ORDER BY x.id DESC LIMIT 1) "
        "FROM leases l JOIN candidates c ON c.id = l.candidate_id "
        "WHERE l.worker_id = $1 AND l.failed AND c.state = 'EVALUATED' "
        "  AND l.id > COALESCE((SELECT max(id) FROM leases WHERE worker_id = $1 "
        "                       AND state = 'COMPLETED' AND NOT failed), 0)",
        failing);
    if (streak[0].as<int64_t>() < after) continue;
    const std::string reason =
        absl::StrCat("it failed candidates ", streak[1].as<std::string>(),
                     " in a row and other workers evaluated them; last error: ",
                     streak[2].is_null() ? "none" : streak[2].as<std::string>());
    pqxx::result q = tx.exec_params(
        "UPDATE workers SET quarantined_until = now() + $2 * interval '1 millisecond', "
        "  quarantine_reason = $3 "
        "WHERE id = $1 AND (quarantined_until IS NULL OR quarantined_until <= now()) "
        "RETURNING id",
        failing, absl::ToInt64Milliseconds(quarantine_for), reason);
    if (!q.empty()) out.push_back({failing, reason});
  }
  return out;
}

}  // namespace

namespace {

// What every branch of StoreReport() knows of the report's lease (its row locked, the lease
// already completed by the fence).
struct Reported {
  const nas::v1::ReportResultRequest& request;
  int64_t search_id = 0;
  int64_t candidate_id = 0;
  int rung = 0;
  nas::v1::Architecture architecture;
  SearchSpec spec;
  std::string device_tag;  // of the reporting worker
  bool ok() const { return request.outcome_case() == nas::v1::ReportResultRequest::kMetrics; }
};

// WORK_KIND_GANG_MEMBER: a rank > 0 of a data-parallel supernet epoch. Its part is done (or
// failed); rank 0's report decides the epoch.
ReportOutcome StoreGangShare(pqxx::work& tx, const Reported& r, int rank, ReportOutcome outcome) {
  outcome.gang_member = true;
  AppendEvent(tx, r.search_id,
              r.ok() ? nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS
                     : nas::v1::SEARCH_EVENT_KIND_CANDIDATE_FAILED,
              r.candidate_id, "",
              r.ok() ? absl::StrFormat("candidate %d: rank %d trained its share of the supernet "
                                       "epoch in %.0f s, loss %.4f",
                                       r.candidate_id, rank, r.request.metrics().train_seconds(),
                                       r.request.metrics().train_loss())
                     : absl::StrCat("candidate ", r.candidate_id, ": rank ", rank,
                                    " failed: ", r.request.error()));
  return outcome;
}

// A failed TRAIN, ESTIMATE or SUPERNET_EPOCH: the candidate is queued again, or FAILED when
// out of attempts. A supernet epoch is no candidate of the budget; a failed one ends the
// search at the next refill (engine::NextSupernetStep).
ReportOutcome StoreFailure(pqxx::work& tx, const Reported& r, bool counts_toward_budget,
                           SearchProfileCache& cache, FrontCache& fronts, ReportOutcome outcome) {
  const std::string error =
      r.request.error().empty() ? "worker reported no metrics" : r.request.error();
  tx.exec_params("UPDATE leases SET failed = true WHERE id = $1", r.request.lease_id());
  pqxx::row row = tx.exec_params1(
      "UPDATE candidates SET error = $2, state = CASE WHEN attempts >= $3 "
      "  THEN 'FAILED' ELSE 'QUEUED' END WHERE id = $1 RETURNING state",
      r.candidate_id, error, r.spec.budget().max_attempts());
  const bool failed = row[0].as<std::string>() == "FAILED";
  AppendEvent(
      tx, r.search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_FAILED, r.candidate_id, "",
      absl::StrCat("candidate ", r.candidate_id, failed ? " failed: " : " will retry: ", error));
  if (failed && counts_toward_budget) {
    JudgeAwaitingDrops(tx, cache, fronts, r.search_id, r.spec, r.candidate_id, r.rung);
    outcome.search_ended = EndIfBudgetSpent(tx, r.search_id, CountFinal(tx, r.search_id, "FAILED"));
  }
  return outcome;
}

// A successful TRAIN or ESTIMATE: the evaluation, the candidate's cost on every profile of
// the search, the fronts a finished model joins, and the budget.
ReportOutcome StoreCandidateResult(pqxx::work& tx, const Reported& r, const StoreOptions& options,
                                   SearchProfileCache& cache, FrontCache& fronts,
                                   ReportOutcome outcome) {
  const SearchSpec& spec = r.spec;
  // The int8 graph's size is the cost model's (the worker's, with the dataset's real shape, when
  // it sent one).
  CandidateMetrics metrics = r.request.metrics();
  if (metrics.int8_model_bytes() <= 0) {
    metrics.set_int8_model_bytes(
        EstimateCost(r.architecture, InputShapeFor(spec.dataset())).model_bytes_int8);
  }
  // Lower rungs of successive halving only rank candidates for promotion: their results
  // are kept and shown, but never enter a front nor the best accuracy.
  const bool joins_fronts = r.rung == engine::FinalRung(spec);
  // A finalist of final training (one rung above) is a finished model outside the fronts.
  const bool finalist = r.rung == engine::FinalRung(spec) + 1;
  const bool finished_model = joins_fronts || finalist;
  StoreEvaluation(tx, r.candidate_id, r.search_id, r.request.lease_id(), metrics);
  if (options.quarantine_after > 0) {
    outcome.quarantined =
        QuarantineFailingWorkers(tx, r.candidate_id, r.request.worker_id(),
                                 options.quarantine_after, options.quarantine_for);
  }
  if (spec.has_multi_fidelity() && !finalist) {
    tx.exec_params(
        "UPDATE searches SET evaluated_per_rung[$2] = evaluated_per_rung[$2] + 1 "
        "WHERE id = $1",
        r.search_id, r.rung + 1);
  }
  AppendEvent(
      tx, r.search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED, r.candidate_id, "",
      finalist
          ? absl::StrFormat("finalist %d trained: test accuracy %.4f (int8 %.4f), "
                            "validation %.4f, %d params",
                            r.candidate_id, metrics.test_accuracy(), metrics.int8_test_accuracy(),
                            metrics.val_accuracy(), metrics.params())
          : absl::StrFormat("candidate %d evaluated%s: accuracy %.4f, %d params", r.candidate_id,
                            spec.has_multi_fidelity() ? absl::StrCat(" at rung ", r.rung) : "",
                            metrics.val_accuracy(), metrics.params()));

  // An accuracy-drop bound is judged against the reference at this rung; the reference
  // itself against its own accuracy (a drop of 0).
  const DropReference drop = LoadDropReference(tx, r.search_id, spec, r.rung);
  const bool is_reference = drop.candidate_id == r.candidate_id && drop.candidate_id != 0;
  const auto profiles = cache.Get(tx, r.search_id);
  for (const SearchProfile& p : *profiles) {
    const auto judge = [&](const ReferenceAccuracy& reference) {
      return EvaluateOnProfile(p.profile, metrics, spec.constraints(),
                               r.device_tag == p.profile.device_tag(), &r.architecture,
                               InputShapeFor(spec.dataset()), reference);
    };
    const ProfileMetrics pm =
        is_reference
            ? judge({ReferenceAccuracy::State::kKnown, judge(ReferenceAccuracy()).accuracy()})
            : judge(drop.On(p.db_id));
    // A finished model on a measured profile of another device waits for a measure-only
    // worker of that device (until then its latency is unmeasured, a named violation).
    const bool to_measure = finished_model && p.profile.kind() == nas::v1::PROFILE_KIND_MEASURED &&
                            r.device_tag != p.profile.device_tag();
    tx.exec_params(
        "INSERT INTO profile_metrics (candidate_id, profile_id, search_id, metrics, feasible, "
        "  measure_device) VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''))",
        r.candidate_id, p.db_id, r.search_id, Bin(pm), pm.feasible(),
        to_measure ? p.profile.device_tag() : std::string());
    // A prediction for the device this worker just measured on: how far off it was.
    if (p.profile.kind() != nas::v1::PROFILE_KIND_MEASURED &&
        p.profile.device_tag() == r.device_tag && metrics.latency_ms() > 0 && pm.latency_ms() > 0) {
      outcome.prediction_errors.push_back(
          {p.profile.id(),
           std::abs(pm.latency_ms() - metrics.latency_ms()) / metrics.latency_ms()});
    }
    if (!pm.feasible() || !joins_fronts) continue;
    JoinFront(tx, r.search_id, spec, p, r.candidate_id, metrics, pm, fronts);
  }
  if (is_reference) {
    JudgeAwaitingDrops(tx, cache, fronts, r.search_id, spec, r.candidate_id, r.rung);
  }
  outcome.search_ended = EndIfBudgetSpent(
      tx, r.search_id,
      CountFinal(tx, r.search_id, "EVALUATED", 1, finished_model ? metrics.val_accuracy() : 0));
  return outcome;
}

}  // namespace

namespace {

// What training a candidate gets: its dataset, the recipe its lease carries with its
// fidelity's epochs and examples applied, and the rest of the fidelity. The seed is left out:
// two trainings equal but for the seed of weight init and data order count as the same.
std::string TrainingKey(const SearchSpec& spec, const nas::v1::Fidelity& fidelity) {
  nas::v1::TrainingRecipe recipe = engine::RecipeFor(spec, fidelity);
  recipe.clear_seed();
  if (fidelity.epochs() > 0) recipe.set_epochs(fidelity.epochs());
  if (fidelity.train_subset() > 0) recipe.set_train_subset(fidelity.train_subset());
  nas::v1::Fidelity rest = fidelity;
  rest.clear_rung();
  rest.clear_epochs();
  rest.clear_train_subset();
  rest.clear_final_training();
  return absl::StrCat(spec.dataset(), "|", recipe.SerializeAsString(), "|",
                      rest.SerializeAsString());
}

}  // namespace

bool ReuseEarlierTraining(pqxx::work& tx, SearchProfileCache& profiles, int64_t search_id,
                          const SearchSpec& spec, int64_t candidate_id,
                          const nas::v1::Architecture& architecture,
                          const nas::v1::Fidelity& fidelity, absl::string_view role) {
  const std::string key = TrainingKey(spec, fidelity);
  for (const pqxx::row& d : tx.exec_params(
           "SELECT c.id, c.search_id, s.spec, c.fidelity, e.metrics, "
           "  COALESCE(e.reused_from, c.id), COALESCE(w.device_tag, '') "
           "FROM candidates c JOIN searches s ON s.id = c.search_id "
           "JOIN evaluations e ON e.candidate_id = c.id "
           "LEFT JOIN evaluations root ON root.candidate_id = COALESCE(e.reused_from, c.id) "
           "LEFT JOIN leases l ON l.id = root.lease_id "
           "LEFT JOIN workers w ON w.id = l.worker_id "
           "WHERE s.owner_id = (SELECT owner_id FROM searches WHERE id = $1) "
           "  AND s.dataset = $2 AND c.arch_hash = $3 AND c.state = 'EVALUATED' "
           "  AND c.search_id <> $1 "
           "  AND EXISTS (SELECT 1 FROM artifacts a WHERE a.candidate_id = c.id) "
           "ORDER BY c.id DESC LIMIT 64",
           search_id, spec.dataset(), ArchitectureHash(architecture))) {
    if (TrainingKey(Parse<SearchSpec>(d[2]), Parse<nas::v1::Fidelity>(d[3])) != key) continue;
    const int64_t donor = d[0].as<int64_t>();
    nas::v1::ReportResultRequest copied;
    *copied.mutable_metrics() = Parse<CandidateMetrics>(d[4]);
    Reported r{copied};
    r.search_id = search_id;
    r.candidate_id = candidate_id;
    r.rung = fidelity.rung();
    r.architecture = architecture;
    r.spec = spec;
    r.device_tag = d[6].as<std::string>();  // where its latency was measured
    StoreOptions no_quarantine;
    no_quarantine.quarantine_after = 0;
    FrontCache fronts;
    StoreCandidateResult(tx, r, no_quarantine, profiles, fronts, ReportOutcome());
    tx.exec_params("UPDATE evaluations SET reused_from = $2 WHERE candidate_id = $1", candidate_id,
                   d[5].as<int64_t>());
    tx.exec_params(
        "INSERT INTO artifacts (candidate_id, search_id, lease_id, sha256, size_bytes, format, "
        "  metadata, data) "
        "SELECT $1, $2, NULL, sha256, size_bytes, format, metadata, data FROM artifacts "
        "WHERE candidate_id = $3 AND format <> $4",
        candidate_id, search_id, donor, kTrainingCheckpointFormat);
    AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED, candidate_id, "",
                absl::StrCat("candidate ", candidate_id, " (", role,
                             "): training reused from "
                             "candidate ",
                             donor, " of search ", d[1].as<int64_t>(),
                             " (same network, dataset and recipe), not trained again"));
    return true;
  }
  return false;
}

namespace {

// One report, inside the batch's transaction (which holds the row locks of every search the
// batch reports on): the fence, then the branch for the lease's kind of work.
absl::StatusOr<ReportOutcome> StoreReport(pqxx::work& tx,
                                          const nas::v1::ReportResultRequest& request,
                                          const StoreOptions& options, SearchProfileCache& profiles,
                                          FrontCache& fronts) {
  ReportOutcome outcome;
  pqxx::result head = tx.exec_params(
      "SELECT s.id, s.spec, w.device_tag, COALESCE(l.profile_id, 0), l.kind FROM leases l "
      "JOIN workers w ON w.id = $2 JOIN searches s ON s.id = l.search_id "
      "WHERE l.id = $1 FOR NO KEY UPDATE OF s",
      request.lease_id(), request.worker_id());
  if (head.empty()) return LeaseNotLive(tx, request.worker_id(), request.lease_id());
  Reported r{request};
  r.search_id = head[0][0].as<int64_t>();
  outcome.search_id = r.search_id;
  // Completing the lease in the same statement that checks it is live is the fence: an
  // expired or superseded lease matches no row.
  pqxx::result live = tx.exec_params(
      "UPDATE leases SET state = 'COMPLETED', ended_at = now() "
      "WHERE id = $1 AND worker_id = $2 AND state = 'ACTIVE' "
      "RETURNING candidate_id, (SELECT rung FROM candidates c WHERE c.id = candidate_id), "
      "  (SELECT arch FROM candidates c WHERE c.id = candidate_id), gang_rank",
      request.lease_id(), request.worker_id());
  if (live.empty()) {
    // A retried report of a stored result is accepted once more, changing nothing.
    if (!tx.exec_params(
               "SELECT 1 FROM leases WHERE id = $1 AND worker_id = $2 AND state = 'COMPLETED'",
               request.lease_id(), request.worker_id())
             .empty()) {
      outcome.duplicate = true;
      return outcome;
    }
    return LeaseNotLive(tx, request.worker_id(), request.lease_id());
  }
  r.candidate_id = live[0][0].as<int64_t>();
  outcome.candidate_id = r.candidate_id;
  r.rung = live[0][1].as<int>();
  r.architecture = Parse<nas::v1::Architecture>(live[0][2]);
  r.spec = Parse<SearchSpec>(head[0][1]);
  r.device_tag = head[0][2].as<std::string>();
  switch (const nas::v1::WorkKind kind = ParseWorkKind(head[0][4].as<std::string>())) {
    case nas::v1::WORK_KIND_GANG_MEMBER:
      return StoreGangShare(tx, r, live[0][3].as<int>(), outcome);
    case nas::v1::WORK_KIND_MEASURE:
      return StoreMeasurement(tx, profiles, fronts, request, r.search_id, r.spec, r.candidate_id,
                              r.rung, r.architecture, head[0][3].as<int64_t>());
    case nas::v1::WORK_KIND_SUPERNET_EPOCH:
      if (!r.ok()) {
        return StoreFailure(tx, r, /*counts_toward_budget=*/false, profiles, fronts, outcome);
      }
      return StoreSupernetEpoch(
          tx, request, r.search_id, r.candidate_id,
          Parse<nas::v1::Fidelity>(
              tx.exec_params1("SELECT fidelity FROM candidates WHERE id = $1", r.candidate_id)[0])
              .epochs(),
          outcome);
    case nas::v1::WORK_KIND_TRAIN:
    case nas::v1::WORK_KIND_ESTIMATE:
      if (!r.ok()) {
        return StoreFailure(tx, r, /*counts_toward_budget=*/true, profiles, fronts, outcome);
      }
      return StoreCandidateResult(tx, r, options, profiles, fronts, outcome);
    default:
      return absl::InternalError(
          absl::StrCat("lease ", request.lease_id(), " of kind ", nas::v1::WorkKind_Name(kind)));
  }
}

}  // namespace

absl::StatusOr<std::vector<absl::StatusOr<ReportOutcome>>> Store::ReportResults(
    const std::vector<const nas::v1::ReportResultRequest*>& requests) {
  using Outcomes = std::vector<absl::StatusOr<ReportOutcome>>;
  return pool_->Run("ReportResult", [&](pqxx::work& tx) -> absl::StatusOr<Outcomes> {
    FrontCache fronts;
    Outcomes outcomes;
    if (requests.size() == 1) {
      // Alone: the transaction is the report's, an error rolls all of it back.
      absl::StatusOr<ReportOutcome> outcome =
          StoreReport(tx, *requests[0], pool_->options(), *profiles_, fronts);
      if (!outcome.ok()) return outcome.status();
      if (!outcome->duplicate) NotifyChange(tx);
      outcomes.push_back(std::move(outcome));
      return outcomes;
    }
    // Lock order: the searches' rows in id order (two batches on two controllers never wait
    // for each other in a cycle), then each report's lease.
    std::vector<int64_t> leases;
    for (const nas::v1::ReportResultRequest* r : requests) leases.push_back(r->lease_id());
    tx.exec_params(
        "SELECT id FROM searches WHERE id IN (SELECT search_id FROM leases "
        "WHERE id = ANY($1::BIGINT[])) ORDER BY id FOR NO KEY UPDATE",
        BigintArray(leases));
    // Each report in a savepoint of its own: one refused (a fenced lease) or failing report
    // leaves the others of the batch as they are.
    for (const nas::v1::ReportResultRequest* request : requests) {
      tx.exec0("SAVEPOINT report");
      absl::StatusOr<ReportOutcome> outcome;
      try {
        outcome = StoreReport(tx, *request, pool_->options(), *profiles_, fronts);
      } catch (const pqxx::broken_connection&) {
        throw;  // The batch fails as a whole: Run() answers Unavailable, workers resend.
      } catch (const pqxx::in_doubt_error&) {
        throw;
      } catch (const pqxx::transaction_rollback&) {
        throw;  // A deadlock or serialization failure: Run() retries the whole batch.
      } catch (const std::exception& e) {
        LOG(ERROR) << "event=report_failed lease=" << request->lease_id() << " error=\""
                   << absl::CHexEscape(e.what()) << "\"";
        outcome = absl::InternalError(absl::StrCat("store: ", e.what()));
      }
      if (outcome.ok()) {
        tx.exec0("RELEASE SAVEPOINT report");
      } else {
        tx.exec0("ROLLBACK TO SAVEPOINT report");
        // What the report changed in the fronts is gone from the database: read them again.
        fronts = FrontCache();
      }
      outcomes.push_back(std::move(outcome));
    }
    for (const absl::StatusOr<ReportOutcome>& o : outcomes) {
      if (o.ok() && !o->duplicate) {
        NotifyChange(tx);  // once for the batch
        break;
      }
    }
    return outcomes;
  });
}

}  // namespace nas
