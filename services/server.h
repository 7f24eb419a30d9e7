// ControllerServer: the store, scheduler, controller and gRPC server of one nas-controller.
//
//   ServerOptions options;
//   options.listen_address = "127.0.0.1:0";   // port 0: pick a free one
//   options.database_url = "postgresql://...";
//   options.worker_token = "...";
//   absl::StatusOr<std::unique_ptr<ControllerServer>> server = ControllerServer::Start(options);
//   (*server)->port();       // the bound port
//   (*server)->Shutdown();   // graceful: in-flight calls get a few seconds
//
// Health checking (grpc.health.v1) and server reflection are on. Health answers NOT_SERVING
// while the store cannot complete a trivial transaction or its pool is stalled, so an
// orchestrator restarts (or stops routing to) a controller that cannot do its work.
#ifndef NAS_SERVICES_SERVER_H_
#define NAS_SERVICES_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/controller.h"
#include "services/metrics.h"
#include "services/scheduler.h"
#include "services/store/change_listener.h"
#include "services/store/store.h"

namespace grpc {
class Server;
}

namespace nas {

class NasServiceImpl;
class AdminServiceImpl;
class TrainerServiceImpl;

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see ControllerServer::port()).
  std::string listen_address = "127.0.0.1:50051";
  StoreOptions store;
  SchedulerOptions scheduler;
  // The worker credential (required).
  std::string worker_token;
  // Token for user "admin", created when the database has no users; empty skips bootstrap.
  std::string admin_token;
  // PEM files for TLS; both empty serves plaintext (loopback and private networks only).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Largest message received or sent (a FetchModel/UploadArtifact chunk is 1 MiB).
  int max_message_bytes = 8 << 20;
  // Longest LeaseWork long poll.
  absl::Duration max_lease_wait = absl::Seconds(30);
  // host:port of the Prometheus /metrics endpoint; port 0 picks one; empty: not served (the
  // metrics are still kept, see ControllerServer::metrics()).
  std::string metrics_address;
  // How often grpc.health.v1's answer is checked against the store (Store::Health()), and how
  // long its trivial transaction may take.
  absl::Duration health_interval = absl::Seconds(1);
  absl::Duration health_deadline = absl::Seconds(2);
  // A pool connection held longer than this is named in a log line (defence in depth: the
  // session's statement and idle-in-transaction timeouts end it in the database).
  absl::Duration held_too_long = absl::Seconds(10);
};

class ControllerServer {
 public:
  // ControllerServer::Start() opens the store (migrating it), bootstraps the admin, starts the
  // scheduler and serves. InvalidArgument for bad options, Unavailable when the database or the
  // address cannot be reached.
  static absl::StatusOr<std::unique_ptr<ControllerServer>> Start(const ServerOptions& options);
  ~ControllerServer();

  int port() const { return port_; }
  // The bound /metrics port, 0 when not served.
  int metrics_port() const { return metrics_port_; }
  ControllerMetrics& metrics() { return *metrics_; }
  // ControllerServer::Shutdown() stops accepting calls, lets in-flight ones finish (up to
  // `grace`), then stops the scheduler.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // ControllerServer::Wait() blocks until Shutdown() completes.
  void Wait();

 private:
  ControllerServer() = default;
  // Checks the store every health_interval and sets grpc.health.v1's answer: NOT_SERVING
  // while Store::Health() fails, SERVING again once it passes. Logs each change.
  void HealthLoop(ServerOptions options);

  std::unique_ptr<Store> store_;
  // After the store: destroyed first, so no scrape reads a closed store.
  std::unique_ptr<ControllerMetrics> metrics_;
  std::unique_ptr<Scheduler> scheduler_;
  // Wakes this controller's long polls when another controller changed something (after the
  // scheduler: destroyed first).
  std::unique_ptr<ChangeListener> listener_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<NasServiceImpl> nas_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<TrainerServiceImpl> trainer_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
  absl::Mutex health_mu_;
  bool health_stop_ ABSL_GUARDED_BY(health_mu_) = false;
  std::thread health_thread_;
};

}  // namespace nas

#endif  // NAS_SERVICES_SERVER_H_
