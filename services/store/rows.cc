// Row mapping shared by the store's files (services/store/rows.h).
#include "services/store/rows.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "services/store/store.h"

namespace nas {

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

pqxx::binarystring Bin(const google::protobuf::Message& m) {
  return pqxx::binarystring(m.SerializeAsString());
}

nas::v1::SearchState SearchStateFromText(const std::string& s) {
  nas::v1::SearchState state = nas::v1::SEARCH_STATE_UNSPECIFIED;
  nas::v1::SearchState_Parse("SEARCH_STATE_" + s, &state);
  return state;
}

nas::v1::CandidateState CandidateStateFromText(const std::string& s) {
  nas::v1::CandidateState state = nas::v1::CANDIDATE_STATE_UNSPECIFIED;
  nas::v1::CandidateState_Parse("CANDIDATE_STATE_" + s, &state);
  return state;
}

std::string ProfileId(const std::string& name, int version) {
  return absl::StrCat(name, "@", version);
}

void AppendEvent(pqxx::work& tx, int64_t search_id, nas::v1::SearchEventKind kind,
                 int64_t candidate_id, const std::string& profile_id, const std::string& message,
                 double hypervolume) {
  // A hypervolume is never negative: -1 stores NULL (the event concerns no front).
  tx.exec_params(
      "INSERT INTO events (search_id, kind, candidate_id, profile_id, message, hypervolume) "
      "VALUES ($1, $2, NULLIF($3, 0), $4, $5, NULLIF($6::DOUBLE PRECISION, -1))",
      search_id, static_cast<int>(kind), candidate_id, profile_id, message, hypervolume);
}

// An arbitrary constant naming the event sequencer among the database's advisory locks.
constexpr int64_t kEventSequencerLock = 0x6e61735f73657100;  // "nas_seq"

void SequenceEvents(pqxx::work& tx) {
  if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kEventSequencerLock)[0].as<bool>()) {
    return;  // another transaction is numbering them now
  }
  // Below the snapshot's xmin every transaction has ended: those events are all visible now,
  // and any event still to commit belongs to a later transaction, numbered later.
  tx.exec(
      "WITH todo AS ("
      "  SELECT id, row_number() OVER (ORDER BY xid, id) AS n FROM events "
      "  WHERE seq IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())) "
      "UPDATE events e SET seq = (SELECT COALESCE(max(seq), 0) FROM events) + todo.n "
      "FROM todo WHERE e.id = todo.id");
}

// DoubleArray() writes a PostgreSQL array literal that reads back exactly ("{-0.91,3.2}").
std::string DoubleArray(const std::vector<double>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", absl::StrFormat("%.17g", values[i]));
  }
  return out + "}";
}

void NotifyChange(pqxx::work& tx) { tx.exec0(std::string("NOTIFY ") + kChangeChannel); }

std::string BigintArray(const std::vector<int64_t>& ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

// ParseDoubleArray() reads what DoubleArray() wrote (as PostgreSQL prints it back).
std::vector<double> ParseDoubleArray(absl::string_view text) {
  std::vector<double> values;
  text = absl::StripPrefix(absl::StripSuffix(text, "}"), "{");
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double v = 0;
    if (absl::SimpleAtod(part, &v)) values.push_back(v);
  }
  return values;
}

nas::v1::Search SearchFromRow(const pqxx::row& r) {
  nas::v1::Search s;
  s.set_id(r[0].as<int64_t>());
  s.set_owner(r[1].as<std::string>());
  *s.mutable_spec() = Parse<SearchSpec>(r[2]);
  s.set_state(SearchStateFromText(r[3].as<std::string>()));
  s.set_message(r[4].as<std::string>());
  s.set_created_at(r[5].as<std::string>());
  s.set_updated_at(r[6].as<std::string>());
  s.set_best_accuracy(r[8].as<double>());
  nas::v1::SearchProgress* p = s.mutable_progress();
  p->set_target(r[7].as<int>());
  p->set_queued(r[9].as<int>());
  p->set_leased(r[10].as<int>());
  p->set_evaluated(r[11].as<int>());
  p->set_failed(r[12].as<int>());
  p->set_cancelled(r[13].as<int>());
  for (double n : ParseDoubleArray(r[14].as<std::string>())) {
    p->add_evaluated_per_rung(static_cast<int>(n));
  }
  p->set_finalists(r[15].as<int>());
  p->set_finalists_trained(r[16].as<int>());
  // Warnings are joined with the unit separator, which no sentence holds.
  for (absl::string_view w : absl::StrSplit(r[17].as<std::string>(), '\x1f', absl::SkipEmpty())) {
    s.add_warnings(std::string(w));
  }
  return s;
}

absl::StatusOr<nas::v1::Search> LoadSearch(pqxx::work& tx, const Caller& caller,
                                           int64_t search_id) {
  pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kSearchColumns,
                                               "FROM searches s JOIN users u ON u.id = s.owner_id "
                                               "WHERE s.id = $1 AND s.owner_id = $2"),
                                  search_id, caller.user_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
  return SearchFromRow(r[0]);
}

// Reads kProfileColumns starting at column `first`: spec, name, version, owner name (NULL for
// built-in), public, created_at.
HardwareProfile ProfileFromRow(const pqxx::row& r, int first) {
  HardwareProfile p = Parse<HardwareProfile>(r[first]);
  p.set_name(r[first + 1].as<std::string>());
  p.set_version(r[first + 2].as<int>());
  p.set_id(ProfileId(p.name(), p.version()));
  p.set_owner(r[first + 3].is_null() ? "" : r[first + 3].as<std::string>());
  p.set_visibility(r[first + 4].as<bool>() ? nas::v1::VISIBILITY_PUBLIC
                                           : nas::v1::VISIBILITY_PRIVATE);
  p.set_created_at(r[first + 5].as<std::string>());
  return p;
}

// Splits "name@version" (version 0 when absent: the newest).
absl::StatusOr<std::pair<std::string, int>> SplitProfileId(const std::string& id) {
  std::vector<std::string> parts = absl::StrSplit(id, absl::MaxSplits('@', 1));
  if (parts[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat("profile id \"", id, "\": empty name"));
  }
  int version = 0;
  if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &version) || version <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("profile id \"", id, "\": the version after '@' must be a positive number"));
  }
  return std::make_pair(parts[0], version);
}

absl::StatusOr<std::pair<int64_t, HardwareProfile>> ResolveProfile(pqxx::work& tx,
                                                                   const Caller& caller,
                                                                   const std::string& id) {
  NAS_ASSIGN_OR_RETURN(auto name_version, SplitProfileId(id));
  pqxx::result r =
      tx.exec_params(absl::StrCat("SELECT hp.id, ", kProfileColumns, "WHERE ", kVisibleToCaller,
                                  " AND hp.name = $2 AND ($3 = 0 OR hp.version = $3) "
                                  // The caller's own private profile first, then the public one.
                                  "ORDER BY (hp.owner_id = $1 AND NOT hp.public) DESC NULLS LAST, "
                                  "  hp.version DESC LIMIT 1"),
                     caller.user_id, name_version.first, name_version.second);
  if (r.empty()) {
    return absl::NotFoundError(absl::StrCat("hardware profile \"", id, "\" not found"));
  }
  return std::make_pair(r[0][0].as<int64_t>(), ProfileFromRow(r[0], /*first=*/1));
}

nas::v1::Candidate CandidateFromRow(const pqxx::row& r) {
  nas::v1::Candidate c;
  c.set_id(r[0].as<int64_t>());
  c.set_search_id(r[1].as<int64_t>());
  *c.mutable_architecture() = Parse<nas::v1::Architecture>(r[2]);
  c.set_architecture_hash(r[3].as<std::string>());
  c.set_state(CandidateStateFromText(r[4].as<std::string>()));
  c.set_attempts(r[5].as<int>());
  *c.mutable_fidelity() = Parse<nas::v1::Fidelity>(r[6]);
  c.set_error(r[7].as<std::string>());
  c.set_created_at(r[8].as<std::string>());
  if (!r[9].is_null()) c.set_evaluated_at(r[9].as<std::string>());
  if (!r[10].is_null()) *c.mutable_metrics() = Parse<CandidateMetrics>(r[10]);
  c.set_has_artifact(r[11].as<bool>() && c.state() == nas::v1::CANDIDATE_STATE_EVALUATED);
  return c;
}

// Attaches each candidate's per-profile metrics, in the search's profile order.
void AttachProfileMetrics(pqxx::work& tx, std::vector<nas::v1::Candidate>& candidates) {
  if (candidates.empty()) return;
  std::map<int64_t, nas::v1::Candidate*> by_id;
  int64_t lo = candidates.front().id(), hi = lo;
  for (nas::v1::Candidate& c : candidates) {
    by_id[c.id()] = &c;
    lo = std::min(lo, c.id());
    hi = std::max(hi, c.id());
  }
  for (const pqxx::row& r :
       tx.exec_params("SELECT pm.candidate_id, pm.metrics FROM profile_metrics pm "
                      "JOIN search_profiles sp ON sp.search_id = pm.search_id "
                      "  AND sp.profile_id = pm.profile_id "
                      "WHERE pm.search_id = $1 AND pm.candidate_id BETWEEN $2 AND $3 "
                      "ORDER BY pm.candidate_id, sp.position",
                      candidates.front().search_id(), lo, hi)) {
    auto it = by_id.find(r[0].as<int64_t>());
    if (it != by_id.end()) *it->second->add_profile_metrics() = Parse<ProfileMetrics>(r[1]);
  }
}

}  // namespace nas
