// Migrations are safe when several controllers start together on one fresh database.
#include <pqxx/pqxx>
#include <thread>

#include "gtest/gtest.h"
#include "search/builtin_profiles.h"
#include "services/store/migrations.h"
#include "services/store/store.h"
#include "tests/postgres_fixture.h"

namespace nas {
namespace {

TEST(StoreMigrationTest, ConcurrentStartsApplyEachMigrationOnce) {
  absl::StatusOr<TestPostgres*> pg = SharedTestPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> url = (*pg)->NewDatabase();
  ASSERT_TRUE(url.ok());

  constexpr int kControllers = 4;
  std::vector<absl::Status> results(kControllers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kControllers; ++i) {
    threads.emplace_back([&, i] {
      StoreOptions options;
      options.database_url = *url;
      results[i] = Store::Open(options).status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& st : results) EXPECT_TRUE(st.ok()) << st;

  pqxx::connection c(*url);
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<size_t>(),
            Migrations().size());
  // The built-in profiles were seeded once, not once per controller.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM hardware_profiles")[0].as<size_t>(),
            BuiltinProfiles().size());
}

TEST(StoreMigrationTest, UnreachableDatabaseIsUnavailable) {
  StoreOptions options;
  options.database_url = "host=/nonexistent-socket-dir user=nas dbname=nas";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

}  // namespace
}  // namespace nas
