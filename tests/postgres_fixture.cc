#include "tests/postgres_fixture.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas {
namespace {

// The newest /usr/lib/postgresql/<version>/bin.
std::string FindPostgresBin() {
  std::string best;
  int best_version = 0;
  if (DIR* d = opendir("/usr/lib/postgresql")) {
    while (dirent* e = readdir(d)) {
      const int v = std::atoi(e->d_name);
      if (v > best_version) {
        best_version = v;
        best = absl::StrCat("/usr/lib/postgresql/", e->d_name, "/bin");
      }
    }
    closedir(d);
  }
  return best;
}

int Run(const std::string& command) { return std::system(command.c_str()); }

}  // namespace

absl::StatusOr<std::unique_ptr<TestPostgres>> TestPostgres::Start(TestPostgresOptions options) {
  std::unique_ptr<TestPostgres> pg(new TestPostgres());
  if (const char* url = std::getenv("NAS_TEST_DATABASE_URL"); url != nullptr && *url) {
    pg->admin_url_ = url;
    return pg;
  }
  pg->bin_ = FindPostgresBin();
  if (pg->bin_.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (apt install "
        "postgresql)");
  }
  char tmpl[] = "/tmp/nas-test-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  pg->dir_ = tmpl;
  pg->owned_ = true;
  pg->run_as_postgres_ = geteuid() == 0;
  const std::string as = pg->run_as_postgres_ ? "runuser -u postgres -- " : "";
  if (pg->run_as_postgres_ && Run(absl::StrCat("chown postgres: ", pg->dir_)) != 0) {
    return absl::InternalError("cannot chown the test cluster to user postgres");
  }
  const std::string data = pg->dir_ + "/data";
  if (Run(absl::StrCat(as, pg->bin_, "/initdb -D ", data,
                       " -U nas -A trust --no-sync -E UTF8 --locale=C >", pg->dir_,
                       "/initdb.log 2>&1")) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed; see ", pg->dir_, "/initdb.log"));
  }
  std::string settings = absl::StrCat("-c listen_addresses='' -k ", pg->dir_,
                                      " -c max_connections=300 -c shared_buffers=256MB");
  if (!options.durable) absl::StrAppend(&settings, " -c fsync=off -c synchronous_commit=off");
  pg->settings_ = settings;
  NAS_RETURN_IF_ERROR(pg->Resume());
  pg->admin_url_ = absl::StrCat("host=", pg->dir_, " user=nas dbname=postgres");
  return pg;
}

absl::Status TestPostgres::Stop() {
  if (!owned_) return absl::FailedPreconditionError("not a server this fixture started");
  const std::string as = run_as_postgres_ ? "runuser -u postgres -- " : "";
  if (Run(absl::StrCat(as, bin_, "/pg_ctl -D ", dir_,
                       "/data -m immediate -w stop >/dev/null 2>&1")) != 0) {
    return absl::InternalError("pg_ctl stop failed");
  }
  return absl::OkStatus();
}

absl::Status TestPostgres::Resume() {
  if (!owned_) return absl::FailedPreconditionError("not a server this fixture started");
  const std::string as = run_as_postgres_ ? "runuser -u postgres -- " : "";
  if (Run(absl::StrCat(as, bin_, "/pg_ctl -D ", dir_, "/data -l ", dir_,
                       "/server.log -w -t 60 -o \"", settings_, "\" start >/dev/null 2>&1")) != 0) {
    return absl::InternalError(absl::StrCat("PostgreSQL did not start; see ", dir_, "/server.log"));
  }
  return absl::OkStatus();
}

TestPostgres::~TestPostgres() {
  if (!owned_) return;
  const std::string as = run_as_postgres_ ? "runuser -u postgres -- " : "";
  Run(absl::StrCat(as, bin_, "/pg_ctl -D ", dir_, "/data -m immediate -w stop >/dev/null 2>&1"));
  Run(absl::StrCat("rm -rf ", dir_));
}

absl::StatusOr<std::string> TestPostgres::NewDatabase() {
  const std::string name = absl::StrCat("nas_test_", getpid(), "_", next_db_++);
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec(absl::StrCat("DROP DATABASE IF EXISTS ", name));
    tx.exec(absl::StrCat("CREATE DATABASE ", name));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot create a test database: ", e.what()));
  }
  // Same server, other database: replace dbname in a key=value string, or the URL's path.
  std::string url = admin_url_;
  const size_t pos = url.find("dbname=");
  if (pos != std::string::npos) {
    const size_t end = url.find(' ', pos);
    url.replace(pos, end == std::string::npos ? std::string::npos : end - pos,
                absl::StrCat("dbname=", name));
  } else {
    url = absl::StrCat(url, url.find('?') == std::string::npos ? "?" : "&", "dbname=", name);
  }
  return url;
}

absl::StatusOr<TestPostgres*> SharedTestPostgres() {
  // Destroyed at exit, which stops the server and removes its directory.
  static auto* const shared =
      new absl::StatusOr<std::unique_ptr<TestPostgres>>(TestPostgres::Start());
  static const int cleanup = std::atexit([] { delete shared; });
  (void)cleanup;
  if (!shared->ok()) return shared->status();
  return shared->value().get();
}

}  // namespace nas
