// Row mapping shared by the store's files: protobuf columns, state names, events, and the
// column lists of searches, profiles and candidates. Internal to services/store.
#ifndef NAS_SERVICES_STORE_ROWS_H_
#define NAS_SERVICES_STORE_ROWS_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas.pb.h"
#include "proto/nas_service.pb.h"
#include "services/store/store.h"

namespace nas {

// The messages every file of the store reads and writes (this header is internal to it).
using nas::v1::CandidateMetrics;
using nas::v1::HardwareProfile;
using nas::v1::ProfileMetrics;
using nas::v1::SearchSpec;

std::string Bytes(const pqxx::field& f);
pqxx::binarystring Bin(const google::protobuf::Message& m);

template <typename M>
M Parse(const pqxx::field& f) {
  M m;
  m.ParseFromString(Bytes(f));
  return m;
}

nas::v1::SearchState SearchStateFromText(const std::string& s);
nas::v1::CandidateState CandidateStateFromText(const std::string& s);
// "name@version".
std::string ProfileId(const std::string& name, int version);

// AppendEvent() adds a search event; `hypervolume` -1 stores NULL (the event concerns no front).
void AppendEvent(pqxx::work& tx, int64_t search_id, nas::v1::SearchEventKind kind,
                 int64_t candidate_id, const std::string& profile_id, const std::string& message,
                 double hypervolume = -1);

// SequenceEvents() numbers (events.seq) every event whose transaction can no longer commit
// out of order: older than any transaction still running. Watchers read in that order, so none
// skips an event that committed late. One caller at a time numbers (a transaction-scoped
// advisory lock); another returns at once. Cheap when there is nothing to number.
void SequenceEvents(pqxx::work& tx);

// The LISTEN/NOTIFY channel of ChangeListener (change_listener.h).
inline constexpr char kChangeChannel[] = "nas_changes";
// NotifyChange() tells every controller's ChangeListener, when `tx` commits, that work was
// queued, results stored or a search ended (several in one transaction are delivered once).
void NotifyChange(pqxx::work& tx);

// DoubleArray() writes a PostgreSQL array literal that reads back exactly ("{-0.91,3.2}").
std::string DoubleArray(const std::vector<double>& values);
// ParseDoubleArray() reads what DoubleArray() wrote (as PostgreSQL prints it back).
std::vector<double> ParseDoubleArray(absl::string_view text);
// BigintArray() writes ids as a PostgreSQL array literal ("{3,5}"), for `= ANY($1::BIGINT[])`.
std::string BigintArray(const std::vector<int64_t>& ids);

// Column list that SearchFromRow() reads.
inline constexpr char kSearchColumns[] =
    "s.id, u.name, s.spec, s.state, s.message, rfc3339(s.created_at), rfc3339(s.updated_at), "
    "s.target, s.best_accuracy, "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'QUEUED'), "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'LEASED'), "
    "s.n_evaluated, s.n_failed, s.n_cancelled, s.evaluated_per_rung, "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.final_training "
    "  AND c.state <> 'CANCELLED'), "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.final_training "
    "  AND c.state = 'EVALUATED'), array_to_string(s.warnings, E'\\x1f') ";
nas::v1::Search SearchFromRow(const pqxx::row& r);
// LoadSearch() reads one of the caller's searches; NotFound for another user's.
absl::StatusOr<nas::v1::Search> LoadSearch(pqxx::work& tx, const Caller& caller, int64_t search_id);

inline constexpr char kProfileColumns[] =
    "hp.spec, hp.name, hp.version, u.name, hp.public, rfc3339(hp.created_at) "
    "FROM hardware_profiles hp LEFT JOIN users u ON u.id = hp.owner_id ";
// Profiles a caller may see: built-in, public, or their own.
inline constexpr char kVisibleToCaller[] = "(hp.owner_id IS NULL OR hp.public OR hp.owner_id = $1)";
// Reads kProfileColumns starting at column `first`: spec, name, version, owner name (NULL for
// built-in), public, created_at.
nas::v1::HardwareProfile ProfileFromRow(const pqxx::row& r, int first = 0);
// Splits "name@version" (version 0 when absent: the newest).
absl::StatusOr<std::pair<std::string, int>> SplitProfileId(const std::string& id);
// ResolveProfile() returns the database id and message of a profile the caller may see.
absl::StatusOr<std::pair<int64_t, nas::v1::HardwareProfile>> ResolveProfile(pqxx::work& tx,
                                                                            const Caller& caller,
                                                                            const std::string& id);

inline constexpr char kCandidateColumns[] =
    "c.id, c.search_id, c.arch, c.arch_hash, c.state, c.attempts, c.fidelity, c.error, "
    "rfc3339(c.created_at), rfc3339(c.evaluated_at), e.metrics, "
    "EXISTS (SELECT 1 FROM artifacts a WHERE a.candidate_id = c.id) "
    "FROM candidates c JOIN searches s ON s.id = c.search_id "
    "LEFT JOIN evaluations e ON e.candidate_id = c.id ";
nas::v1::Candidate CandidateFromRow(const pqxx::row& r);
// Attaches each candidate's per-profile metrics, in the search's profile order.
void AttachProfileMetrics(pqxx::work& tx, std::vector<nas::v1::Candidate>& candidates);

}  // namespace nas

#endif  // NAS_SERVICES_STORE_ROWS_H_
