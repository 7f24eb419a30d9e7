// The store's life: opening it (migrations under an advisory lock, the built-in profiles),
// and its health.
#include "services/store/store.h"

#include <pqxx/pqxx>

#include "common/status_macros.h"
#include "glog/logging.h"
#include "services/store/migrations.h"
#include "services/store/pool.h"
#include "services/store/search_profiles.h"

namespace nas {

// An arbitrary constant that names the migration lock among the database's advisory locks.
constexpr int64_t kMigrationLockKey = 0x6e61735f6d6967;  // "nas_mig"

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
    return absl::UnavailableError(
        absl::StrCat("store: cannot connect to the database: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("store: migration failed: ", e.what()));
  }
  std::unique_ptr<Store> store(new Store(std::move(pool)));
  NAS_RETURN_IF_ERROR(store->SeedBuiltinProfiles());
  return store;
}

}  // namespace nas
