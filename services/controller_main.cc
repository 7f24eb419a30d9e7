// nas-controller: the NAS service's gRPC controller.
//
//   nas-controller --listen=0.0.0.0:50051 --database_url=postgresql:///nas
//                  --worker_token_file=/etc/nas/worker.token
//                  --admin_token_file=/etc/nas/admin.token
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "glog/logging.h"
#include "services/crypto.h"
#include "services/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "host:port to serve gRPC on (port 0: any)");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL connection string; defaults to the DATABASE_URL environment variable");
ABSL_FLAG(std::string, worker_token_file, "",
          "File holding the worker credential; created with a fresh secret if missing");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the bootstrap token of user \"admin\" (used when the database has no "
          "users); created with a fresh secret if missing");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain; enables TLS with --tls_key_file");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key");
ABSL_FLAG(int, lease_ttl_seconds, 30, "How long a lease lives without a heartbeat");
ABSL_FLAG(int, db_pool_size, 8, "Database connections kept open");
ABSL_FLAG(int, db_statement_timeout_seconds, 30,
          "Longest a database statement may run (statement_timeout; a session idle in a "
          "transaction is ended after twice this)");
ABSL_FLAG(int, quarantine_after, 3,
          "Quarantine a worker once this many different candidates it failed in a row were "
          "evaluated by other workers (0: never)");
ABSL_FLAG(int, quarantine_minutes, 10, "How long a quarantined worker gets no work");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus /metrics on (e.g. 0.0.0.0:9464; port 0: any); empty: "
          "not served");
ABSL_FLAG(std::string, metrics_port_file, "", "Write the bound /metrics port here (for scripts)");
ABSL_FLAG(std::string, port_file, "", "Write the bound port here once serving (for scripts)");

namespace {

// Reads a secret from `path`, or writes a fresh one there (mode 0600) if the file is missing.
std::string ReadOrCreateSecret(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    return std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  const std::string secret = nas::NewToken();
  {
    std::ofstream out(path);
    out << secret << "\n";
    if (!out) LOG(FATAL) << "cannot write " << path;
  }
  chmod(path.c_str(), 0600);
  LOG(INFO) << "wrote a new secret to " << path;
  return secret;
}

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

constexpr char kUsage[] = R"(nas-controller: the NAS service's gRPC controller.

Usage: nas-controller --listen=HOST:PORT --database_url=postgresql://... [flags]

It serves the NAS and admin APIs to users and the trainer API to workers, runs the searches'
strategies, and keeps every result in PostgreSQL. Several controllers may share one database.)";

int main(int argc, char** argv) {
  nas::ParseCommandLineOrExit(argc, argv, kUsage, {"services/"});
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  nas::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.store.database_url = absl::GetFlag(FLAGS_database_url);
  if (options.store.database_url.empty() && std::getenv("DATABASE_URL") != nullptr) {
    options.store.database_url = std::getenv("DATABASE_URL");
  }
  if (options.store.database_url.empty()) {
    std::cerr << "nas-controller: give --database_url or set DATABASE_URL\n";
    return 2;
  }
  options.store.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  options.store.statement_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_db_statement_timeout_seconds));
  options.store.quarantine_after = absl::GetFlag(FLAGS_quarantine_after);
  options.store.quarantine_for = absl::Minutes(absl::GetFlag(FLAGS_quarantine_minutes));
  if (options.store.pool_size < 1 || options.store.statement_timeout <= absl::ZeroDuration() ||
      options.store.quarantine_after < 0 || absl::GetFlag(FLAGS_quarantine_minutes) < 1 ||
      absl::GetFlag(FLAGS_lease_ttl_seconds) < 1) {
    std::cerr << "nas-controller: --db_pool_size, --db_statement_timeout_seconds, "
                 "--quarantine_minutes and --lease_ttl_seconds must be >= 1, "
                 "--quarantine_after >= 0\n";
    return 2;
  }
  // A database host that does not answer must not hang a connection attempt (libpq's own
  // setting; an explicit connect_timeout in the URL still wins).
  setenv("PGCONNECT_TIMEOUT", "5", /*overwrite=*/0);
  options.scheduler.lease_ttl = absl::Seconds(absl::GetFlag(FLAGS_lease_ttl_seconds));
  if (absl::GetFlag(FLAGS_worker_token_file).empty()) {
    std::cerr << "nas-controller: give --worker_token_file\n";
    return 2;
  }
  options.worker_token = ReadOrCreateSecret(absl::GetFlag(FLAGS_worker_token_file));
  if (!absl::GetFlag(FLAGS_admin_token_file).empty()) {
    options.admin_token = ReadOrCreateSecret(absl::GetFlag(FLAGS_admin_token_file));
  }
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // A database that is not up yet (or restarting) is waited for, not a reason to exit: the
  // controller comes up by itself once it answers. Bad options end it at once.
  absl::StatusOr<std::unique_ptr<nas::ControllerServer>> server =
      nas::ControllerServer::Start(options);
  for (absl::Duration wait = absl::Milliseconds(250);
       !server.ok() && absl::IsUnavailable(server.status()) && !g_stop;
       wait = std::min(wait * 2, absl::Seconds(5))) {
    LOG(WARNING) << "event=controller_start_waiting error=\"" << server.status().message()
                 << "\" retry_in_ms=" << absl::ToInt64Milliseconds(wait);
    absl::SleepFor(wait);
    server = nas::ControllerServer::Start(options);
  }
  if (!server.ok()) {
    std::cerr << "nas-controller: " << server.status() << "\n";
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_port_file)) << (*server)->port() << "\n";
  }
  if (!absl::GetFlag(FLAGS_metrics_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_metrics_port_file)) << (*server)->metrics_port() << "\n";
  }
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  LOG(INFO) << "event=controller_stopping";
  (*server)->Shutdown();
  return 0;
}
