// Searches: creating, reading, listing and cancelling them.
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "engine/lifecycle.h"
#include "search/search_space.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {

absl::StatusOr<nas::v1::Search> Store::CreateSearch(const Caller& caller, const SearchSpec& spec,
                                                    const std::vector<HardwareProfile>& profiles,
                                                    const std::string& strategy_state) {
  return pool_->Run("CreateSearch", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
    const int64_t wall = spec.budget().max_wall_seconds();
    const int64_t id =
        tx.exec_params1(
              "INSERT INTO searches "
              "  (owner_id, display_name, spec, state, target, deadline_at, dataset, "
              "   evaluated_per_rung) "
              "VALUES ($1, $2, $3, 'RUNNING', $4, "
              "  CASE WHEN $5 > 0 THEN now() + $5 * interval '1 second' END, $6, "
              "  CASE WHEN $7 > 1 THEN array_fill(0, ARRAY[$7]) ELSE '{}' END) RETURNING id",
              caller.user_id, spec.display_name(), Bin(spec), engine::EvaluationTarget(spec), wall,
              spec.dataset(), engine::FinalRung(spec) + 1)[0]
            .as<int64_t>();
    for (size_t i = 0; i < profiles.size(); ++i) {
      NAS_ASSIGN_OR_RETURN(auto resolved, ResolveProfile(tx, caller, profiles[i].id()));
      tx.exec_params(
          "INSERT INTO search_profiles (search_id, position, profile_id) VALUES ($1, $2, $3)", id,
          static_cast<int>(i), resolved.first);
    }
    tx.exec_params("INSERT INTO strategy_state (search_id, state) VALUES ($1, $2)", id,
                   pqxx::binarystring(strategy_state));
    int initial = 0;
    // The reference first: its figures are what every candidate is compared with.
    bool reference_reused = false;
    if (spec.has_reference()) {
      const nas::v1::Fidelity fidelity = engine::ReferenceFidelity(spec);
      InsertCandidate(tx, id, spec.reference().architecture(), fidelity);
      // Trained alike in an earlier search of this owner: reused, not trained again.
      const int64_t ref_id =
          tx.exec_params1("SELECT id FROM candidates WHERE search_id = $1 AND arch_hash = $2 "
                          "AND rung = $3",
                          id, Sha256Hex(CanonicalKey(spec.reference().architecture())),
                          fidelity.rung())[0]
              .as<int64_t>();
      reference_reused = ReuseEarlierTraining(tx, *profiles_, id, spec, ref_id,
                                              spec.reference().architecture(), fidelity);
    }
    for (const nas::v1::Architecture& arch : spec.initial_architectures()) {
      initial += InsertCandidate(tx, id, arch, engine::Rungs(spec).front()) ? 1 : 0;
    }
    AppendEvent(
        tx, id, nas::v1::SEARCH_EVENT_KIND_SNAPSHOT, 0, "",
        absl::StrCat("search submitted by ", caller.name, ": ", spec.strategy().name(), " over ",
                     spec.space().name(), ", ", spec.budget().max_candidates(), " candidates",
                     initial > 0 ? absl::StrCat(", ", initial, " given") : "",
                     spec.has_reference()
                         ? absl::StrCat(", reference ",
                                        spec.reference().preset().empty()
                                            ? std::string("given")
                                            : spec.reference().preset(),
                                        reference_reused ? " (trained before: reused)" : "")
                         : ""));
    return LoadSearch(tx, caller, id);
  });
}

absl::StatusOr<nas::v1::Search> Store::GetSearch(const Caller& caller, int64_t search_id) {
  return pool_->Run("GetSearch", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
    return LoadSearch(tx, caller, search_id);
  });
}

absl::StatusOr<std::vector<nas::v1::Search>> Store::ListSearches(const Caller& caller, int limit,
                                                                 int64_t before_id) {
  return pool_->Run(
      "ListSearches", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::Search>> {
        std::vector<nas::v1::Search> out;
        for (const pqxx::row& r :
             tx.exec_params(absl::StrCat("SELECT ", kSearchColumns,
                                         "FROM searches s JOIN users u ON u.id = s.owner_id "
                                         "WHERE s.owner_id = $1 AND ($2 = 0 OR s.id < $2) "
                                         "ORDER BY s.id DESC LIMIT $3"),
                            caller.user_id, before_id, limit)) {
          out.push_back(SearchFromRow(r));
        }
        return out;
      });
}

absl::StatusOr<nas::v1::Search> Store::CancelSearch(const Caller& caller, int64_t search_id) {
  return pool_->Run("CancelSearch", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
    pqxx::result r = tx.exec_params(
        "SELECT state FROM searches WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE", search_id,
        caller.user_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    const std::string state = r[0][0].as<std::string>();
    if (state != "RUNNING") {
      return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " already ended (",
                                                        absl::AsciiStrToLower(state), ")"));
    }
    EndSearch(tx, search_id, {"CANCELLED", absl::StrCat("cancelled by ", caller.name)});
    return LoadSearch(tx, caller, search_id);
  });
}

absl::StatusOr<std::vector<int64_t>> Store::RunningSearchIds() {
  return pool_->Run(
      "RunningSearchIds", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<int64_t>> {
        std::vector<int64_t> ids;
        for (const pqxx::row& r : tx.exec("SELECT id FROM searches WHERE state = 'RUNNING'")) {
          ids.push_back(r[0].as<int64_t>());
        }
        return ids;
      });
}

}  // namespace nas
