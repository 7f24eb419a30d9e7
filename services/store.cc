// The PostgreSQL store. Long (2,500 lines): it still holds the pool, row mapping, users,
// profiles, the search lifecycle, leases, results, fronts and the metrics snapshot behind one
// class. Issue 18 splits it by aggregate, with the lifecycle moved to engine/, under the
// protection of tests/chaos/.
#include "services/store.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>
#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "search/dataset_name.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/hypervolume.h"
#include "search/pareto.h"
#include "search/search_space.h"
#include "search/status_macros.h"
#include "search/successive_halving.h"
#include "search/weight_sharing.h"
#include "services/crypto.h"
#include "services/migrations.h"

namespace nas {
namespace {

using nas::v1::CandidateMetrics;
using nas::v1::HardwareProfile;
using nas::v1::ProfileMetrics;
using nas::v1::SearchSpec;

// An arbitrary constant that names the migration lock among the database's advisory locks.
constexpr int64_t kMigrationLockKey = 0x6e61735f6d6967;  // "nas_mig"

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

pqxx::binarystring Bin(const google::protobuf::Message& m) {
  return pqxx::binarystring(m.SerializeAsString());
}

template <typename M>
M Parse(const pqxx::field& f) {
  M m;
  m.ParseFromString(Bytes(f));
  return m;
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
                 int64_t candidate_id, const std::string& profile_id,
                 const std::string& message, double hypervolume = -1) {
  // A hypervolume is never negative: -1 stores NULL (the event concerns no front).
  tx.exec_params(
      "INSERT INTO events (search_id, kind, candidate_id, profile_id, message, hypervolume) "
      "VALUES ($1, $2, NULLIF($3, 0), $4, $5, NULLIF($6::DOUBLE PRECISION, -1))",
      search_id, static_cast<int>(kind), candidate_id, profile_id, message, hypervolume);
}

// DoubleArray() writes a PostgreSQL array literal that reads back exactly ("{-0.91,3.2}").
std::string DoubleArray(const std::vector<double>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", absl::StrFormat("%.17g", values[i]));
  }
  return out + "}";
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

// Column list that SearchFromRow() reads.
constexpr char kSearchColumns[] =
    "s.id, u.name, s.spec, s.state, s.message, rfc3339(s.created_at), rfc3339(s.updated_at), "
    "s.target, s.best_accuracy, "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'QUEUED'), "
    "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'LEASED'), "
    "s.n_evaluated, s.n_failed, s.n_cancelled, s.evaluated_per_rung ";

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

std::vector<double> ObjectiveVector(const SearchSpec& spec, const CandidateMetrics& m,
                                    const ProfileMetrics& pm) {
  std::vector<double> v;
  for (const nas::v1::Objective& o : spec.objectives()) {
    v.push_back(MinimisationForm(o.metric(), ObjectiveValue(o.metric(), m, pm)));
  }
  return v;
}

// A search's training fidelities, lowest rung first: a weight-sharing search's estimate and
// fine-tune rungs, the successive-halving rungs of a multi-fidelity search, else the recipe
// alone. (A weight-sharing search's supernet epochs are rung -1, outside these.)
std::vector<nas::v1::Fidelity> Rungs(const SearchSpec& spec) {
  if (IsWeightSharing(spec.strategy())) {
    const absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec.strategy());
    nas::v1::Fidelity estimate;
    estimate.set_supernet_estimate(true);
    nas::v1::Fidelity finetune;
    finetune.set_rung(1);
    finetune.set_epochs(spec.recipe().epochs());
    finetune.set_train_subset(spec.recipe().train_subset());
    finetune.set_init_from_supernet(!plan.ok() || plan->finetune_from_supernet);
    return {estimate, finetune};
  }
  if (spec.has_multi_fidelity()) {
    absl::StatusOr<std::vector<nas::v1::Fidelity>> rungs = FidelityRungs(
        spec.recipe(), spec.multi_fidelity().eta(), spec.multi_fidelity().rungs());
    if (rungs.ok()) return *std::move(rungs);
    // Unreachable for a stored spec (validated at submission); train at full fidelity.
    LOG(ERROR) << "multi_fidelity of a stored spec: " << rungs.status();
  }
  nas::v1::Fidelity full;
  full.set_epochs(spec.recipe().epochs());
  full.set_train_subset(spec.recipe().train_subset());
  return {full};
}

// The rung whose results are finished models: the only one that enters the Pareto fronts.
int FinalRung(const SearchSpec& spec) {
  return spec.has_multi_fidelity() ? spec.multi_fidelity().rungs() - 1 : 0;
}

// Queues a candidate at `fidelity`'s rung unless the search already has it there. Returns
// whether it was new.
bool InsertCandidate(pqxx::work& tx, int64_t search_id, const nas::v1::Architecture& arch,
                     const nas::v1::Fidelity& fidelity) {
  return !tx.exec_params(
                "INSERT INTO candidates (search_id, arch, arch_hash, rung, fidelity, state) "
                "VALUES ($1, $2, $3, $4, $5, 'QUEUED') ON CONFLICT DO NOTHING RETURNING id",
                search_id, Bin(arch), Sha256Hex(CanonicalKey(arch)), fidelity.rung(),
                Bin(fidelity))
              .empty();
}

// The most evaluations a search's budget allows (searches.target): max_candidates, and for a
// multi-fidelity search every promotion successive halving could add.
int EvaluationTarget(const SearchSpec& spec) {
  const int n = spec.budget().max_candidates();
  if (!spec.has_multi_fidelity()) return n;
  return static_cast<int>(
      MaxEvaluations(n, spec.multi_fidelity().eta(), spec.multi_fidelity().rungs()));
}

// A search's budget counters after a transition.
struct Counts {
  int target = 0;
  int evaluated = 0;
  int failed = 0;
};

// Counts `n` more of a search's candidates in final state `to` (EVALUATED, FAILED) and
// returns the budget counters. The caller holds the search row's lock.
Counts CountFinal(pqxx::work& tx, int64_t search_id, absl::string_view to, int n = 1,
                  double accuracy = 0) {
  const std::string c = absl::StrCat("n_", absl::AsciiStrToLower(to));
  pqxx::row r = tx.exec_params1(
      absl::StrCat("UPDATE searches SET updated_at = now(), ", c, " = ", c, " + $2, "
                   "best_accuracy = greatest(best_accuracy, $3) "
                   "WHERE id = $1 RETURNING target, n_evaluated, n_failed"),
      search_id, n, accuracy);
  return {r[0].as<int>(), r[1].as<int>(), r[2].as<int>()};
}

// Ends a running search: queued candidates are cancelled, live leases revoked.
void EndSearch(pqxx::work& tx, int64_t search_id, const std::string& state,
               const std::string& message) {
  tx.exec_params(
      "UPDATE leases SET state = 'REVOKED', ended_at = now() "
      "WHERE search_id = $1 AND state = 'ACTIVE'",
      search_id);
  const pqxx::result cancelled = tx.exec_params(
      "UPDATE candidates SET state = 'CANCELLED' "
      "WHERE search_id = $1 AND state IN ('QUEUED', 'LEASED')",
      search_id);
  tx.exec_params(
      "UPDATE searches SET state = $2, message = $3, updated_at = now(), "
      "  n_cancelled = n_cancelled + $4 WHERE id = $1",
      search_id, state, message, static_cast<int>(cancelled.affected_rows()));
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_SEARCH_ENDED, 0, "",
              absl::StrCat("search ", absl::AsciiStrToLower(state), ": ", message));
}

// Ends the (locked, running) search as SUCCEEDED with its budget spent.
void EndBudgetSpent(pqxx::work& tx, int64_t search_id, const Counts& c) {
  const std::string per_rung =
      tx.exec_params1("SELECT array_to_string(evaluated_per_rung, ', ') FROM searches "
                      "WHERE id = $1",
                      search_id)[0]
          .as<std::string>();
  EndSearch(tx, search_id, "SUCCEEDED",
            absl::StrCat("budget spent: ", c.evaluated, " evaluated",
                         per_rung.empty() ? "" : absl::StrCat(" (per rung ", per_rung, ")"),
                         ", ", c.failed, " failed"));
}

// Ends the (locked, running) search if its budget is spent. Returns whether it ended.
bool FinishIfBudgetSpent(pqxx::work& tx, int64_t search_id, const Counts& c) {
  if (c.evaluated + c.failed < c.target) return false;
  EndBudgetSpent(tx, search_id, c);
  return true;
}

nas::v1::User UserFromRow(const pqxx::row& r) {
  nas::v1::User u;
  u.set_id(r[0].as<int64_t>());
  u.set_name(r[1].as<std::string>());
  u.set_admin(r[2].as<bool>());
  u.set_created_at(r[3].as<std::string>());
  return u;
}

// Reads kProfileColumns starting at column `first`: spec, name, version, owner name (NULL for
// built-in), public, created_at.
HardwareProfile ProfileFromRow(const pqxx::row& r, int first = 0) {
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

constexpr char kProfileColumns[] =
    "hp.spec, hp.name, hp.version, u.name, hp.public, rfc3339(hp.created_at) "
    "FROM hardware_profiles hp LEFT JOIN users u ON u.id = hp.owner_id ";

// Profiles a caller may see: built-in, public, or their own.
constexpr char kVisibleToCaller[] =
    "(hp.owner_id IS NULL OR hp.public OR hp.owner_id = $1)";

}  // namespace

// A profile of a search: its database id and its message.
struct SearchProfile {
  int64_t db_id;
  HardwareProfile profile;
};

// SearchProfileCache: the profile versions each search targets. A search's profiles and a
// profile version are both immutable, so an entry never goes stale; the cache only saves a
// query on every lease and report.
class SearchProfileCache {
 public:
  std::shared_ptr<const std::vector<SearchProfile>> Get(pqxx::work& tx, int64_t search_id) {
    {
      absl::MutexLock lock(&mu_);
      auto it = map_.find(search_id);
      if (it != map_.end()) return it->second;
    }
    auto profiles = std::make_shared<std::vector<SearchProfile>>();
    for (const pqxx::row& r : tx.exec_params(
             "SELECT hp.id, hp.spec, hp.name, hp.version FROM search_profiles sp "
             "JOIN hardware_profiles hp ON hp.id = sp.profile_id "
             "WHERE sp.search_id = $1 ORDER BY sp.position",
             search_id)) {
      HardwareProfile p = Parse<HardwareProfile>(r[1]);
      p.set_name(r[2].as<std::string>());
      p.set_version(r[3].as<int>());
      p.set_id(ProfileId(p.name(), p.version()));
      profiles->push_back({r[0].as<int64_t>(), std::move(p)});
    }
    // A search that is not committed yet has no rows; do not remember that.
    if (profiles->empty()) return profiles;
    absl::MutexLock lock(&mu_);
    if (map_.size() >= kMaxEntries) map_.clear();
    map_[search_id] = profiles;
    return profiles;
  }

 private:
  static constexpr size_t kMaxEntries = 10000;
  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<const std::vector<SearchProfile>>> map_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// Connection pool and transactions
// ---------------------------------------------------------------------------------------------

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// Sets a session's safety limits: a runaway statement is cancelled, and a session left idle
// inside a transaction (a client that vanished mid-transaction) is ended by the server.
void ApplySessionSettings(pqxx::connection& c, absl::Duration statement_timeout) {
  pqxx::nontransaction n(c);
  n.exec(absl::StrCat("SET statement_timeout = ", absl::ToInt64Milliseconds(statement_timeout)));
  n.exec(absl::StrCat("SET idle_in_transaction_session_timeout = ",
                      absl::ToInt64Milliseconds(statement_timeout) * 2));
}

class Store::Pool {
 public:
  explicit Pool(const StoreOptions& options) : options_(options) {}

  // Held: one pool connection, lent to one transaction. Its destructor gives the connection
  // back (or drops it when broken). RunTransaction() declares the pqxx::work after it, so the
  // transaction, and any ROLLBACK its destructor sends, is always finished before the
  // connection can reach another thread: returning a connection early cannot be written.
  class Held {
   public:
    Held(Pool* pool, std::unique_ptr<pqxx::connection> conn, int64_t token)
        : pool_(pool), conn_(std::move(conn)), token_(token) {}
    Held(Held&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          conn_(std::move(other.conn_)),
          token_(other.token_),
          broken_(other.broken_) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    Held& operator=(Held&&) = delete;
    ~Held() {
      if (pool_ != nullptr) pool_->Release(std::move(conn_), token_, broken_);
    }
    pqxx::connection& connection() { return *conn_; }
    // The connection is dropped instead of returned.
    void MarkBroken() { broken_ = true; }

   private:
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    int64_t token_;
    bool broken_ = false;
  };

  // Runs `fn` in a read-committed transaction and commits when it returns OK, else rolls
  // back. Retries serialization failures and deadlocks; a lost connection is Unavailable.
  // `operation` names the Store method for StoreOptions::on_operation and the held-too-long
  // log line.
  template <typename Fn>
  auto Run(const char* operation, Fn&& fn) -> decltype(fn(std::declval<pqxx::work&>())) {
    const absl::Time start = absl::Now();
    auto result = RunTransaction(operation, std::forward<Fn>(fn));
    if (options_.on_operation) {
      options_.on_operation(operation, absl::Now() - start, StatusOf(result));
    }
    return result;
  }

  template <typename Fn>
  auto RunTransaction(const char* operation, Fn&& fn)
      -> decltype(fn(std::declval<pqxx::work&>())) {
    using Result = decltype(fn(std::declval<pqxx::work&>()));
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<Held> held = Acquire(operation);
      if (!held.ok()) return Result(held.status());
      try {
        pqxx::work tx(held->connection());
        Result result = fn(tx);
        if (result.ok()) {
          tx.commit();
        } else {
          tx.abort();
        }
        return result;
      } catch (const pqxx::transaction_rollback& e) {
        if (attempt >= kAttempts) {
          return Result(absl::AbortedError(absl::StrCat("store: gave up after ", attempt,
                                                        " conflicting attempts: ", e.what())));
        }
      } catch (const pqxx::broken_connection& e) {
        held->MarkBroken();
        if (attempt >= 2) {
          return Result(absl::UnavailableError(absl::StrCat("store: ", e.what())));
        }
      } catch (const pqxx::in_doubt_error& e) {
        held->MarkBroken();
        return Result(absl::UnavailableError(
            absl::StrCat("store: connection lost during commit: ", e.what())));
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == "57014") {
          // query_canceled (statement_timeout): the database is overloaded or a lock is
          // stuck; worth a retry by the caller.
          return Result(absl::UnavailableError(absl::StrCat("store: ", operation,
                                                            " timed out: ", e.what())));
        }
        // The statement is for the operator's log, not for the client.
        LOG(ERROR) << "event=store_sql_error operation=" << operation << " error=\""
                   << absl::CHexEscape(e.what()) << "\" query=\"" << absl::CHexEscape(e.query())
                   << "\"";
        if (!held->connection().is_open()) held->MarkBroken();
        return Result(absl::InternalError(absl::StrCat("store: ", e.what())));
      } catch (const std::exception& e) {
        if (!held->connection().is_open()) held->MarkBroken();
        return Result(absl::InternalError(absl::StrCat("store: ", e.what())));
      }
    }
  }

  // Pool::Acquire() lends a connection (opening one, with the session timeouts, when none is
  // idle and the pool has room), waiting up to acquire_timeout.
  absl::StatusOr<Held> Acquire(const char* operation) {
    int64_t token = 0;
    std::unique_ptr<pqxx::connection> idle;
    {
      absl::MutexLock lock(&mu_);
      auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < options_.pool_size;
      };
      ++waiting_;
      const bool got = mu_.AwaitWithTimeout(absl::Condition(&available),
                                            options_.acquire_timeout);
      --waiting_;
      if (!got) {
        return absl::UnavailableError(
            absl::StrCat("store: every database connection is busy (", options_.pool_size,
                         " held for ", HolderSummary(), ")"));
      }
      token = ++next_token_;
      holders_[token] = {operation, absl::Now()};
      if (!idle_.empty()) {
        idle = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;
      }
    }
    if (idle != nullptr) return Held(this, std::move(idle), token);
    try {
      auto c = std::make_unique<pqxx::connection>(options_.database_url);
      ApplySessionSettings(*c, options_.statement_timeout);
      return Held(this, std::move(c), token);
    } catch (const std::exception& e) {
      absl::MutexLock lock(&mu_);
      --open_;
      holders_.erase(token);
      return absl::UnavailableError(absl::StrCat("store: cannot connect to the database: ",
                                                 e.what()));
    }
  }

  // Pool::Stalled() explains why the pool is stuck: callers wait, every connection is lent,
  // and none has come back for longer than `limit`. OK otherwise.
  absl::Status Stalled(absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    if (waiting_ == 0 || !idle_.empty() || open_ < options_.pool_size) return absl::OkStatus();
    const absl::Duration since = absl::Now() - last_release_;
    if (since <= limit) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("store: no database connection came back for ",
                     absl::FormatDuration(absl::Trunc(since, absl::Seconds(1))), " (",
                     waiting_, " callers waiting; held for ", HolderSummary(), ")"));
  }

  // Pool::LongHeld() lists the operations holding a connection for longer than `limit`.
  std::vector<std::pair<std::string, absl::Duration>> LongHeld(absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<std::string, absl::Duration>> out;
    const absl::Time now = absl::Now();
    for (const auto& [token, h] : holders_) {
      if (now - h.since > limit) out.push_back({h.operation, now - h.since});
    }
    return out;
  }

  const StoreOptions& options() const { return options_; }

 private:
  struct Holder {
    const char* operation;
    absl::Time since;
  };

  void Release(std::unique_ptr<pqxx::connection> c, int64_t token, bool broken) {
    absl::MutexLock lock(&mu_);
    holders_.erase(token);
    last_release_ = absl::Now();
    if (!broken && c != nullptr && c->is_open()) {
      idle_.push_back(std::move(c));
      return;
    }
    --open_;
    if (broken) {
      // A lost connection usually means the server restarted or went away: the idle ones are
      // lost too, and the next callers should not each find that out.
      open_ -= static_cast<int>(idle_.size());
      idle_.clear();
    }
  }

  std::string HolderSummary() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::map<std::string, int> by_operation;
    for (const auto& [token, h] : holders_) ++by_operation[h.operation];
    return absl::StrJoin(by_operation, ", ", absl::PairFormatter(" x"));
  }

  const StoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_token_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Holder> holders_ ABSL_GUARDED_BY(mu_);
  absl::Time last_release_ ABSL_GUARDED_BY(mu_) = absl::Now();
};

// HealthProbe: one connection of its own on which Store::Health() runs a trivial transaction.
class HealthProbe {
 public:
  explicit HealthProbe(std::string url) : url_(std::move(url)) {}

  absl::Status Check(absl::Duration deadline) {
    absl::MutexLock lock(&mu_);
    try {
      if (conn_ == nullptr || !conn_->is_open()) {
        conn_.reset();
        auto c = std::make_unique<pqxx::connection>(url_);
        ApplySessionSettings(*c, deadline);
        conn_ = std::move(c);
      }
      pqxx::work tx(*conn_);
      tx.exec("SELECT 1");
      tx.commit();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      conn_.reset();
      return absl::UnavailableError(absl::StrCat(
          "store: a trivial transaction failed: ",
          absl::StripTrailingAsciiWhitespace(e.what())));
    }
  }

 private:
  const std::string url_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

Store::Store(std::unique_ptr<Pool> pool)
    : pool_(std::move(pool)),
      profiles_(std::make_unique<SearchProfileCache>()),
      probe_(std::make_unique<HealthProbe>(pool_->options().database_url)) {}

absl::Status Store::Health(absl::Duration deadline) {
  NAS_RETURN_IF_ERROR(probe_->Check(deadline));
  // A transaction may take up to statement_timeout; a little more than that with nothing
  // coming back while callers wait is a stall.
  return pool_->Stalled(pool_->options().statement_timeout + absl::Seconds(5));
}

std::vector<std::pair<std::string, absl::Duration>> Store::LongHeldConnections(
    absl::Duration limit) {
  return pool_->LongHeld(limit);
}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  auto pool = std::make_unique<Pool>(options);
  // Migrations run on their own connection, under a session advisory lock, so that two
  // controllers starting together apply each migration exactly once.
  try {
    pqxx::connection conn(options.database_url);
    {
      // A session-level lock: it outlives this statement's transaction.
      pqxx::nontransaction lock(conn);
      lock.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
    }
    {
      pqxx::work tx(conn);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  version INT PRIMARY KEY, description TEXT NOT NULL,"
          "  applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      tx.commit();
    }
    int applied = 0;
    {
      pqxx::work tx(conn);
      applied = tx.exec1("SELECT COALESCE(max(version), 0) FROM schema_migrations")[0].as<int>();
      tx.commit();
    }
    for (const Migration& m : Migrations()) {
      if (m.version <= applied) continue;
      pqxx::work tx(conn);
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                     m.version, m.description);
      tx.commit();
      LOG(INFO) << "event=migration_applied version=" << m.version << " description=\""
                << m.description << "\"";
    }
    {
      pqxx::nontransaction unlock(conn);
      unlock.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    }
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat("store: cannot connect to the database: ",
                                               e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("store: migration failed: ", e.what()));
  }
  std::unique_ptr<Store> store(new Store(std::move(pool)));
  NAS_RETURN_IF_ERROR(store->SeedBuiltinProfiles());
  return store;
}

// ---------------------------------------------------------------------------------------------
// Users and tokens
// ---------------------------------------------------------------------------------------------

absl::StatusOr<int64_t> Store::CountUsers() {
  return pool_->Run("CountUsers", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx.exec1("SELECT count(*) FROM users")[0].as<int64_t>();
  });
}

absl::StatusOr<nas::v1::User> Store::CreateUser(const std::string& name, bool admin) {
  return pool_->Run("CreateUser", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::User> {
    pqxx::result r = tx.exec_params(
        "INSERT INTO users (name, admin) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING "
        "RETURNING id, name, admin, rfc3339(created_at)",
        name, admin);
    if (r.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("name: user \"", name, "\" already exists"));
    }
    return UserFromRow(r[0]);
  });
}

absl::StatusOr<std::vector<nas::v1::User>> Store::ListUsers() {
  return pool_->Run("ListUsers", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::User>> {
    std::vector<nas::v1::User> users;
    for (const pqxx::row& r :
         tx.exec("SELECT id, name, admin, rfc3339(created_at) FROM users ORDER BY id")) {
      users.push_back(UserFromRow(r));
    }
    return users;
  });
}

absl::StatusOr<nas::v1::User> Store::GetUserByName(const std::string& name) {
  return pool_->Run("GetUserByName", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::User> {
    pqxx::result r = tx.exec_params(
        "SELECT id, name, admin, rfc3339(created_at) FROM users WHERE name = $1", name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("user \"", name, "\" not found"));
    return UserFromRow(r[0]);
  });
}

absl::StatusOr<int64_t> Store::AddToken(int64_t user_id, const std::string& token_sha256,
                                        const std::string& label) {
  return pool_->Run("AddToken", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx
        .exec_params1(
            "INSERT INTO tokens (user_id, token_sha256, label) VALUES ($1, $2, $3) RETURNING id",
            user_id, token_sha256, label)[0]
        .as<int64_t>();
  });
}

absl::Status Store::RevokeToken(const Caller& caller, int64_t token_id) {
  return pool_->Run("RevokeToken", [&](pqxx::work& tx) -> absl::Status {
    pqxx::result r = tx.exec_params(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, now()) "
        "WHERE id = $1 AND (user_id = $2 OR $3) RETURNING id",
        token_id, caller.user_id, caller.admin);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
    return absl::OkStatus();
  });
}

absl::StatusOr<Caller> Store::Authenticate(const std::string& token_sha256) {
  return pool_->Run("Authenticate", [&](pqxx::work& tx) -> absl::StatusOr<Caller> {
    pqxx::result r = tx.exec_params(
        "SELECT u.id, u.name, u.admin FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL",
        token_sha256);
    if (r.empty()) return absl::UnauthenticatedError("the bearer token is unknown or revoked");
    return Caller{r[0][0].as<int64_t>(), r[0][1].as<std::string>(), r[0][2].as<bool>()};
  });
}

// ---------------------------------------------------------------------------------------------
// Hardware profiles
// ---------------------------------------------------------------------------------------------

std::vector<HardwareProfile> BuiltinProfiles() {
  std::vector<HardwareProfile> out;
  {
    HardwareProfile p;
    p.set_name("host-cpu");
    p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
    p.set_device_tag("host-cpu");
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    p.set_description(
        "The CPU the trainer workers run on: latency is measured by workers started with "
        "--device_tag=host-cpu (batch 1, median of repeated runs).");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("rpi4-cortex-a72");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(48e9);
    r->set_memory_bytes_per_second(4e9);
    r->set_overhead_ms(0.2);
    r->set_source(
        "Raspberry Pi 4 (BCM2711): 4x Cortex-A72 at 1.5 GHz; each core issues two 128-bit NEON "
        "FMA per cycle = 8 fp32 MAC/cycle (Arm Cortex-A72 Software Optimization Guide), so "
        "48 GMAC/s peak. LPDDR4-3200 on a 32-bit bus peaks at 12.8 GB/s; 4 GB/s is assumed "
        "sustained. Modelled, not measured.");
    p.set_description("Raspberry Pi 4 class board, fp32, roofline model.");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("cortex-m7");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_INT8);
    p.mutable_limits()->set_max_model_bytes(1024 * 1024);
    p.mutable_limits()->set_max_peak_activation_bytes(320 * 1024);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(0.96e9);
    r->set_memory_bytes_per_second(1.92e9);
    r->set_overhead_ms(0.0);
    r->set_source(
        "STM32H7-class Cortex-M7 at 480 MHz: SMLAD does 2 int8 MAC/cycle (Armv7E-M DSP "
        "extension) = 0.96 GMAC/s peak; 32-bit SRAM access per cycle = 1.92 GB/s. Limits: "
        "1 MB flash, 320 KB SRAM (as in MCUNet, Lin et al. 2020). Modelled, not measured.");
    p.set_description("Cortex-M7 microcontroller, int8, 1 MB flash, 320 KB SRAM.");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("jetson-nano");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(118e9);
    r->set_memory_bytes_per_second(15e9);
    r->set_overhead_ms(1.0);
    r->set_source(
        "Jetson Nano: 128-core Maxwell GPU at 921.6 MHz, one fp32 FMA per core per cycle = "
        "118 GMAC/s (NVIDIA quotes 472 GFLOPS at fp16, twice the fp32 rate). 64-bit LPDDR4 at "
        "1600 MHz peaks at 25.6 GB/s, shared with the CPU; 15 GB/s is assumed sustained. "
        "Batch-1 inference of a small network is bound by kernel launches: 1 ms assumed per "
        "inference. Modelled, not measured.");
    p.set_description("Jetson Nano class board (GPU, fp32), roofline model.");
    out.push_back(p);
  }
  return out;
}

absl::Status Store::SeedBuiltinProfiles() {
  for (const HardwareProfile& p : BuiltinProfiles()) {
    absl::Status st = pool_->Run("SeedBuiltinProfiles", [&](pqxx::work& tx) -> absl::Status {
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", p.name());
      if (!tx.exec_params("SELECT 1 FROM hardware_profiles WHERE name = $1", p.name()).empty()) {
        return absl::OkStatus();
      }
      HardwareProfile stored = p;
      stored.set_visibility(nas::v1::VISIBILITY_PUBLIC);
      tx.exec_params(
          "INSERT INTO hardware_profiles (name, version, owner_id, public, spec) "
          "VALUES ($1, 1, NULL, true, $2)",
          p.name(), Bin(stored));
      return absl::OkStatus();
    });
    NAS_RETURN_IF_ERROR(st);
  }
  return absl::OkStatus();
}

absl::StatusOr<HardwareProfile> Store::RegisterProfile(const Caller& caller,
                                                       HardwareProfile profile, bool builtin) {
  const bool make_public = builtin || profile.visibility() == nas::v1::VISIBILITY_PUBLIC;
  if (make_public && !builtin && !caller.admin) {
    return absl::PermissionDeniedError(
        "profile.visibility: only administrators may register public profiles");
  }
  return pool_->Run("RegisterProfile", [&](pqxx::work& tx) -> absl::StatusOr<HardwareProfile> {
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", profile.name());
    // Names are unique per owner: the public profiles (built in or registered public by an
    // administrator) share one namespace, every user has a private one. A public name is
    // taken for everyone; another user's private name is invisible and free.
    pqxx::row latest = tx.exec_params1(
        "SELECT COALESCE(max(version) FILTER (WHERE owner_id IS NULL OR public), 0), "
        "  COALESCE(max(version) FILTER (WHERE owner_id = $2 AND NOT public), 0) "
        "FROM hardware_profiles WHERE name = $1",
        profile.name(), caller.user_id);
    const int public_version = latest[0].as<int>();
    const int own_version = latest[1].as<int>();
    int version = own_version + 1;
    if (make_public || public_version > 0) {
      if (public_version > 0 && !builtin && !caller.admin) {
        return absl::AlreadyExistsError(absl::StrCat(
            "profile.name: \"", profile.name(),
            "\" is the name of a public profile; choose another"));
      }
      if (make_public && own_version > 0) {
        return absl::AlreadyExistsError(absl::StrCat(
            "profile.name: \"", profile.name(),
            "\" names a private profile of yours; a public one needs another name"));
      }
      version = public_version + 1;
    }
    profile.clear_id();
    profile.clear_version();
    profile.clear_owner();
    profile.clear_created_at();
    profile.set_visibility(make_public ? nas::v1::VISIBILITY_PUBLIC
                                       : nas::v1::VISIBILITY_PRIVATE);
    pqxx::row r = tx.exec_params1(
        "INSERT INTO hardware_profiles (name, version, owner_id, public, spec) "
        "VALUES ($1, $2, NULLIF($3, 0), $4, $5) RETURNING rfc3339(created_at)",
        profile.name(), version, builtin ? int64_t{0} : caller.user_id, make_public,
        Bin(profile));
    profile.set_version(version);
    profile.set_id(ProfileId(profile.name(), version));
    profile.set_owner(builtin ? "" : caller.name);
    profile.set_created_at(r[0].as<std::string>());
    return profile;
  });
}

namespace {

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
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT hp.id, ", kProfileColumns, "WHERE ", kVisibleToCaller,
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

}  // namespace

absl::StatusOr<HardwareProfile> Store::GetProfile(const Caller& caller,
                                                  const std::string& profile_id) {
  return pool_->Run("GetProfile", [&](pqxx::work& tx) -> absl::StatusOr<HardwareProfile> {
    NAS_ASSIGN_OR_RETURN(auto resolved, ResolveProfile(tx, caller, profile_id));
    return resolved.second;
  });
}

absl::StatusOr<std::vector<HardwareProfile>> Store::ListProfiles(const Caller& caller) {
  return pool_->Run("ListProfiles", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<HardwareProfile>> {
    std::vector<HardwareProfile> out;
    for (const pqxx::row& r : tx.exec_params(
             absl::StrCat("SELECT DISTINCT ON (hp.name, hp.public OR hp.owner_id IS NULL) ",
                          kProfileColumns, "WHERE ", kVisibleToCaller,
                          " ORDER BY hp.name, hp.public OR hp.owner_id IS NULL, "
                          "hp.version DESC"),
             caller.user_id)) {
      out.push_back(ProfileFromRow(r));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------------

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
              caller.user_id, spec.display_name(), Bin(spec), EvaluationTarget(spec), wall,
              spec.dataset(), FinalRung(spec) + 1)[0]
            .as<int64_t>();
    for (size_t i = 0; i < profiles.size(); ++i) {
      NAS_ASSIGN_OR_RETURN(auto resolved, ResolveProfile(tx, caller, profiles[i].id()));
      tx.exec_params(
          "INSERT INTO search_profiles (search_id, position, profile_id) VALUES ($1, $2, $3)",
          id, static_cast<int>(i), resolved.first);
    }
    tx.exec_params("INSERT INTO strategy_state (search_id, state) VALUES ($1, $2)", id,
                   pqxx::binarystring(strategy_state));
    int initial = 0;
    for (const nas::v1::Architecture& arch : spec.initial_architectures()) {
      initial += InsertCandidate(tx, id, arch, Rungs(spec).front()) ? 1 : 0;
    }
    AppendEvent(tx, id, nas::v1::SEARCH_EVENT_KIND_SNAPSHOT, 0, "",
                absl::StrCat("search submitted by ", caller.name, ": ",
                             spec.strategy().name(), " over ", spec.space().name(), ", ",
                             spec.budget().max_candidates(), " candidates",
                             initial > 0 ? absl::StrCat(", ", initial, " given") : ""));
    return LoadSearch(tx, caller, id);
  });
}

absl::StatusOr<nas::v1::Search> Store::GetSearch(const Caller& caller, int64_t search_id) {
  return pool_->Run("GetSearch", 
      [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Search> {
        return LoadSearch(tx, caller, search_id);
      });
}

absl::StatusOr<std::vector<nas::v1::Search>> Store::ListSearches(const Caller& caller, int limit,
                                                                 int64_t before_id) {
  return pool_->Run("ListSearches", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::Search>> {
    std::vector<nas::v1::Search> out;
    for (const pqxx::row& r : tx.exec_params(
             absl::StrCat("SELECT ", kSearchColumns,
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
        "SELECT state FROM searches WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE",
        search_id, caller.user_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    const std::string state = r[0][0].as<std::string>();
    if (state != "RUNNING") {
      return absl::FailedPreconditionError(absl::StrCat(
          "search ", search_id, " already ended (", absl::AsciiStrToLower(state), ")"));
    }
    EndSearch(tx, search_id, "CANCELLED", absl::StrCat("cancelled by ", caller.name));
    return LoadSearch(tx, caller, search_id);
  });
}

absl::StatusOr<std::vector<int64_t>> Store::RunningSearchIds() {
  return pool_->Run("RunningSearchIds", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<int64_t>> {
    std::vector<int64_t> ids;
    for (const pqxx::row& r : tx.exec("SELECT id FROM searches WHERE state = 'RUNNING'")) {
      ids.push_back(r[0].as<int64_t>());
    }
    return ids;
  });
}

namespace {

// What Refill() reads of a search.
struct RefillView {
  bool running = false;
  bool overdue = false;
  SearchSpec spec;
  int architectures = 0;  // Rung-0 candidates not cancelled: the strategy's proposals so far.
  int queued = 0;
  int outstanding = 0;    // Queued or leased.
  int room = 0;           // Candidates the search can lease at once beyond those outstanding.
  int need = 0;           // New architectures the strategy may propose now.
  Counts counts;
};

RefillView ReadRefillView(pqxx::work& tx, int64_t search_id, bool lock) {
  if (lock) {
    // Lock first, count after, in a statement of its own: under READ COMMITTED a statement that
    // waited for the row lock still counts candidates in the snapshot it took before waiting,
    // so a refill that queued rows meanwhile would go unseen and the queue overfill.
    tx.exec_params("SELECT 1 FROM searches WHERE id = $1 FOR NO KEY UPDATE", search_id);
  }
  pqxx::row r = tx.exec_params1(
      "SELECT spec, state, deadline_at < now(), target, "
      "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'QUEUED'), "
      "(SELECT count(*) FROM candidates c WHERE c.search_id = s.id AND c.state = 'LEASED'), "
      "n_evaluated, n_failed FROM searches s WHERE id = $1",
      search_id);
  RefillView v;
  v.spec = Parse<SearchSpec>(r[0]);
  v.running = r[1].as<std::string>() == "RUNNING";
  v.overdue = !r[2].is_null() && r[2].as<bool>();
  v.counts = {r[3].as<int>(), r[6].as<int>(), r[7].as<int>()};
  v.queued = r[4].as<int>();
  v.outstanding = v.queued + r[5].as<int>();
  v.room = v.spec.budget().max_parallel() - v.outstanding;
  if (v.spec.has_multi_fidelity()) {
    // Only multi-fidelity searches pay for this count; otherwise every candidate is rung 0.
    v.architectures = tx.exec_params1("SELECT count(*) FROM candidates WHERE search_id = $1 "
                                      "AND rung = 0 AND state <> 'CANCELLED'",
                                      search_id)[0]
                          .as<int>();
  } else {
    v.architectures = v.outstanding + v.counts.evaluated + v.counts.failed;
  }
  v.need = std::min(v.spec.budget().max_candidates() - v.architectures, v.room);
  return v;
}

// One evaluated candidate of a multi-fidelity search below its final rung.
struct RungEntry {
  RungResult result;
  nas::v1::Architecture architecture;
  std::string arch_hash;
};

// Queues at the next rung every candidate that successive halving promotes, highest rung
// first (those are nearest to a finished model), at most `room`. Returns how many it queued.
int Promote(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
            const std::vector<nas::v1::Fidelity>& rungs, int64_t first_profile_db_id, int room) {
  const int final_rung = static_cast<int>(rungs.size()) - 1;
  std::vector<std::vector<RungEntry>> by_rung(final_rung);
  for (const pqxx::row& r : tx.exec_params(
           "SELECT c.id, c.rung, c.arch, c.arch_hash, e.metrics, pm.metrics, pm.feasible "
           "FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
           "LEFT JOIN profile_metrics pm ON pm.candidate_id = e.candidate_id "
           "  AND pm.profile_id = $3 "
           "WHERE e.search_id = $1 AND c.rung >= 0 AND c.rung < $2 ORDER BY e.id",
           search_id, final_rung, first_profile_db_id)) {
    RungEntry entry;
    entry.result.candidate_id = r[0].as<int64_t>();
    const ProfileMetrics pm = r[5].is_null() ? ProfileMetrics() : Parse<ProfileMetrics>(r[5]);
    entry.result.ranked.objectives = ObjectiveVector(spec, Parse<CandidateMetrics>(r[4]), pm);
    const bool feasible = !r[6].is_null() && r[6].as<bool>();
    entry.result.ranked.violation = feasible ? 0 : std::max(1, pm.violations_size());
    entry.architecture = Parse<nas::v1::Architecture>(r[2]);
    entry.arch_hash = r[3].as<std::string>();
    by_rung[r[1].as<int>()].push_back(std::move(entry));
  }
  // Architectures already at each rung above 0, whatever became of them there.
  std::vector<absl::flat_hash_set<std::string>> present(final_rung + 1);
  for (const pqxx::row& r : tx.exec_params(
           "SELECT rung, arch_hash FROM candidates WHERE search_id = $1 AND rung > 0",
           search_id)) {
    present[r[0].as<int>()].insert(r[1].as<std::string>());
  }
  int queued = 0;
  for (int rung = final_rung - 1; rung >= 0 && queued < room; --rung) {
    const std::vector<RungEntry>& entries = by_rung[rung];
    std::vector<RungResult> results;
    absl::flat_hash_set<int64_t> promoted;
    absl::flat_hash_map<int64_t, const RungEntry*> by_id;
    for (const RungEntry& e : entries) {
      results.push_back(e.result);
      by_id[e.result.candidate_id] = &e;
      if (present[rung + 1].contains(e.arch_hash)) promoted.insert(e.result.candidate_id);
    }
    for (int64_t id : Promotable(results, spec.multi_fidelity().eta(), promoted)) {
      if (queued >= room) break;
      const RungEntry& e = *by_id[id];
      if (!InsertCandidate(tx, search_id, e.architecture, rungs[rung + 1])) continue;
      ++queued;
      AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, id, "",
                  absl::StrCat("candidate ", id, " promoted from rung ", rung, " to rung ",
                               rung + 1));
    }
  }
  return queued;
}

// Where a weight-sharing search's supernet stands.
struct SupernetProgress {
  bool ready = false;   // trained (or another search's is reused): subnets may be estimated
  bool failed = false;  // an epoch failed for good; the search has ended
  int queued = 0;       // epochs queued now
};

// AdvanceSupernet() moves a weight-sharing search's supernet on (the search row is locked by
// the caller): ready once its last epoch is evaluated, or at once when it reuses another
// search's; otherwise it queues the next epoch as a rung -1 candidate when none is
// outstanding, so a lost worker's epoch is retried from the last checkpoint; an epoch out of
// attempts ends the search as FAILED.
absl::StatusOr<SupernetProgress> AdvanceSupernet(pqxx::work& tx, int64_t search_id,
                                                 const SearchSpec& spec) {
  NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
  SupernetProgress p;
  if (plan.supernet_search != 0) {
    p.ready = true;
    return p;
  }
  int evaluated = 0, outstanding = 0;
  std::optional<std::string> failure;
  for (const pqxx::row& r : tx.exec_params(
           "SELECT state, count(*), max(error) FROM candidates WHERE search_id = $1 "
           "AND rung = -1 GROUP BY state",
           search_id)) {
    const std::string state = r[0].as<std::string>();
    if (state == "EVALUATED") evaluated = r[1].as<int>();
    if (state == "QUEUED" || state == "LEASED") outstanding += r[1].as<int>();
    if (state == "FAILED") failure = r[2].is_null() ? "" : r[2].as<std::string>();
  }
  if (failure.has_value()) {
    EndSearch(tx, search_id, "FAILED", absl::StrCat("supernet training failed: ", *failure));
    p.failed = true;
    return p;
  }
  if (evaluated >= plan.supernet_epochs) {
    p.ready = true;
    return p;
  }
  if (outstanding > 0) return p;
  NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(spec.space()));
  const int epoch = evaluated + 1;
  nas::v1::Fidelity fidelity;
  fidelity.set_rung(-1);
  fidelity.set_epochs(epoch);
  tx.exec_params(
      "INSERT INTO candidates (search_id, arch, arch_hash, rung, fidelity, state) "
      "VALUES ($1, $2, $3, -1, $4, 'QUEUED')",
      search_id, Bin(LargestArchitecture(space)), absl::StrCat("supernet-epoch-", epoch),
      Bin(fidelity));
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, 0, "",
              absl::StrCat("supernet epoch ", epoch, " of ", plan.supernet_epochs, " queued"));
  p.queued = 1;
  return p;
}

// The newest checkpoint of a search's supernet (hex SHA-256): the artifact of its last trained
// epoch; empty before the first.
std::string LatestCheckpoint(pqxx::work& tx, int64_t search_id) {
  pqxx::result r = tx.exec_params(
      "SELECT a.sha256 FROM artifacts a JOIN candidates c ON c.id = a.candidate_id "
      "WHERE c.search_id = $1 AND c.rung = -1 AND c.state = 'EVALUATED' "
      "ORDER BY c.id DESC LIMIT 1",
      search_id);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

// What a lease of a weight-sharing search needs of its supernet.
absl::Status FillSupernetWork(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                              const nas::v1::Fidelity& fidelity, nas::v1::SupernetWork* work) {
  NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
  *work->mutable_space() = spec.space();
  work->set_epochs(plan.supernet_epochs);
  work->set_examples(plan.supernet_examples);
  work->set_sandwich(plan.sandwich);
  work->set_random_subnets(plan.random_subnets);
  work->set_recalibration_batches(plan.recalibration_batches);
  work->set_estimate_examples(plan.estimate_examples);
  if (fidelity.rung() < 0) {
    work->set_epoch(fidelity.epochs());
    work->set_checkpoint_sha256(LatestCheckpoint(tx, search_id));
    work->set_world_size(plan.supernet_workers);
    return absl::OkStatus();
  }
  const int64_t owner = plan.supernet_search != 0 ? plan.supernet_search : search_id;
  work->set_checkpoint_sha256(LatestCheckpoint(tx, owner));
  if (work->checkpoint_sha256().empty()) {
    return absl::InternalError(absl::StrCat("search ", owner, " has no trained supernet"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RefillResult> Store::Refill(int64_t search_id, const RefillPlanner& planner) {
  return pool_->Run("Refill", [&](pqxx::work& tx) -> absl::StatusOr<RefillResult> {
    RefillResult result;
    if (tx.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
      return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    }
    // Decide without a lock first: most requests find the queue full enough, and a locking
    // read would cost a write and a commit. Refill in batches of a quarter of max_parallel.
    // A multi-fidelity search may also have promotions to queue, or be done.
    const RefillView peek = ReadRefillView(tx, search_id, /*lock=*/false);
    if (!peek.running) return result;
    const bool multi_fidelity = peek.spec.has_multi_fidelity();
    const int batch = std::max(1, peek.spec.budget().max_parallel() / 4);
    const int can = multi_fidelity ? peek.room : peek.need;
    if (!peek.overdue && (can <= 0 || (peek.queued > 0 && can < batch))) return result;
    const RefillView view = ReadRefillView(tx, search_id, /*lock=*/true);
    if (!view.running) return result;
    const SearchSpec& spec = view.spec;
    if (view.overdue) {
      EndSearch(tx, search_id, "SUCCEEDED", "wall-clock budget spent");
      result.ended = true;
      return result;
    }
    if (FinishIfBudgetSpent(tx, search_id, view.counts)) {
      result.ended = true;
      return result;
    }
    if (IsWeightSharing(spec.strategy())) {
      NAS_ASSIGN_OR_RETURN(SupernetProgress supernet, AdvanceSupernet(tx, search_id, spec));
      if (!supernet.ready) {
        result.inserted = supernet.queued;
        result.ended = supernet.failed;
        return result;
      }
    }
    const int outstanding = view.outstanding;
    const auto profiles_held = profiles_->Get(tx, search_id);
    const std::vector<SearchProfile>& profiles = *profiles_held;
    const int64_t first_profile = profiles.empty() ? 0 : profiles[0].db_id;
    const std::vector<nas::v1::Fidelity> rungs = Rungs(spec);
    int promoted = 0;
    if (multi_fidelity && view.room > 0) {
      promoted = Promote(tx, search_id, spec, rungs, first_profile, view.room);
    }
    const int need = std::min(view.need, view.room - promoted);
    if (multi_fidelity && need <= 0 && promoted == 0 && outstanding == 0 &&
        view.architectures >= spec.budget().max_candidates()) {
      // Every architecture was tried and nothing can be promoted any more.
      EndBudgetSpent(tx, search_id, view.counts);
      result.ended = true;
      return result;
    }
    result.inserted = promoted;
    if (need <= 0) return result;

    pqxx::row st = tx.exec_params1(
        "SELECT state, observed_through, generation, dry_refills FROM strategy_state "
        "WHERE search_id = $1",
        search_id);
    RefillInput input;
    input.search_id = search_id;
    input.spec = &spec;
    input.saved_state = Bytes(st[0]);
    input.generation = st[2].as<int64_t>();
    input.need = need;
    for (const SearchProfile& p : profiles) input.profiles.push_back(p.profile);
    int64_t observed_through = st[1].as<int64_t>();
    // The strategy learns from rung 0, where every architecture has a result at the same
    // fidelity (a single-fidelity search has only rung 0).
    for (const pqxx::row& r : tx.exec_params(
             "SELECT e.id, e.candidate_id, c.arch, e.metrics, pm.metrics, pm.feasible "
             "FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
             "LEFT JOIN profile_metrics pm ON pm.candidate_id = e.candidate_id "
             "  AND pm.profile_id = $3 "
             "WHERE e.search_id = $1 AND e.id > $2 AND c.rung = 0 ORDER BY e.id",
             search_id, observed_through, first_profile)) {
      Observation o;
      o.candidate_id = r[1].as<int64_t>();
      o.architecture = Parse<nas::v1::Architecture>(r[2]);
      const ProfileMetrics pm = r[4].is_null() ? ProfileMetrics() : Parse<ProfileMetrics>(r[4]);
      o.objectives = ObjectiveVector(spec, Parse<CandidateMetrics>(r[3]), pm);
      o.feasible = !r[5].is_null() && r[5].as<bool>();
      o.violation = o.feasible ? 0 : std::max(1, pm.violations_size());
      input.new_observations.push_back(std::move(o));
      observed_through = r[0].as<int64_t>();
    }

    NAS_ASSIGN_OR_RETURN(RefillPlan plan, planner(input));
    int fresh = 0;
    for (const nas::v1::Architecture& arch : plan.proposals) {
      if (InsertCandidate(tx, search_id, arch, rungs.front())) {
        ++fresh;
      } else {
        ++result.duplicates;
      }
    }
    result.inserted += fresh;
    // A space smaller than the budget runs dry: after this many refills in a row that found
    // nothing new while nothing was outstanding, the search has seen all it can.
    constexpr int kDryRefillsToExhaust = 20;
    const int dry = (result.inserted == 0 && outstanding == 0) ? st[3].as<int>() + 1 : 0;
    tx.exec_params(
        "UPDATE strategy_state SET state = $2, observed_through = $3, "
        "  generation = generation + 1, dry_refills = $4, updated_at = now() "
        "WHERE search_id = $1",
        search_id, pqxx::binarystring(plan.state), observed_through, dry);
    if (fresh > 0) {
      AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_QUEUED, 0, "",
                  absl::StrCat("queued ", fresh, fresh == 1 ? " candidate" : " candidates"));
    }
    if (dry >= kDryRefillsToExhaust) {
      EndSearch(tx, search_id, "SUCCEEDED",
                absl::StrCat("search space exhausted after ", view.architectures,
                             " distinct candidates"));
      result.ended = true;
    }
    return result;
  });
}

// ---------------------------------------------------------------------------------------------
// Candidates, fronts, models
// ---------------------------------------------------------------------------------------------

namespace {

constexpr char kCandidateColumns[] =
    "c.id, c.search_id, c.arch, c.arch_hash, c.state, c.attempts, c.fidelity, c.error, "
    "rfc3339(c.created_at), rfc3339(c.evaluated_at), e.metrics, "
    "EXISTS (SELECT 1 FROM artifacts a WHERE a.candidate_id = c.id) "
    "FROM candidates c JOIN searches s ON s.id = c.search_id "
    "LEFT JOIN evaluations e ON e.candidate_id = c.id ";

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
  for (const pqxx::row& r : tx.exec_params(
           "SELECT pm.candidate_id, pm.metrics FROM profile_metrics pm "
           "JOIN search_profiles sp ON sp.search_id = pm.search_id "
           "  AND sp.profile_id = pm.profile_id "
           "WHERE pm.search_id = $1 AND pm.candidate_id BETWEEN $2 AND $3 "
           "ORDER BY pm.candidate_id, sp.position",
           candidates.front().search_id(), lo, hi)) {
    auto it = by_id.find(r[0].as<int64_t>());
    if (it != by_id.end()) *it->second->add_profile_metrics() = Parse<ProfileMetrics>(r[1]);
  }
}

}  // namespace

absl::StatusOr<std::vector<nas::v1::Candidate>> Store::ListCandidates(
    const Caller& caller, const nas::v1::ListCandidatesRequest& request) {
  return pool_->Run("ListCandidates", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::Candidate>> {
    if (tx.exec_params("SELECT 1 FROM searches WHERE id = $1 AND owner_id = $2",
                       request.search_id(), caller.user_id)
            .empty()) {
      return absl::NotFoundError(absl::StrCat("search ", request.search_id(), " not found"));
    }
    std::string state;
    if (request.state() != nas::v1::CANDIDATE_STATE_UNSPECIFIED) {
      state = nas::v1::CandidateState_Name(request.state()).substr(strlen("CANDIDATE_STATE_"));
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
    return out;
  });
}

absl::StatusOr<nas::v1::Candidate> Store::GetCandidate(const Caller& caller,
                                                       int64_t candidate_id) {
  return pool_->Run("GetCandidate", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::Candidate> {
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kCandidateColumns, "WHERE c.id = $1 AND s.owner_id = $2"),
        candidate_id, caller.user_id);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("candidate ", candidate_id, " not found"));
    }
    std::vector<nas::v1::Candidate> one = {CandidateFromRow(r[0])};
    AttachProfileMetrics(tx, one);
    return one[0];
  });
}

absl::StatusOr<nas::v1::ParetoFront> Store::GetParetoFront(const Caller& caller,
                                                           int64_t search_id,
                                                           const std::string& profile_id) {
  return pool_->Run("GetParetoFront", [&](pqxx::work& tx) -> absl::StatusOr<nas::v1::ParetoFront> {
    pqxx::result s = tx.exec_params(
        "SELECT spec FROM searches WHERE id = $1 AND owner_id = $2", search_id, caller.user_id);
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
        search_id, chosen->db_id, FinalRung(spec));
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
    const Caller& caller, int64_t candidate_id) {
  using Result = std::pair<nas::v1::ModelMetadata, std::string>;
  return pool_->Run("GetArtifact", [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    pqxx::result c = tx.exec_params(
        "SELECT c.state FROM candidates c JOIN searches s ON s.id = c.search_id "
        "WHERE c.id = $1 AND s.owner_id = $2",
        candidate_id, caller.user_id);
    if (c.empty()) {
      return absl::NotFoundError(absl::StrCat("candidate ", candidate_id, " not found"));
    }
    if (c[0][0].as<std::string>() != "EVALUATED") {
      return absl::FailedPreconditionError(
          absl::StrCat("candidate ", candidate_id, " is ",
                       absl::AsciiStrToLower(c[0][0].as<std::string>()),
                       "; its model can be fetched once it is evaluated"));
    }
    pqxx::result a = tx.exec_params(
        "SELECT metadata, sha256, size_bytes, format, data FROM artifacts WHERE candidate_id = $1",
        candidate_id);
    if (a.empty()) {
      return absl::NotFoundError(
          absl::StrCat("candidate ", candidate_id, " was evaluated but has no model file"));
    }
    nas::v1::ModelMetadata meta = Parse<nas::v1::ModelMetadata>(a[0][0]);
    meta.set_candidate_id(candidate_id);
    meta.set_sha256(a[0][1].as<std::string>());
    meta.set_size_bytes(a[0][2].as<int64_t>());
    meta.set_format(a[0][3].as<std::string>());
    return Result(std::move(meta), Bytes(a[0][4]));
  });
}

absl::StatusOr<std::string> Store::GetArtifactBySha(const std::string& sha256) {
  return pool_->Run("GetArtifactBySha", [&](pqxx::work& tx) -> absl::StatusOr<std::string> {
    pqxx::result r =
        tx.exec_params("SELECT data FROM artifacts WHERE sha256 = $1 LIMIT 1", sha256);
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
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": search ", search_id, " reuses the supernet of search ",
                       plan->supernet_search, "; name that one"));
    }
    if (theirs.space().SerializeAsString() != spec.space().SerializeAsString() ||
        theirs.dataset() != spec.dataset()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": search ", search_id,
                       "'s supernet covers another space or dataset; use the same spec.space "
                       "and spec.dataset"));
    }
    const int trained =
        tx.exec_params1("SELECT count(*) FROM candidates WHERE search_id = $1 AND rung = -1 "
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
    pqxx::result r = tx.exec_params(
        "SELECT (SELECT COALESCE(max(e.id), 0) FROM events e WHERE e.search_id = s.id) "
        "FROM searches s WHERE s.id = $1 AND s.owner_id = $2",
        search_id, caller.user_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    return r[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<nas::v1::SearchEvent>> Store::EventsAfter(const Caller& caller,
                                                                     int64_t search_id,
                                                                     int64_t after_id,
                                                                     int limit) {
  return pool_->Run("EventsAfter", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<nas::v1::SearchEvent>> {
    if (tx.exec_params("SELECT 1 FROM searches WHERE id = $1 AND owner_id = $2", search_id,
                       caller.user_id)
            .empty()) {
      return absl::NotFoundError(absl::StrCat("search ", search_id, " not found"));
    }
    std::vector<nas::v1::SearchEvent> out;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT id, kind, COALESCE(candidate_id, 0), profile_id, message, "
             "rfc3339(created_at), COALESCE(hypervolume, 0) FROM events "
             "WHERE search_id = $1 AND id > $2 "
             "ORDER BY id LIMIT $3",
             search_id, after_id, limit)) {
      nas::v1::SearchEvent e;
      e.set_event_id(r[0].as<int64_t>());
      e.set_kind(static_cast<nas::v1::SearchEventKind>(r[1].as<int>()));
      e.set_candidate_id(r[2].as<int64_t>());
      e.set_profile_id(r[3].as<std::string>());
      e.set_message(r[4].as<std::string>());
      e.set_created_at(r[5].as<std::string>());
      e.set_hypervolume(r[6].as<double>());
      out.push_back(std::move(e));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Workers and leases
// ---------------------------------------------------------------------------------------------

absl::StatusOr<int64_t> Store::RegisterWorker(const nas::v1::RegisterWorkerRequest& request) {
  // A PostgreSQL array literal; the controller has checked that each name is 1 to 64 of
  // [a-z0-9._-], so quoting needs no escapes.
  std::vector<std::string> quoted;
  for (const std::string& d : request.datasets()) quoted.push_back(absl::StrCat("\"", d, "\""));
  if (quoted.empty()) quoted.push_back(absl::StrCat("\"", kDefaultDataset, "\""));
  const std::string datasets = absl::StrCat("{", absl::StrJoin(quoted, ","), "}");
  return pool_->Run("RegisterWorker", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx
        .exec_params1(
            "INSERT INTO workers (name, device_tag, cpu_model, threads, measure_only, datasets) "
            "VALUES ($1, $2, $3, $4, $5, $6::TEXT[]) RETURNING id",
            request.name(), request.device_tag(), request.cpu_model(), request.threads(),
            request.measure_only(), datasets)[0]
        .as<int64_t>();
  });
}

absl::StatusOr<std::vector<std::string>> Store::ServedDatasets() {
  return pool_->Run("ServedDatasets", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> names;
    for (const pqxx::row& r :
         tx.exec("SELECT DISTINCT unnest(datasets) AS d FROM workers ORDER BY d")) {
      names.push_back(r[0].as<std::string>());
    }
    return names;
  });
}

namespace {

// A measure-only worker's lease: the oldest finished candidate whose latency on a measured
// profile of this worker's device nobody has timed yet (of a running or succeeded search, so
// the last candidates of a search are measured too), and that no live lease is measuring.
std::optional<nas::v1::LeaseWorkResponse> LeaseMeasurement(pqxx::work& tx,
                                                           SearchProfileCache& profiles,
                                                           int64_t worker_id,
                                                           const std::string& device_tag,
                                                           absl::Duration ttl) {
  pqxx::result m = tx.exec_params(
      "SELECT pm.candidate_id, pm.search_id, pm.profile_id, c.arch, s.spec "
      "FROM profile_metrics pm JOIN candidates c ON c.id = pm.candidate_id "
      "JOIN searches s ON s.id = pm.search_id "
      "WHERE pm.measure_device = $1 AND s.state IN ('RUNNING', 'SUCCEEDED') "
      "  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.candidate_id = pm.candidate_id "
      "                  AND l.profile_id = pm.profile_id AND l.state = 'ACTIVE') "
      "ORDER BY pm.candidate_id LIMIT 1 FOR UPDATE OF pm SKIP LOCKED",
      device_tag);
  if (m.empty()) return std::nullopt;
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(m[0][0].as<int64_t>());
  lease.set_search_id(m[0][1].as<int64_t>());
  const int64_t profile_db_id = m[0][2].as<int64_t>();
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(m[0][3]);
  const SearchSpec spec = Parse<SearchSpec>(m[0][4]);
  lease.set_dataset(spec.dataset());
  lease.set_measure_only(true);
  for (const SearchProfile& p : *profiles.Get(tx, lease.search_id())) {
    if (p.db_id == profile_db_id) lease.add_measure_profile_ids(p.profile.id());
  }
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at, profile_id) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond', $5) "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl),
      profile_db_id);
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  AppendEvent(tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED,
              lease.candidate_id(), lease.measure_profile_ids(0),
              absl::StrCat("candidate ", lease.candidate_id(), " leased to measure-only worker ",
                           worker_id, " for ", lease.measure_profile_ids(0), " (lease ",
                           lease.lease_id(), ")"));
  return lease;
}

}  // namespace

namespace {

// Leases one queued candidate row (id, search_id, arch, fidelity, spec) to a worker: marks it
// leased, records the lease and its event, and names the measured profiles of the worker's
// device.
absl::StatusOr<nas::v1::LeaseWorkResponse> GrantLease(pqxx::work& tx,
                                                      SearchProfileCache& profiles,
                                                      const pqxx::row& c, int64_t worker_id,
                                                      const std::string& device_tag,
                                                      absl::Duration ttl) {
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(c[0].as<int64_t>());
  lease.set_search_id(c[1].as<int64_t>());
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(c[2]);
  *lease.mutable_fidelity() = Parse<nas::v1::Fidelity>(c[3]);
  const SearchSpec spec = Parse<SearchSpec>(c[4]);
  *lease.mutable_recipe() = spec.recipe();
  lease.set_dataset(spec.dataset());
  if (IsWeightSharing(spec.strategy())) {
    NAS_RETURN_IF_ERROR(FillSupernetWork(tx, lease.search_id(), spec, lease.fidelity(),
                                         lease.mutable_supernet()));
  }
  tx.exec_params(
      "UPDATE candidates SET state = 'LEASED', attempts = attempts + 1 WHERE id = $1",
      lease.candidate_id());
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond') "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl));
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  for (const SearchProfile& p : *profiles.Get(tx, lease.search_id())) {
    if (p.profile.kind() == nas::v1::PROFILE_KIND_MEASURED &&
        p.profile.device_tag() == device_tag) {
      lease.add_measure_profile_ids(ProfileId(p.profile.name(), p.profile.version()));
    }
  }
  AppendEvent(tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED,
              lease.candidate_id(), "",
              absl::StrCat("candidate ", lease.candidate_id(), " leased to worker ", worker_id,
                           " (lease ", lease.lease_id(), ")"));
  return lease;
}

// Grants the next rank of a data-parallel supernet epoch whose rank 0 waits for its gang
// (a published rendezvous, fewer members than gang_size - 1), if any on the worker's
// datasets: a member lease on the same candidate, naming rank 0's lease and store.
absl::StatusOr<std::optional<nas::v1::LeaseWorkResponse>> GrantGangMember(
    pqxx::work& tx, int64_t worker_id, const std::string& datasets, absl::Duration ttl) {
  pqxx::result g = tx.exec_params(
      "SELECT g.id, g.candidate_id, g.search_id, c.arch, c.fidelity, s.spec, g.rendezvous, "
      "  g.gang_size, (SELECT count(*) FROM leases m WHERE m.gang_lease_id = g.id) "
      "FROM leases g JOIN candidates c ON c.id = g.candidate_id "
      "JOIN searches s ON s.id = g.search_id "
      "WHERE g.state = 'ACTIVE' AND g.rendezvous IS NOT NULL AND g.expires_at >= now() "
      "  AND g.worker_id <> $2 AND s.state = 'RUNNING' AND s.dataset = ANY($1::TEXT[]) "
      "  AND (SELECT count(*) FROM leases m WHERE m.gang_lease_id = g.id) < g.gang_size - 1 "
      "ORDER BY g.id LIMIT 1 FOR UPDATE OF g SKIP LOCKED",
      datasets, worker_id);
  if (g.empty()) return std::optional<nas::v1::LeaseWorkResponse>();
  const int64_t gang_lease = g[0][0].as<int64_t>();
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(g[0][1].as<int64_t>());
  lease.set_search_id(g[0][2].as<int64_t>());
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(g[0][3]);
  *lease.mutable_fidelity() = Parse<nas::v1::Fidelity>(g[0][4]);
  const SearchSpec spec = Parse<SearchSpec>(g[0][5]);
  *lease.mutable_recipe() = spec.recipe();
  lease.set_dataset(spec.dataset());
  NAS_RETURN_IF_ERROR(FillSupernetWork(tx, lease.search_id(), spec, lease.fidelity(),
                                       lease.mutable_supernet()));
  const int rank = g[0][8].as<int>() + 1;
  lease.mutable_supernet()->set_rank(rank);
  lease.mutable_supernet()->set_world_size(g[0][7].as<int>());
  lease.mutable_supernet()->set_store_address(g[0][6].as<std::string>());
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at, "
      "  gang_lease_id, gang_rank) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond', $5, $6) "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl),
      gang_lease, rank);
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  AppendEvent(tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED,
              lease.candidate_id(), "",
              absl::StrCat("supernet epoch ", lease.supernet().epoch(), ": rank ", rank, " of ",
                           lease.supernet().world_size(), " leased to worker ", worker_id,
                           " (lease ", lease.lease_id(), ", gang of lease ", gang_lease, ")"));
  return std::optional<nas::v1::LeaseWorkResponse>(std::move(lease));
}

}  // namespace

absl::StatusOr<std::optional<nas::v1::LeaseWorkResponse>> Store::LeaseNext(int64_t worker_id,
                                                                           absl::Duration ttl,
                                                                           int max_estimates) {
  using Result = std::optional<nas::v1::LeaseWorkResponse>;
  return pool_->Run("LeaseNext", [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    pqxx::result w = tx.exec_params(
        "UPDATE workers SET last_seen_at = now() WHERE id = $1 "
        "RETURNING device_tag, datasets, measure_only, quarantined_until > now(), "
        "  rfc3339(quarantined_until), quarantine_reason",
        worker_id);
    if (w.empty()) {
      return absl::NotFoundError(
          absl::StrCat("worker ", worker_id, " is not registered; call RegisterWorker"));
    }
    if (!w[0][3].is_null() && w[0][3].as<bool>()) {
      return absl::FailedPreconditionError(
          absl::StrCat("worker ", worker_id, " is quarantined until ", w[0][4].as<std::string>(),
                       ": ", w[0][5].as<std::string>()));
    }
    const std::string device_tag = w[0][0].as<std::string>();
    if (w[0][2].as<bool>()) return LeaseMeasurement(tx, *profiles_, worker_id, device_tag, ttl);
    // A gang waiting for its ranks comes first: its rank 0 idles until they join.
    NAS_ASSIGN_OR_RETURN(Result member,
                         GrantGangMember(tx, worker_id, w[0][1].c_str(), ttl));
    if (member.has_value()) return member;
    // Only candidates of searches on a dataset this worker has loaded.
    pqxx::result c = tx.exec_params(
        "SELECT c.id, c.search_id, c.arch, c.fidelity, s.spec FROM candidates c "
        "JOIN searches s ON s.id = c.search_id "
        "WHERE c.state = 'QUEUED' AND s.state = 'RUNNING' AND s.dataset = ANY($1::TEXT[]) "
        // Not a candidate this worker failed, while another live worker could take it.
        "  AND NOT (EXISTS (SELECT 1 FROM leases f WHERE f.candidate_id = c.id "
        "                   AND f.worker_id = $2 AND f.failed) "
        "       AND EXISTS (SELECT 1 FROM workers o WHERE o.id <> $2 AND NOT o.measure_only "
        "                   AND o.last_seen_at > now() - interval '1 minute' "
        "                   AND (o.quarantined_until IS NULL OR o.quarantined_until <= now()) "
        "                   AND s.dataset = ANY(o.datasets))) "
        "ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
        w[0][1].c_str(), worker_id);
    if (c.empty()) return Result();
    NAS_ASSIGN_OR_RETURN(nas::v1::LeaseWorkResponse lease,
                         GrantLease(tx, *profiles_, c[0], worker_id, device_tag, ttl));
    if (max_estimates > 1 && lease.fidelity().supernet_estimate()) {
      // The same search's next queued estimates (rung 0 of a weight-sharing search; its
      // fine-tunes are rung 1), all on the checkpoint the first names.
      pqxx::result more = tx.exec_params(
          "SELECT c.id, c.search_id, c.arch, c.fidelity, s.spec FROM candidates c "
          "JOIN searches s ON s.id = c.search_id "
          "WHERE c.search_id = $1 AND c.state = 'QUEUED' AND c.rung = 0 "
          "ORDER BY c.id LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
          lease.search_id(), max_estimates - 1);
      for (const pqxx::row& row : more) {
        NAS_ASSIGN_OR_RETURN(nas::v1::LeaseWorkResponse next,
                             GrantLease(tx, *profiles_, row, worker_id, device_tag, ttl));
        if (!next.fidelity().supernet_estimate() ||
            next.supernet().checkpoint_sha256() != lease.supernet().checkpoint_sha256()) {
          return absl::InternalError(absl::StrCat("candidate ", next.candidate_id(),
                                                  " of a batch is not an estimate of the "
                                                  "first's supernet"));
        }
        *lease.add_batch() = std::move(next);
      }
    }
    return Result(std::move(lease));
  });
}

namespace {

// Explains why a lease cannot be used: NotFound, or FailedPrecondition naming its state.
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
  if (state == "ACTIVE" && r[0][2].as<bool>()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", lease_id, " expired; candidate ", candidate, " will be re-queued"));
  }
  if (state == "EXPIRED") {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", lease_id, " expired; candidate ", candidate, " was re-queued"));
  }
  if (state == "REVOKED") {
    return absl::FailedPreconditionError(
        absl::StrCat("lease ", lease_id, " was revoked: its search ended"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("lease ", lease_id, " is ", absl::AsciiStrToLower(state)));
}

// Locks and checks a live lease (search row first, then the lease: the store's lock order).
// Returns {candidate_id, search_id}.
absl::StatusOr<std::pair<int64_t, int64_t>> LockLiveLease(pqxx::work& tx, int64_t worker_id,
                                                          int64_t lease_id) {
  pqxx::result s = tx.exec_params("SELECT search_id FROM leases WHERE id = $1", lease_id);
  if (s.empty()) return absl::NotFoundError(absl::StrCat("lease ", lease_id, " not found"));
  tx.exec_params("SELECT 1 FROM searches WHERE id = $1 FOR NO KEY UPDATE",
                 s[0][0].as<int64_t>());
  pqxx::result r = tx.exec_params(
      "SELECT candidate_id, search_id FROM leases "
      "WHERE id = $1 AND worker_id = $2 AND state = 'ACTIVE' "
      "FOR UPDATE",
      lease_id, worker_id);
  if (r.empty()) return LeaseNotLive(tx, worker_id, lease_id);
  return std::make_pair(r[0][0].as<int64_t>(), r[0][1].as<int64_t>());
}

}  // namespace

absl::StatusOr<absl::Time> Store::Heartbeat(const nas::v1::HeartbeatRequest& request,
                                            absl::Duration ttl) {
  return pool_->Run("Heartbeat", [&](pqxx::work& tx) -> absl::StatusOr<absl::Time> {
    pqxx::result r = tx.exec_params(
        "UPDATE leases SET expires_at = now() + $3 * interval '1 millisecond', "
        "  last_heard_at = now(), outage_grace = false "
        "WHERE id = $1 AND worker_id = $2 AND state = 'ACTIVE' "
        "RETURNING (extract(epoch FROM expires_at) * 1000)::BIGINT, search_id, candidate_id",
        request.lease_id(), request.worker_id(), absl::ToInt64Milliseconds(ttl));
    if (r.empty()) return LeaseNotLive(tx, request.worker_id(), request.lease_id());
    tx.exec_params("UPDATE workers SET last_seen_at = now() WHERE id = $1", request.worker_id());
    if (request.has_progress()) {
      const nas::v1::TrainingProgress& p = request.progress();
      AppendEvent(tx, r[0][1].as<int64_t>(), nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS,
                  r[0][2].as<int64_t>(), "",
                  absl::StrFormat("candidate %d: epoch %d/%d, loss %.4f, %.0f samples/s",
                                  r[0][2].as<int64_t>(), p.epoch(), p.epochs(), p.loss(),
                                  p.samples_per_second()));
    }
    return absl::FromUnixMillis(r[0][0].as<int64_t>());
  });
}

absl::Status Store::PublishRendezvous(int64_t worker_id, int64_t lease_id,
                                      const std::string& store_address) {
  return pool_->Run("PublishRendezvous", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, worker_id, lease_id));
    pqxx::row r = tx.exec_params1(
        "SELECT l.gang_lease_id IS NOT NULL, l.rendezvous, c.rung, c.fidelity, s.spec "
        "FROM leases l JOIN candidates c ON c.id = l.candidate_id "
        "JOIN searches s ON s.id = l.search_id WHERE l.id = $1",
        lease_id);
    const SearchSpec spec = Parse<SearchSpec>(r[4]);
    absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec.strategy());
    if (r[0].as<bool>() || r[2].as<int>() >= 0 || !IsWeightSharing(spec.strategy()) ||
        !plan.ok() || plan->supernet_workers < 2) {
      return absl::FailedPreconditionError(absl::StrCat(
          "lease ", lease_id, " is not rank 0 of a data-parallel supernet epoch (one with "
          "strategy setting supernet_workers > 1)"));
    }
    if (!r[1].is_null()) {
      if (r[1].as<std::string>() == store_address) return absl::OkStatus();  // a retry
      return absl::FailedPreconditionError(
          absl::StrCat("lease ", lease_id, " already published ", r[1].as<std::string>()));
    }
    tx.exec_params("UPDATE leases SET rendezvous = $2, gang_size = $3 WHERE id = $1", lease_id,
                   store_address, plan->supernet_workers);
    AppendEvent(tx, ids.second, nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS, ids.first, "",
                absl::StrCat("supernet epoch ", Parse<nas::v1::Fidelity>(r[3]).epochs(),
                             ": rank 0 (worker ", worker_id, ") waits for its gang of ",
                             plan->supernet_workers, " at ", store_address));
    return absl::OkStatus();
  });
}

absl::Status Store::StoreArtifact(const nas::v1::UploadArtifactRequest::Header& header,
                                  const std::string& data) {
  return pool_->Run("StoreArtifact", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, header.worker_id(), header.lease_id()));
    if (!tx.exec_params("SELECT 1 FROM leases WHERE id = $1 AND gang_lease_id IS NOT NULL",
                        header.lease_id())
             .empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("lease ", header.lease_id(), " is a rank > 0 of a data-parallel supernet "
                       "epoch; rank 0 uploads the checkpoint"));
    }
    nas::v1::ModelMetadata meta = header.metadata();
    meta.set_candidate_id(ids.first);
    meta.set_search_id(ids.second);
    tx.exec_params(
        "INSERT INTO artifacts (candidate_id, search_id, lease_id, sha256, size_bytes, format, "
        "  metadata, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (candidate_id) DO UPDATE SET lease_id = $3, sha256 = $4, size_bytes = $5, "
        "  format = $6, metadata = $7, data = $8, created_at = now()",
        ids.first, ids.second, header.lease_id(), header.sha256(),
        static_cast<int64_t>(data.size()), header.format(), Bin(meta), pqxx::binarystring(data));
    return absl::OkStatus();
  });
}

namespace {

// JoinFront() offers a feasible finished candidate to `profile`'s front of the search, whose
// current members are `members` (the search row is locked by the caller): stores the new
// front and a FRONT_CHANGED event with its hypervolume when the candidate joins.
void JoinFront(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
               const SearchProfile& profile, int64_t candidate_id,
               const CandidateMetrics& metrics, const ProfileMetrics& pm,
               std::vector<ParetoArchive::Member> members) {
  ParetoArchive front(std::move(members));
  std::vector<int64_t> removed;
  const std::vector<double> objectives = ObjectiveVector(spec, metrics, pm);
  if (!front.Insert(candidate_id, objectives, &removed)) return;
  for (int64_t gone : removed) {
    tx.exec_params(
        "DELETE FROM pareto_members WHERE search_id = $1 AND profile_id = $2 "
        "AND candidate_id = $3",
        search_id, profile.db_id, gone);
  }
  tx.exec_params(
      "INSERT INTO pareto_members (search_id, profile_id, candidate_id, objectives) "
      "VALUES ($1, $2, $3, $4::DOUBLE PRECISION[])",
      search_id, profile.db_id, candidate_id, DoubleArray(objectives));
  std::vector<std::vector<double>> points;
  for (const ParetoArchive::Member& m : front.members()) points.push_back(m.values);
  const absl::StatusOr<double> hv = Hypervolume(
      points, HypervolumeReference(spec.objectives(), spec.constraints(), profile.profile));
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_FRONT_CHANGED, candidate_id,
              profile.profile.id(),
              absl::StrCat("candidate ", candidate_id, " joined the ", profile.profile.name(),
                           " front (", front.members().size(), " members, ", removed.size(),
                           " displaced; hypervolume ",
                           hv.ok() ? absl::StrFormat("%.6g", *hv) : "-", ")"),
              hv.ok() ? *hv : -1);
}

// The current members of one profile's front of a search.
std::vector<ParetoArchive::Member> FrontMembers(pqxx::work& tx, int64_t search_id,
                                                int64_t profile_db_id) {
  std::vector<ParetoArchive::Member> members;
  for (const pqxx::row& r : tx.exec_params(
           "SELECT candidate_id, objectives FROM pareto_members "
           "WHERE search_id = $1 AND profile_id = $2",
           search_id, profile_db_id)) {
    members.push_back({r[0].as<int64_t>(), ParseDoubleArray(r[1].as<std::string>())});
  }
  return members;
}

// A measure-only worker's report on `profile_db_id` (the lease is already completed): the
// candidate's stored metrics with the measured latency, judged again on that profile, stored,
// and offered to its front.
absl::StatusOr<ReportOutcome> StoreMeasurement(pqxx::work& tx, SearchProfileCache& profiles,
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
  pqxx::row e = tx.exec_params1("SELECT metrics FROM evaluations WHERE candidate_id = $1",
                                candidate_id);
  CandidateMetrics metrics = Parse<CandidateMetrics>(e[0]);
  metrics.set_latency_ms(request.metrics().latency_ms());
  metrics.set_latency_iqr_ms(request.metrics().latency_iqr_ms());
  metrics.set_latency_threads(request.metrics().latency_threads());
  const ProfileMetrics pm =
      EvaluateOnProfile(profile->profile, metrics, spec.constraints(),
                        /*measured_on_device=*/true, &architecture, InputShapeFor(spec.dataset()));
  tx.exec_params(
      "UPDATE profile_metrics SET metrics = $3, feasible = $4, measure_device = NULL "
      "WHERE candidate_id = $1 AND profile_id = $2",
      candidate_id, profile_db_id, Bin(pm), pm.feasible());
  AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_MEASURED, candidate_id,
              profile->profile.id(),
              absl::StrFormat("candidate %d measured on %s: %.3f ms%s", candidate_id,
                              profile->profile.id(), pm.latency_ms(),
                              pm.feasible() ? "" : " (over a limit)"));
  if (pm.feasible() && rung == FinalRung(spec)) {
    JoinFront(tx, search_id, spec, *profile, candidate_id, metrics, pm,
              FrontMembers(tx, search_id, profile_db_id));
  }
  return outcome;
}

// Stores a candidate's evaluation under its (completed) lease and marks it EVALUATED.
void StoreEvaluation(pqxx::work& tx, int64_t candidate_id, int64_t search_id, int64_t lease_id,
                     const CandidateMetrics& metrics) {
  tx.exec_params(
      "WITH e AS (INSERT INTO evaluations (candidate_id, search_id, lease_id, metrics, "
      "  val_accuracy) VALUES ($1, $2, $3, $4, $5)) "
      "UPDATE candidates SET state = 'EVALUATED', evaluated_at = now(), error = '' "
      "WHERE id = $1",
      candidate_id, search_id, lease_id, Bin(metrics), metrics.val_accuracy());
}

// A supernet epoch's report: kept only with the checkpoint the lease uploaded. It counts
// towards no budget, profile or front; the next refill queues the next epoch or starts the
// estimates.
absl::StatusOr<ReportOutcome> StoreSupernetEpoch(pqxx::work& tx,
                                                 const nas::v1::ReportResultRequest& request,
                                                 int64_t search_id, int64_t candidate_id,
                                                 int epoch, ReportOutcome outcome) {
  pqxx::result a = tx.exec_params(
      "SELECT sha256, format FROM artifacts WHERE candidate_id = $1 AND lease_id = $2",
      candidate_id, request.lease_id());
  if (a.empty() || a[0][1].as<std::string>() != kSupernetCheckpointFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", request.lease_id(), ": upload the supernet checkpoint (format \"",
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
  for (const pqxx::row& w : tx.exec_params(
           "SELECT DISTINCT worker_id FROM leases WHERE candidate_id = $1 AND failed "
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
    const std::string reason = absl::StrCat(
        "it failed candidates ", streak[1].as<std::string>(),
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

absl::StatusOr<ReportOutcome> Store::ReportResult(const nas::v1::ReportResultRequest& request) {
  return pool_->Run("ReportResult", [&](pqxx::work& tx) -> absl::StatusOr<ReportOutcome> {
    ReportOutcome outcome;
    // Lock order: the search row, then the lease. Completing the lease in the same statement
    // that checks it is live is the fence: an expired or superseded lease matches no row.
    pqxx::result head = tx.exec_params(
        "SELECT s.id, s.spec, w.device_tag, COALESCE(l.profile_id, 0) FROM leases l "
        "JOIN workers w ON w.id = $2 JOIN searches s ON s.id = l.search_id "
        "WHERE l.id = $1 FOR NO KEY UPDATE OF s",
        request.lease_id(), request.worker_id());
    if (head.empty()) return LeaseNotLive(tx, request.worker_id(), request.lease_id());
    const int64_t search_id = head[0][0].as<int64_t>();
    outcome.search_id = search_id;
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
    const int64_t candidate_id = live[0][0].as<int64_t>();
    outcome.candidate_id = candidate_id;
    if (!live[0][3].is_null()) {
      // A rank > 0 of a data-parallel supernet epoch: its part is done (or failed); rank 0's
      // report decides the epoch.
      const int rank = live[0][3].as<int>();
      outcome.gang_member = true;
      AppendEvent(
          tx, search_id,
          request.outcome_case() == nas::v1::ReportResultRequest::kMetrics
              ? nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS
              : nas::v1::SEARCH_EVENT_KIND_CANDIDATE_FAILED,
          candidate_id, "",
          request.outcome_case() == nas::v1::ReportResultRequest::kMetrics
              ? absl::StrFormat("candidate %d: rank %d trained its share of the supernet epoch "
                                "in %.0f s, loss %.4f",
                                candidate_id, rank, request.metrics().train_seconds(),
                                request.metrics().train_loss())
              : absl::StrCat("candidate ", candidate_id, ": rank ", rank, " failed: ",
                             request.error()));
      return outcome;
    }
    const int rung = live[0][1].as<int>();
    const nas::v1::Architecture architecture = Parse<nas::v1::Architecture>(live[0][2]);
    const SearchSpec spec = Parse<SearchSpec>(head[0][1]);
    // Lower rungs of successive halving only rank candidates for promotion: their results
    // are kept and shown, but never enter a front nor the best accuracy.
    const bool finished_model = rung == FinalRung(spec);
    const std::string device_tag = head[0][2].as<std::string>();
    if (const int64_t measured = head[0][3].as<int64_t>(); measured != 0) {
      return StoreMeasurement(tx, *profiles_, request, search_id, spec, candidate_id, rung,
                              architecture, measured);
    }
    if (rung < 0 && request.outcome_case() == nas::v1::ReportResultRequest::kMetrics) {
      const nas::v1::Fidelity fidelity = Parse<nas::v1::Fidelity>(
          tx.exec_params1("SELECT fidelity FROM candidates WHERE id = $1", candidate_id)[0]);
      return StoreSupernetEpoch(tx, request, search_id, candidate_id, fidelity.epochs(),
                                outcome);
    }

    if (request.outcome_case() != nas::v1::ReportResultRequest::kMetrics) {
      const std::string error =
          request.error().empty() ? "worker reported no metrics" : request.error();
      tx.exec_params("UPDATE leases SET failed = true WHERE id = $1", request.lease_id());
      pqxx::row r = tx.exec_params1(
          "UPDATE candidates SET error = $2, state = CASE WHEN attempts >= $3 "
          "  THEN 'FAILED' ELSE 'QUEUED' END WHERE id = $1 RETURNING state",
          candidate_id, error, spec.budget().max_attempts());
      const bool failed = r[0].as<std::string>() == "FAILED";
      AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_FAILED, candidate_id, "",
                  absl::StrCat("candidate ", candidate_id, failed ? " failed: " : " will retry: ",
                               error));
      // A supernet epoch is no candidate of the budget; a failed one ends the search at the
      // next refill.
      if (failed && rung >= 0) {
        outcome.search_ended =
            FinishIfBudgetSpent(tx, search_id, CountFinal(tx, search_id, "FAILED"));
      }
      return outcome;
    }

    const CandidateMetrics& metrics = request.metrics();
    StoreEvaluation(tx, candidate_id, search_id, request.lease_id(), metrics);
    if (const StoreOptions& o = pool_->options(); o.quarantine_after > 0) {
      outcome.quarantined = QuarantineFailingWorkers(tx, candidate_id, request.worker_id(),
                                                     o.quarantine_after, o.quarantine_for);
    }
    if (spec.has_multi_fidelity()) {
      tx.exec_params(
          "UPDATE searches SET evaluated_per_rung[$2] = evaluated_per_rung[$2] + 1 "
          "WHERE id = $1",
          search_id, rung + 1);
    }
    AppendEvent(tx, search_id, nas::v1::SEARCH_EVENT_KIND_CANDIDATE_EVALUATED, candidate_id, "",
                absl::StrFormat("candidate %d evaluated%s: accuracy %.4f, %d params",
                                candidate_id,
                                spec.has_multi_fidelity() ? absl::StrCat(" at rung ", rung) : "",
                                metrics.val_accuracy(), metrics.params()));

    // Every front of the search at once. The search row lock serialises reports of one
    // search, so these members are the whole current fronts.
    std::map<int64_t, std::vector<ParetoArchive::Member>> fronts;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT profile_id, candidate_id, objectives FROM pareto_members "
             "WHERE search_id = $1",
             search_id)) {
      fronts[r[0].as<int64_t>()].push_back(
          {r[1].as<int64_t>(), ParseDoubleArray(r[2].as<std::string>())});
    }
    const auto profiles = profiles_->Get(tx, search_id);
    for (const SearchProfile& p : *profiles) {
      const ProfileMetrics pm =
          EvaluateOnProfile(p.profile, metrics, spec.constraints(),
                            device_tag == p.profile.device_tag(), &architecture,
                            InputShapeFor(spec.dataset()));
      // A finished model on a measured profile of another device waits for a measure-only
      // worker of that device (until then its latency is unmeasured, a named violation).
      const bool to_measure = finished_model &&
                              p.profile.kind() == nas::v1::PROFILE_KIND_MEASURED &&
                              device_tag != p.profile.device_tag();
      tx.exec_params(
          "INSERT INTO profile_metrics (candidate_id, profile_id, search_id, metrics, feasible, "
          "  measure_device) VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''))",
          candidate_id, p.db_id, search_id, Bin(pm), pm.feasible(),
          to_measure ? p.profile.device_tag() : std::string());
      // A prediction for the device this worker just measured on: how far off it was.
      if (p.profile.kind() != nas::v1::PROFILE_KIND_MEASURED &&
          p.profile.device_tag() == device_tag && metrics.latency_ms() > 0 &&
          pm.latency_ms() > 0) {
        outcome.prediction_errors.push_back(
            {p.profile.id(),
             std::abs(pm.latency_ms() - metrics.latency_ms()) / metrics.latency_ms()});
      }
      if (!pm.feasible() || !finished_model) continue;
      JoinFront(tx, search_id, spec, p, candidate_id, metrics, pm, std::move(fronts[p.db_id]));
    }
    outcome.search_ended = FinishIfBudgetSpent(
        tx, search_id,
        CountFinal(tx, search_id, "EVALUATED", 1, finished_model ? metrics.val_accuracy() : 0));
    return outcome;
  });
}

absl::Status Store::ReturnLease(int64_t worker_id, int64_t lease_id) {
  return pool_->Run("ReturnLease", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, worker_id, lease_id));
    pqxx::row l = tx.exec_params1(
        "UPDATE leases SET state = 'RETURNED', ended_at = now() WHERE id = $1 "
        "RETURNING profile_id IS NOT NULL OR gang_lease_id IS NOT NULL",
        lease_id);
    // A measurement stays to do (its profile_metrics row still names the device); a gang
    // member's candidate is rank 0's to give back.
    if (l[0].as<bool>()) return absl::OkStatus();
    // A returned lease is not the candidate's fault: give the attempt back.
    tx.exec_params(
        "UPDATE candidates SET state = 'QUEUED', attempts = attempts - 1 WHERE id = $1",
        ids.first);
    AppendEvent(tx, ids.second, nas::v1::SEARCH_EVENT_KIND_LEASE_EXPIRED, ids.first, "",
                absl::StrCat("worker ", worker_id, " returned lease ", lease_id,
                             "; candidate ", ids.first, " re-queued"));
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> Store::ExtendLiveLeases(absl::Duration ttl, absl::Time away_since) {
  return pool_->Run("ExtendLiveLeases", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    pqxx::result r = tx.exec_params(
        "UPDATE leases SET expires_at = greatest(expires_at, "
        "  now() + $1 * interval '1 millisecond'), "
        "  outage_grace = outage_grace OR last_heard_at < to_timestamp($2 / 1000.0) "
        "WHERE state = 'ACTIVE'",
        absl::ToInt64Milliseconds(ttl), absl::ToUnixMillis(away_since));
    return static_cast<int64_t>(r.affected_rows());
  });
}

absl::StatusOr<std::vector<LeaseExpiry>> Store::ExpireLeases() {
  NAS_ASSIGN_OR_RETURN(
      std::vector<LeaseExpiry> due,
      pool_->Run("ExpireLeases", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<LeaseExpiry>> {
        std::vector<LeaseExpiry> out;
        for (const pqxx::row& r : tx.exec(
                 "SELECT id, candidate_id, search_id FROM leases "
                 "WHERE state = 'ACTIVE' AND expires_at < now() ORDER BY id LIMIT 1000")) {
          out.push_back({r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), false});
        }
        return out;
      }));
  std::vector<LeaseExpiry> expired;
  // One transaction per lease: each expiry is its own state change.
  for (LeaseExpiry& e : due) {
    absl::StatusOr<bool> ended = pool_->Run("ExpireLeases", [&](pqxx::work& tx) -> absl::StatusOr<bool> {
      pqxx::row s = tx.exec_params1("SELECT spec FROM searches WHERE id = $1 FOR NO KEY UPDATE",
                                    e.search_id);
      pqxx::result l = tx.exec_params(
          "UPDATE leases SET state = 'EXPIRED', ended_at = now() "
          "WHERE id = $1 AND state = 'ACTIVE' AND expires_at < now() "
          "RETURNING profile_id IS NOT NULL OR gang_lease_id IS NOT NULL, outage_grace",
          e.lease_id);
      if (l.empty()) return false;  // Heartbeat, report or another controller got there first.
      // A measurement lease: the candidate stays evaluated; another worker measures it. A
      // gang member: rank 0's lease decides its candidate (its next collective fails).
      if (l[0][0].as<bool>()) {
        expired.push_back(e);
        return false;
      }
      const SearchSpec spec = Parse<SearchSpec>(s[0]);
      // A lease live across the service's own outage and never heard from since may never have
      // reached its worker (the answer was lost with the controller): its attempt is given
      // back, as for a returned lease.
      const bool outage = l[0][1].as<bool>();
      pqxx::row c = tx.exec_params1(
          "UPDATE candidates SET attempts = attempts - $4, "
          "  state = CASE WHEN attempts - $4 >= $2 THEN 'FAILED' ELSE 'QUEUED' END, error = $3 "
          "WHERE id = $1 RETURNING state, rung",
          e.candidate_id, spec.budget().max_attempts(),
          absl::StrCat("lease ", e.lease_id, " expired without a report"), outage ? 1 : 0);
      e.requeued = c[0].as<std::string>() == "QUEUED";
      AppendEvent(tx, e.search_id, nas::v1::SEARCH_EVENT_KIND_LEASE_EXPIRED, e.candidate_id, "",
                  absl::StrCat("lease ", e.lease_id, " expired",
                               outage ? " unheard since the service's outage (not charged)" : "",
                               "; candidate ", e.candidate_id,
                               e.requeued ? " re-queued" : " failed: out of attempts"));
      expired.push_back(e);
      // A supernet epoch (rung -1) out of attempts ends the search at the next refill.
      return !e.requeued && c[1].as<int>() >= 0 &&
             FinishIfBudgetSpent(tx, e.search_id, CountFinal(tx, e.search_id, "FAILED"));
    });
    NAS_RETURN_IF_ERROR(ended.status());
  }
  return expired;
}

absl::StatusOr<std::vector<int64_t>> Store::EndOverdueSearches() {
  return pool_->Run("EndOverdueSearches", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<int64_t>> {
    std::vector<int64_t> ended;
    for (const pqxx::row& r : tx.exec(
             "SELECT id FROM searches WHERE state = 'RUNNING' AND deadline_at < now() "
             "FOR NO KEY UPDATE SKIP LOCKED")) {
      EndSearch(tx, r[0].as<int64_t>(), "SUCCEEDED", "wall-clock budget spent");
      ended.push_back(r[0].as<int64_t>());
    }
    return ended;
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
        tx.exec1("SELECT count(*) FROM workers WHERE last_seen_at > now() - interval '1 minute'")
            [0].as<int64_t>();
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
    const std::string id_array = absl::StrCat("{", absl::StrJoin(ids, ","), "}");
    for (const pqxx::row& r : tx.exec_params(
             "SELECT search_id, state, count(*) FROM candidates "
             "WHERE search_id = ANY($1::BIGINT[]) GROUP BY search_id, state",
             id_array)) {
      snap.searches[index[r[0].as<int64_t>()]].candidates_by_state[r[1].as<std::string>()] =
          r[2].as<int64_t>();
    }
    std::map<std::pair<int64_t, int64_t>, std::vector<std::vector<double>>> fronts;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT search_id, profile_id, objectives FROM pareto_members "
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
