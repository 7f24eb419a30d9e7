#include "services/store/transitions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/error_reason.h"
#include "search/search_space.h"
#include "services/store/rows.h"

namespace nas {

bool InsertCandidate(pqxx::work& tx, int64_t search_id, const nas::v1::Architecture& arch,
                     const nas::v1::Fidelity& fidelity) {
  return !tx.exec_params(
                "INSERT INTO candidates (search_id, arch, arch_hash, rung, fidelity, state) "
                "VALUES ($1, $2, $3, $4, $5, 'QUEUED') ON CONFLICT DO NOTHING RETURNING id",
                search_id, Bin(arch), ArchitectureHash(arch), fidelity.rung(), Bin(fidelity))
              .empty();
}

Counted CountFinal(pqxx::work& tx, int64_t search_id, absl::string_view to, int n,
                   double accuracy) {
  const std::string c = absl::StrCat("n_", absl::AsciiStrToLower(to));
  pqxx::row r =
      tx.exec_params1(absl::StrCat("UPDATE searches SET updated_at = now(), ", c, " = ", c,
                                   " + $2, "
                                   "best_accuracy = greatest(best_accuracy, $3) "
                                   "WHERE id = $1 RETURNING target, n_evaluated, n_failed, "
                                   "array_to_string(evaluated_per_rung, ', '), "
                                   "COALESCE(search_phase_end, '')"),
                      search_id, n, accuracy);
  return {{r[0].as<int>(), r[1].as<int>(), r[2].as<int>()},
          r[3].as<std::string>(),
          r[4].as<std::string>()};
}

int CancelOutstanding(pqxx::work& tx, int64_t search_id, bool keep_finalists) {
  tx.exec_params(
      "UPDATE leases l SET state = 'REVOKED', ended_at = now() "
      "WHERE l.search_id = $1 AND l.state = 'ACTIVE' AND NOT ($2 AND EXISTS ("
      "  SELECT 1 FROM candidates c WHERE c.id = l.candidate_id AND c.final_training))",
      search_id, keep_finalists);
  const int cancelled =
      static_cast<int>(tx.exec_params("UPDATE candidates SET state = 'CANCELLED' "
                                      "WHERE search_id = $1 AND state IN ('QUEUED', 'LEASED') "
                                      "AND NOT ($2 AND final_training)",
                                      search_id, keep_finalists)
                           .affected_rows());
  tx.exec_params("UPDATE searches SET n_cancelled = n_cancelled + $2 WHERE id = $1", search_id,
                 cancelled);
  return cancelled;
}

void EndSearch(pqxx::work& tx, int64_t search_id, const engine::SearchEnd& end) {
  CancelOutstanding(tx, search_id, /*keep_finalists=*/false);
  tx.exec_params("UPDATE searches SET state = $2, message = $3, updated_at = now() WHERE id = $1",
                 search_id, end.state, end.message);
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_SEARCH_ENDED, 0, "",
              absl::StrCat("search ", absl::AsciiStrToLower(end.state), ": ", end.message));
  NotifyChange(tx);
}

bool EndIfBudgetSpent(pqxx::work& tx, int64_t search_id, const Counted& counted) {
  const std::optional<engine::SearchEnd> end = engine::EndIfBudgetSpent(
      counted.budget, counted.evaluated_per_rung, counted.search_phase_end);
  if (end.has_value()) EndSearch(tx, search_id, *end);
  return end.has_value();
}

std::optional<ReferenceRow> FindReference(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                                          int rung) {
  if (!spec.has_reference()) return std::nullopt;
  const pqxx::result r = tx.exec_params(
      "SELECT id, state FROM candidates WHERE search_id = $1 AND arch_hash = $2 AND rung = $3",
      search_id, ArchitectureHash(spec.reference().architecture()), rung);
  if (r.empty()) return std::nullopt;
  return ReferenceRow{r[0][0].as<int64_t>(), r[0][1].as<std::string>()};
}

absl::Status LeaseNotLive(pqxx::work& tx, int64_t worker_id, int64_t lease_id) {
  pqxx::result r = tx.exec_params(
      "SELECT state, worker_id, expires_at < now(), candidate_id FROM leases WHERE id = $1",
      lease_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("lease ", lease_id, " not found"));
  if (r[0][1].as<int64_t>() != worker_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("lease ", lease_id, " belongs to another worker"));
  }
  const std::string state = r[0][0].as<std::string>();
  const int64_t candidate = r[0][3].as<int64_t>();
  std::string why;
  if (state == "ACTIVE" && r[0][2].as<bool>()) {
    why = absl::StrCat("lease ", lease_id, " expired; candidate ", candidate, " will be re-queued");
  } else if (state == "EXPIRED") {
    why = absl::StrCat("lease ", lease_id, " expired; candidate ", candidate, " was re-queued");
  } else if (state == "REVOKED") {
    why = absl::StrCat("lease ", lease_id,
                       " was revoked: its search ended (or its search phase, for final training)");
  } else {
    why = absl::StrCat("lease ", lease_id, " is ", absl::AsciiStrToLower(state));
  }
  // The fence: the one FAILED_PRECONDITION that tells a worker to drop the work.
  return WithReason(absl::FailedPreconditionError(why), ErrorReason::kLeaseFenced);
}

absl::StatusOr<std::pair<int64_t, int64_t>> LockLiveLease(pqxx::work& tx, int64_t worker_id,
                                                          int64_t lease_id) {
  pqxx::result s = tx.exec_params("SELECT search_id FROM leases WHERE id = $1", lease_id);
  if (s.empty()) return absl::NotFoundError(absl::StrCat("lease ", lease_id, " not found"));
  tx.exec_params("SELECT 1 FROM searches WHERE id = $1 FOR NO KEY UPDATE", s[0][0].as<int64_t>());
  pqxx::result r = tx.exec_params(
      "SELECT candidate_id, search_id FROM leases "
      "WHERE id = $1 AND worker_id = $2 AND state = 'ACTIVE' "
      "FOR UPDATE",
      lease_id, worker_id);
  if (r.empty()) return LeaseNotLive(tx, worker_id, lease_id);
  return std::make_pair(r[0][0].as<int64_t>(), r[0][1].as<int64_t>());
}

}  // namespace nas
