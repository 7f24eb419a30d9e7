// Store::Pool: the store's database connections, lent one per transaction, and the health
// probe's connection of its own. Internal to services/store.
//
//   pool_->Run("Operation", [&](pqxx::work& tx) -> absl::StatusOr<T> { ... });
//
// Run() commits when the function returns OK and rolls back otherwise, retries serialization
// failures and deadlocks, and maps a lost connection or a statement timeout to Unavailable.
#ifndef NAS_SERVICES_STORE_POOL_H_
#define NAS_SERVICES_STORE_POOL_H_

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "services/store/store.h"

namespace nas {

// Sets a session's safety limits: a runaway statement is cancelled, and a session left idle
// inside a transaction (a client that vanished mid-transaction) is ended by the server.
void ApplySessionSettings(pqxx::connection& c, absl::Duration statement_timeout);

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
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
  auto RunTransaction(const char* operation, Fn&& fn) -> decltype(fn(std::declval<pqxx::work&>())) {
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
          return Result(absl::AbortedError(
              absl::StrCat("store: gave up after ", attempt, " conflicting attempts: ", e.what())));
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
          return Result(
              absl::UnavailableError(absl::StrCat("store: ", operation, " timed out: ", e.what())));
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
      const bool got = mu_.AwaitWithTimeout(absl::Condition(&available), options_.acquire_timeout);
      --waiting_;
      if (!got) {
        return absl::UnavailableError(absl::StrCat("store: every database connection is busy (",
                                                   options_.pool_size, " held for ",
                                                   HolderSummary(), ")"));
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
      return absl::UnavailableError(
          absl::StrCat("store: cannot connect to the database: ", e.what()));
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
                     absl::FormatDuration(absl::Trunc(since, absl::Seconds(1))), " (", waiting_,
                     " callers waiting; held for ", HolderSummary(), ")"));
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
  // HealthProbe::Check() is OK when a trivial transaction completes within `deadline`.
  absl::Status Check(absl::Duration deadline);

 private:
  const std::string url_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas

#endif  // NAS_SERVICES_STORE_POOL_H_
