// Store: every piece of the service's state, in PostgreSQL through libpqxx. One class, its
// methods in one file per aggregate: users.cc, profiles.cc, searches.cc, refill.cc (applies
// engine/ plans), leases.cc, results.cc, reads.cc; pool.h lends the connections, rows.h maps
// rows, transitions.h holds the state changes several of them share.
//
// Each public method is one transaction: it either commits all of a state change or none of it.
// Methods taking a `Caller` only see that user's searches, candidates, models and private
// profiles; another user's id answers NotFound, exactly like one that does not exist.
//
//   absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.database_url = url});
//   absl::StatusOr<nas::v1::Search> search = (*store)->CreateSearch(caller, spec, profiles);
//
// Concurrency: a small pool of connections; row locks (SELECT ... FOR UPDATE, SKIP LOCKED) order
// concurrent leases, reports and refills, so several controllers may share one database.
#ifndef NAS_SERVICES_STORE_STORE_H_
#define NAS_SERVICES_STORE_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/strategy_cache.h"
#include "proto/nas.pb.h"
#include "proto/nas_service.pb.h"
#include "proto/trainer_service.pb.h"

namespace nas {

// Caller: an authenticated user.
struct Caller {
  int64_t user_id = 0;
  std::string name;
  bool admin = false;
};

struct StoreOptions {
  // libpq connection string or URL, e.g. "postgresql:///nas?host=/tmp/pg".
  std::string database_url;
  // Connections kept open. Each concurrent call holds one for its transaction.
  int pool_size = 8;
  // How long a call waits for a free connection before answering Unavailable.
  absl::Duration acquire_timeout = absl::Seconds(10);
  // Every pooled session's statement_timeout; idle_in_transaction_session_timeout is twice
  // this. The longest a transaction may take, and so how long the pool may go without a
  // connection coming back before Store::Health() calls it stalled.
  absl::Duration statement_timeout = absl::Seconds(30);
  // A worker is quarantined (gets no work for `quarantine_for`) once this many different
  // candidates it failed in a row, with no success of its own between, were evaluated by other
  // workers: the fault is the worker's, not the candidates'. 0 never quarantines.
  int quarantine_after = 3;
  absl::Duration quarantine_for = absl::Minutes(10);
  // Called after every store operation (the Store method's name, e.g. "ReportResult") with its
  // wall time and outcome, when set (services/metrics.h records it).
  std::function<void(const char* operation, absl::Duration took, const absl::Status& status)>
      on_operation;
};

// StoreSnapshot: what the database says now, for the controller's metrics (read at scrape).
struct StoreSnapshot {
  // Searches by state (RUNNING, SUCCEEDED, FAILED, CANCELLED), zeros included.
  std::map<std::string, int64_t> searches_by_state;
  int64_t queued = 0;               // candidates waiting for a worker, every search
  int64_t workers_active = 0;       // workers heard from in the last minute
  int64_t workers_quarantined = 0;  // workers in quarantine now
  struct Front {
    std::string profile_id;  // "name@version"
    int64_t size = 0;
    double hypervolume = 0;
  };
  struct Search {
    int64_t id = 0;
    std::string state;
    // Candidates by state (QUEUED, LEASED, EVALUATED, FAILED, CANCELLED), zeros included.
    std::map<std::string, int64_t> candidates_by_state;
    int64_t target = 0;
    double best_accuracy = 0;
    // Since the last stored result (or the search's creation, before any).
    double seconds_since_progress = 0;
    std::vector<Front> fronts;  // per profile, in the search's order
  };
  // Running searches, and those that ended within `recent` (bounded label sets).
  std::vector<Search> searches;
};

struct RefillResult {
  int inserted = 0;    // New candidates queued.
  int duplicates = 0;  // Proposals already in the search.
  bool ended = false;  // The search finished (budget spent or space exhausted).
};

// ReportOutcome: what storing a worker's report did.
struct ReportOutcome {
  bool duplicate = false;
  int64_t search_id = 0;
  int64_t candidate_id = 0;
  bool search_ended = false;
  // A measure-only worker's latency measurement, not an evaluation.
  bool measurement = false;
  // A rank > 0 of a data-parallel supernet epoch reporting its share: no evaluation either.
  bool gang_member = false;
  // Workers this result put in quarantine (their failures of this candidate and others
  // succeeded here), each with the reason.
  std::vector<std::pair<int64_t, std::string>> quarantined;
  // (profile id, |predicted - measured| / measured latency) for each predicting profile (lut,
  // roofline) of the reporting worker's device, when the worker measured the latency.
  std::vector<std::pair<std::string, double>> prediction_errors;
};

// LeaseExpiry: a lease the sweep ended.
struct LeaseExpiry {
  int64_t lease_id = 0;
  int64_t candidate_id = 0;
  int64_t search_id = 0;
  bool requeued = false;  // False when the candidate ran out of attempts.
};

class SearchProfileCache;
class HealthProbe;

class Store {
 public:
  // Store::Open() connects, applies pending migrations (under an advisory lock) and seeds the
  // built-in hardware profiles. Unavailable when the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();

  // ---- Users and tokens -------------------------------------------------------------------

  // Store::CountUsers() returns how many users exist (0 on a fresh database).
  absl::StatusOr<int64_t> CountUsers();
  // Store::CreateUser() adds a user; AlreadyExists if the name is taken.
  absl::StatusOr<nas::v1::User> CreateUser(const std::string& name, bool admin);
  absl::StatusOr<std::vector<nas::v1::User>> ListUsers();
  absl::StatusOr<nas::v1::User> GetUserByName(const std::string& name);
  // Store::AddToken() stores a token's SHA-256 for a user and returns the token's id.
  absl::StatusOr<int64_t> AddToken(int64_t user_id, const std::string& token_sha256,
                                   const std::string& label);
  // Store::RevokeToken() revokes a token; only its owner or an admin may.
  absl::Status RevokeToken(const Caller& caller, int64_t token_id);
  // Store::Authenticate() returns the user a live token belongs to; Unauthenticated otherwise.
  absl::StatusOr<Caller> Authenticate(const std::string& token_sha256);

  // ---- Hardware profiles ------------------------------------------------------------------

  // Store::RegisterProfile() stores a new version of `profile.name()`, owned by the caller
  // (or built in, when `builtin`). AlreadyExists if another user owns the name;
  // PermissionDenied for a public profile from a non-admin.
  absl::StatusOr<nas::v1::HardwareProfile> RegisterProfile(const Caller& caller,
                                                           nas::v1::HardwareProfile profile,
                                                           bool builtin = false);
  // Store::GetProfile() resolves "name@version" or "name" (newest) among the profiles the caller
  // may see. NotFound otherwise.
  absl::StatusOr<nas::v1::HardwareProfile> GetProfile(const Caller& caller,
                                                      const std::string& profile_id);
  // Store::ListProfiles() returns the newest version of every profile the caller may see.
  absl::StatusOr<std::vector<nas::v1::HardwareProfile>> ListProfiles(const Caller& caller);

  // ---- Searches ---------------------------------------------------------------------------

  // Store::CreateSearch() stores a validated spec with its resolved profiles, the strategy's
  // initial state and the warnings it is accepted with; queues its reference, given
  // architectures and warm-start seeds (reusing earlier trainings alike). The strategy's
  // candidates are queued by Refill().
  absl::StatusOr<nas::v1::Search> CreateSearch(
      const Caller& caller, const nas::v1::SearchSpec& spec,
      const std::vector<nas::v1::HardwareProfile>& profiles, const std::string& strategy_state,
      const std::vector<std::string>& warnings = {});
  absl::StatusOr<nas::v1::Search> GetSearch(const Caller& caller, int64_t search_id);
  absl::StatusOr<std::vector<nas::v1::Search>> ListSearches(const Caller& caller, int limit,
                                                            int64_t before_id);
  // Store::CancelSearch() cancels queued candidates and revokes live leases.
  // FailedPrecondition if the search already ended.
  absl::StatusOr<nas::v1::Search> CancelSearch(const Caller& caller, int64_t search_id);
  // Store::ExtendSearch() raises a search's budget (candidates, wall-clock seconds) and runs an
  // ended one again, queueing its cancelled candidates anew. FailedPrecondition when nothing
  // would run or final training has begun; InvalidArgument for a budget out of range.
  absl::StatusOr<nas::v1::Search> ExtendSearch(const Caller& caller, int64_t search_id,
                                               int add_candidates, int64_t add_wall_seconds);
  // Store::RunningSearchIds() lists every running search (for the scheduler).
  absl::StatusOr<std::vector<int64_t>> RunningSearchIds();
  // Store::Refill() tops up a running search's queue: within one transaction it reads the
  // search for engine::PlanRefill() (which asks the search's strategy in `strategies`), then
  // queues the supernet epoch, promotions and proposals of the plan (dropping duplicates),
  // saves the strategy state, and ends the search when the plan says so.
  absl::StatusOr<RefillResult> Refill(int64_t search_id, engine::StrategyCache& strategies);

  // ---- Candidates, fronts, models ---------------------------------------------------------

  absl::StatusOr<std::vector<nas::v1::Candidate>> ListCandidates(
      const Caller& caller, const nas::v1::ListCandidatesRequest& request);
  absl::StatusOr<nas::v1::Candidate> GetCandidate(const Caller& caller, int64_t candidate_id);
  // Store::GetParetoFront() returns the stored front of a search on one of its profiles.
  absl::StatusOr<nas::v1::ParetoFront> GetParetoFront(const Caller& caller, int64_t search_id,
                                                      const std::string& profile_id);
  // Store::GetArtifact() returns a fetchable model's metadata and bytes in `format` (a known
  // one; empty: the natural format for `profile_id`, a profile of the candidate's search, or
  // TorchScript without one). The metadata lists the formats stored and the candidate's
  // figures on each profile of its search.
  absl::StatusOr<std::pair<nas::v1::ModelMetadata, std::string>> GetArtifact(
      const Caller& caller, int64_t candidate_id, const std::string& format,
      const std::string& profile_id);
  // Store::GetArtifactBySha() returns the bytes of a stored file (a supernet checkpoint) by
  // its hex SHA-256, for workers. NotFound when no file has it.
  absl::StatusOr<std::string> GetArtifactBySha(const std::string& sha256);
  // Store::CheckReusableSupernet() checks that a new weight-sharing search (`spec`, normalised)
  // may reuse the supernet of the caller's search `search_id`: a weight-sharing search of the
  // same space and dataset whose supernet is trained. InvalidArgument or FailedPrecondition
  // naming spec.strategy.settings[supernet_search] otherwise.
  absl::Status CheckReusableSupernet(const Caller& caller, int64_t search_id,
                                     const nas::v1::SearchSpec& spec);
  // Store::LatestEventId() returns the id (seq) of a search's newest event in watch order.
  absl::StatusOr<int64_t> LatestEventId(const Caller& caller, int64_t search_id);
  // Store::EventsAfter() returns up to `limit` events of a search after `after_id`, in the
  // order their transactions became final (events.seq, the SearchEvent's event_id): a watcher
  // resuming after an id never skips an event that committed late, whichever controller
  // stored it.
  absl::StatusOr<std::vector<nas::v1::SearchEvent>> EventsAfter(const Caller& caller,
                                                                int64_t search_id, int64_t after_id,
                                                                int limit);

  // ---- Workers and leases -----------------------------------------------------------------

  absl::StatusOr<int64_t> RegisterWorker(const nas::v1::RegisterWorkerRequest& request);
  // Store::ServedDatasets() lists the datasets registered workers have declared, sorted.
  absl::StatusOr<std::vector<std::string>> ServedDatasets();
  // Store::DatasetTrainExamples() is the training-split size a worker last reported for
  // `dataset`; nullopt when none has.
  absl::StatusOr<std::optional<int64_t>> DatasetTrainExamples(const std::string& dataset);
  // Store::LeaseNext() leases the next rank of a data-parallel supernet epoch that waits for
  // its gang, else the oldest queued candidate of a running search, or returns nullopt when
  // there is none. When that is a subnet estimate and max_estimates > 1, it
  // also leases up to max_estimates - 1 further queued estimates of the same search, in the
  // response's `batch`. NotFound for an unknown worker.
  absl::StatusOr<std::optional<nas::v1::LeaseWorkResponse>> LeaseNext(int64_t worker_id,
                                                                      absl::Duration ttl,
                                                                      int max_estimates = 1);
  // Store::Heartbeat() extends a live lease and records progress. FailedPrecondition when the
  // lease is no longer live (the worker should drop the work).
  absl::StatusOr<absl::Time> Heartbeat(const nas::v1::HeartbeatRequest& request,
                                       absl::Duration ttl);
  // Store::PublishRendezvous() records the c10d store address of a live rank 0 lease of a
  // data-parallel supernet epoch, after which LeaseNext grants the gang's other ranks.
  // FailedPrecondition for any other lease (or one that published another address).
  absl::Status PublishRendezvous(int64_t worker_id, int64_t lease_id,
                                 const std::string& store_address);
  // Store::StoreArtifact() keeps a live lease's model file (replacing an earlier upload).
  // FailedPrecondition for a gang member's lease.
  absl::Status StoreArtifact(const nas::v1::UploadArtifactRequest::Header& header,
                             const std::string& data);
  // Store::ReportResults() stores a batch of live leases' results in one transaction (group
  // commit): for each, the result, the candidate's cost on every profile of its search and
  // the updated Pareto fronts. A repeat of a stored report is a duplicate (OK); a report on an
  // expired or superseded lease is FailedPrecondition (reason kLeaseFenced) and changes
  // nothing. The searches reported on are locked once, in id order, each front is read once,
  // and there is one commit; each report is applied in a savepoint of its own, so the outcome
  // of each is what it would have been alone (a batch of one is the report's own
  // transaction). The batch's own status is not OK only when nothing was stored (the database
  // was lost: resend them all).
  absl::StatusOr<std::vector<absl::StatusOr<ReportOutcome>>> ReportResults(
      const std::vector<const nas::v1::ReportResultRequest*>& requests);
  // Store::ReturnLease() ends a live lease early and re-queues its candidate.
  absl::Status ReturnLease(int64_t worker_id, int64_t lease_id);
  // Store::ExpireLeases() ends every lease past its expiry and re-queues (or fails) its
  // candidate.
  absl::StatusOr<std::vector<LeaseExpiry>> ExpireLeases();
  // Store::ClaimDuty() claims this round of a periodic duty (`name`, e.g. "lease_sweep") for
  // `claimer`: true when nobody claimed it within the last `every`, so that several controllers
  // do it once per round between them, not once each.
  absl::StatusOr<bool> ClaimDuty(const std::string& name, absl::Duration every,
                                 const std::string& claimer);
  // Store::EndOverdueSearches() fails running searches past their wall-clock deadline.
  absl::StatusOr<std::vector<int64_t>> EndOverdueSearches();

  // Store::ExtendLiveLeases() gives every live lease `ttl` from now, expired or not: called
  // when the service itself was unavailable (this controller started, or the store was
  // unreachable), so that workers who could not heartbeat are not charged for it. A lease not
  // heard from (granted or heartbeated) since `away_since`, when the service went away, that
  // then expires without a heartbeat is not charged either. Returns how many it extended.
  absl::StatusOr<int64_t> ExtendLiveLeases(absl::Duration ttl, absl::Time away_since);

  // ---- Health -----------------------------------------------------------------------------

  // Store::Health() is OK when a trivial transaction completes within `deadline` on a
  // connection of its own, and the pool is not stalled (callers waiting while no connection
  // has come back for longer than statement_timeout). Unavailable, saying why, otherwise.
  absl::Status Health(absl::Duration deadline);
  // Store::LongHeldConnections() names the operations holding a pool connection for longer
  // than `limit`, with how long (for a log line).
  std::vector<std::pair<std::string, absl::Duration>> LongHeldConnections(absl::Duration limit);

  // ---- Observability ----------------------------------------------------------------------

  // Store::Snapshot() reads the figures of StoreSnapshot in one transaction: counts by state,
  // and for each running search (and each that ended within `recent`) its candidates by
  // state, progress, best accuracy, and each profile's front size and hypervolume.
  absl::StatusOr<StoreSnapshot> Snapshot(absl::Duration recent = absl::Minutes(15));

 private:
  class Pool;
  explicit Store(std::unique_ptr<Pool> pool);
  absl::Status SeedBuiltinProfiles();

  std::unique_ptr<Pool> pool_;
  std::unique_ptr<SearchProfileCache> profiles_;
  // Health()'s own connection, so that a busy pool cannot hide an answering database.
  std::unique_ptr<HealthProbe> probe_;
};

}  // namespace nas

#endif  // NAS_SERVICES_STORE_STORE_H_
