// Searches: creating, reading, listing and cancelling them.
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/lifecycle.h"
#include "search/search_space.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {

namespace {

// The earlier search's evaluated networks a warm start seeds a search with, most accurate
// first (one per network: its highest rung), at most `limit`. InvalidArgument when the earlier
// search is not the caller's.
absl::StatusOr<std::vector<nas::v1::Architecture>> WarmStartSeeds(pqxx::work& tx,
                                                                  const Caller& caller,
                                                                  const nas::v1::WarmStart& from,
                                                                  int limit) {
  if (tx.exec_params("SELECT 1 FROM searches WHERE id = $1 AND owner_id = $2", from.search_id(),
                     caller.user_id)
          .empty()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.warm_start.search_id: search ",
                                                   from.search_id(), " not found among yours"));
  }
  std::vector<nas::v1::Architecture> seeds;
  for (const pqxx::row& r : tx.exec_params(
           "SELECT arch FROM ("
           "  SELECT DISTINCT ON (c.arch_hash) c.arch, e.val_accuracy, c.id "
           "  FROM candidates c JOIN evaluations e ON e.candidate_id = c.id "
           "  WHERE c.search_id = $1 AND c.state = 'EVALUATED' AND NOT c.final_training "
           "    AND ($2 OR EXISTS (SELECT 1 FROM pareto_members pm "
           "                       WHERE pm.search_id = c.search_id AND pm.candidate_id = c.id)) "
           "  ORDER BY c.arch_hash, c.rung DESC, c.id) t "
           "ORDER BY val_accuracy DESC, id LIMIT $3",
           from.search_id(), from.seeds() == "all", limit)) {
    seeds.push_back(Parse<nas::v1::Architecture>(r[0]));
  }
  return seeds;
}

// Seeds the new search `id` from an earlier one: each seed in the space is queued at the first
// rung, and its earlier training reused when it was alike. Returns the sentence for the
// submission event.
absl::StatusOr<std::string> SeedFromEarlierSearch(pqxx::work& tx, SearchProfileCache& profiles,
                                                  const Caller& caller, int64_t id,
                                                  const SearchSpec& spec) {
  // Seeds fill what the given architectures and the reference leave of the budget.
  int room = spec.budget().max_candidates() - spec.initial_architectures_size() -
             (spec.has_reference() && !spec.has_multi_fidelity() ? 1 : 0);
  if (spec.warm_start().max_seeds() > 0) room = std::min(room, spec.warm_start().max_seeds());
  NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::Architecture> seeds,
                       WarmStartSeeds(tx, caller, spec.warm_start(), std::max(room, 0)));
  NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(spec.space()));
  const nas::v1::Fidelity first = engine::Rungs(spec).front();
  int queued = 0, reused = 0, outside = 0;
  for (const nas::v1::Architecture& arch : seeds) {
    if (!ValidateArchitecture(arch, space).ok()) {
      ++outside;
      continue;
    }
    if (!InsertCandidate(tx, id, arch, first)) continue;  // also given, or the reference
    ++queued;
    const int64_t candidate =
        tx.exec_params1(
              "SELECT id FROM candidates WHERE search_id = $1 AND arch_hash = $2 "
              "AND rung = $3",
              id, ArchitectureHash(arch), first.rung())[0]
            .as<int64_t>();
    if (ReuseEarlierTraining(tx, profiles, id, spec, candidate, arch, first, "a warm-start seed")) {
      ++reused;
    }
  }
  return absl::StrCat(", warm start from search ", spec.warm_start().search_id(), ": ", queued,
                      " seeds (", reused, " trained alike before: reused, not trained again",
                      outside > 0 ? absl::StrCat("; ", outside, " outside the space skipped") : "",
                      ")");
}

}  // namespace

absl::StatusOr<nas::v1::Search> Store::CreateSearch(const Caller& caller, const SearchSpec& spec,
                                                    const std::vector<HardwareProfile>& profiles,
                                                    const std::string& strategy_state,
                                                    const std::vector<std::string>& warnings) {
  return pool_->Run("CreateSearch", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
    const int64_t wall = spec.budget().max_wall_seconds();
    const int64_t id =
        tx.exec_params1(
              "INSERT INTO searches "
              "  (owner_id, display_name, spec, state, target, deadline_at, dataset, "
              "   evaluated_per_rung, warnings) "
              "VALUES ($1, $2, $3, 'RUNNING', $4, "
              "  CASE WHEN $5 > 0 THEN now() + $5 * interval '1 second' END, $6, "
              "  CASE WHEN $7 > 1 THEN array_fill(0, ARRAY[$7]) ELSE '{}' END, "
              "  string_to_array($8, E'\\x1f')) RETURNING id",
              caller.user_id, spec.display_name(), Bin(spec), engine::EvaluationTarget(spec), wall,
              spec.dataset(), engine::FinalRung(spec) + 1, absl::StrJoin(warnings, "\x1f"))[0]
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
      const int64_t ref_id = FindReference(tx, id, spec, fidelity.rung())->candidate_id;
      reference_reused =
          ReuseEarlierTraining(tx, *profiles_, id, spec, ref_id, spec.reference().architecture(),
                               fidelity, "the reference");
    }
    for (const nas::v1::Architecture& arch : spec.initial_architectures()) {
      initial += InsertCandidate(tx, id, arch, engine::Rungs(spec).front()) ? 1 : 0;
    }
    std::string warm_start;
    if (spec.has_warm_start()) {
      NAS_ASSIGN_OR_RETURN(warm_start, SeedFromEarlierSearch(tx, *profiles_, caller, id, spec));
    }
    AppendEvent(
        tx, id, nas::v1::SEARCH_EVENT_KIND_SNAPSHOT, 0, "",
        absl::StrCat(
            "search submitted by ", caller.name, ": ", spec.strategy().name(), " over ",
            spec.space().name(), ", ", spec.budget().max_candidates(), " candidates",
            initial > 0 ? absl::StrCat(", ", initial, " given") : "",
            spec.has_reference()
                ? absl::StrCat(", reference ",
                               spec.reference().preset().empty() ? std::string("given")
                                                                 : spec.reference().preset(),
                               reference_reused ? " (trained before: reused)" : "")
                : "",
            warm_start));
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

absl::StatusOr<nas::v1::Search> Store::ExtendSearch(const Caller& caller, int64_t search_id,
                                                    int add_candidates, int64_t add_wall_seconds) {
  return pool_->Run("ExtendSearch", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
    pqxx::result r = tx.exec_params(
        "SELECT state, spec, n_evaluated + n_failed, target, deadline_at IS NOT NULL, "
        "  COALESCE(deadline_at < now(), false), COALESCE(search_phase_end, ''), "
        "  (SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.final_training), "
        "  (SELECT count(*) FROM candidates c WHERE c.search_id = s.id "
        "     AND c.state = 'CANCELLED' AND NOT c.final_training) "
        "FROM searches s WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE",
        search_id, caller.user_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    const std::string state = r[0][0].as<std::string>();
    SearchSpec spec = Parse<SearchSpec>(r[0][1]);
    const int finished = r[0][2].as<int>();
    const bool has_deadline = r[0][4].as<bool>();
    const bool overdue = r[0][5].as<bool>();
    const int cancelled = r[0][8].as<int>();
    if (r[0][7].as<int>() > 0 || !r[0][6].as<std::string>().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("search ", search_id,
                       ": its search phase is over and final training has begun; "
                       "submit a new search with warm_start.search_id = ",
                       search_id, " to go on from its candidates"));
    }
    nas::v1::Budget* budget = spec.mutable_budget();
    const int64_t candidates = int64_t{budget->max_candidates()} + add_candidates;
    if (candidates > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat("add_candidates: ", budget->max_candidates(), " + ", add_candidates,
                       " exceeds the most candidates a search may have (1,000,000)"));
    }
    const int64_t wall = budget->max_wall_seconds() + (has_deadline ? add_wall_seconds : 0);
    if (wall > 30 * 24 * 3600) {
      return absl::InvalidArgumentError(
          absl::StrCat("add_wall_seconds: ", budget->max_wall_seconds(), " + ", add_wall_seconds,
                       " exceeds the longest wall-clock budget (30 days)"));
    }
    budget->set_max_candidates(static_cast<int>(candidates));
    budget->set_max_wall_seconds(wall);
    const int target = engine::EvaluationTarget(spec);
    if (state == "RUNNING" && add_candidates == 0 && (add_wall_seconds == 0 || !has_deadline)) {
      return absl::InvalidArgumentError(
          absl::StrCat("search ", search_id, " is running: give add_candidates",
                       has_deadline ? " or add_wall_seconds" : "", " to extend it"));
    }
    if (state != "RUNNING") {
      if (overdue && (!has_deadline || add_wall_seconds == 0)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "search ", search_id, ": its wall-clock budget is spent; give add_wall_seconds"));
      }
      if (finished >= target && cancelled == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("search ", search_id, ": its budget of ", target,
                         " evaluations is spent; give add_candidates to run it further"));
      }
    }
    // The deadline moves from itself, or from now once passed.
    tx.exec_params(
        "UPDATE searches SET spec = $2, target = $3, state = 'RUNNING', message = '', "
        "  deadline_at = CASE WHEN deadline_at IS NOT NULL AND $4 > 0 "
        "    THEN greatest(deadline_at, now()) + $4 * interval '1 second' ELSE deadline_at END, "
        "  updated_at = now() WHERE id = $1",
        search_id, Bin(spec), target, add_wall_seconds);
    int requeued = 0;
    if (state != "RUNNING") {
      requeued = static_cast<int>(
          tx.exec_params("UPDATE candidates SET state = 'QUEUED' WHERE search_id = $1 "
                         "AND state = 'CANCELLED' AND NOT final_training",
                         search_id)
              .affected_rows());
      tx.exec_params("UPDATE searches SET n_cancelled = n_cancelled - $2 WHERE id = $1", search_id,
                     requeued);
    }
    AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_SEARCH_EXTENDED, 0, "",
                absl::StrCat("search ", state == "RUNNING" ? "extended" : "resumed", " by ",
                             caller.name, ": ", spec.budget().max_candidates(), " candidates",
                             add_candidates > 0 ? absl::StrCat(" (+", add_candidates, ")") : "",
                             has_deadline && add_wall_seconds > 0
                                 ? absl::StrCat(", wall clock +", add_wall_seconds, " s")
                                 : "",
                             requeued > 0 ? absl::StrCat(", ", requeued,
                                                         " cancelled candidates queued again")
                                          : ""));
    NotifyChange(tx);
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
