// TestPostgres: a real, private PostgreSQL server for tests and benchmarks.
//
//   absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start();
//   absl::StatusOr<std::string> url = (*pg)->NewDatabase();   // an empty database of its own
//
// It runs initdb in a fresh directory under /tmp and serves on a unix socket there only (no TCP
// port to collide with). As root it runs the server as the `postgres` user, since PostgreSQL
// refuses root. With NAS_TEST_DATABASE_URL set, it uses that server instead of starting one.
#ifndef NAS_TESTS_POSTGRES_FIXTURE_H_
#define NAS_TESTS_POSTGRES_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace nas {

struct TestPostgresOptions {
  // fsync=off and synchronous_commit=off: fine for tests, wrong for benchmarks.
  bool durable = false;
};

class TestPostgres {
 public:
  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start(TestPostgresOptions options = {});
  ~TestPostgres();

  // TestPostgres::NewDatabase() creates an empty database and returns its connection string.
  absl::StatusOr<std::string> NewDatabase();

  // TestPostgres::Stop() stops the server at once (pg_ctl -m immediate: a crash, as far as
  // clients can tell); Resume() starts it again on the same data and socket. FailedPrecondition
  // for a server this fixture did not start (NAS_TEST_DATABASE_URL).
  absl::Status Stop();
  absl::Status Resume();

  // TestPostgres::AdminUrl() is the connection string of the maintenance database.
  const std::string& AdminUrl() const { return admin_url_; }

 private:
  TestPostgres() = default;
  std::string dir_;
  std::string admin_url_;
  std::string bin_;
  std::string settings_;
  bool run_as_postgres_ = false;
  bool owned_ = false;
  int next_db_ = 0;
};

// SharedTestPostgres() returns one server for the whole test binary, started on first use and
// stopped when the binary exits. Tests take a database of their own with NewDatabase().
absl::StatusOr<TestPostgres*> SharedTestPostgres();

}  // namespace nas

#endif  // NAS_TESTS_POSTGRES_FIXTURE_H_
