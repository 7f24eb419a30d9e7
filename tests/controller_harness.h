// ControllerHarness: a real nas-controller (in this process, real gRPC on a loopback port) over
// a real PostgreSQL database, with stubs and a scripted test worker. Shared by the integration
// tests and the controller benchmark.
//
//   absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create(pg.get());
//   std::string alice = (*h)->NewUserToken("alice");
//   auto nas = (*h)->Nas();
//   grpc::ClientContext ctx;
//   (*h)->Authorize(&ctx, alice);
//   nas->SubmitSearch(&ctx, request, &search);
#ifndef NAS_TESTS_CONTROLLER_HARNESS_H_
#define NAS_TESTS_CONTROLLER_HARNESS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas_service.grpc.pb.h"
#include "proto/trainer_service.grpc.pb.h"
#include "services/server.h"
#include "tests/postgres_fixture.h"

namespace nas {

inline constexpr char kTestWorkerToken[] = "test-worker-credential-0123456789";
inline constexpr char kTestAdminToken[] = "test-admin-token-0123456789";

class ControllerHarness {
 public:
  // ControllerHarness::Create() makes a fresh database on `pg` and starts a controller on it.
  static absl::StatusOr<std::unique_ptr<ControllerHarness>> Create(TestPostgres* pg,
                                                                   SchedulerOptions scheduler = {},
                                                                   int db_pool_size = 8);
  // ControllerHarness::Create() on the test binary's SharedTestPostgres().
  static absl::StatusOr<std::unique_ptr<ControllerHarness>> Create(SchedulerOptions scheduler = {});
  // ControllerHarness::CreateOn() starts another controller on an existing database (several
  // controllers serving one database).
  static absl::StatusOr<std::unique_ptr<ControllerHarness>> CreateOn(
      const std::string& database_url, SchedulerOptions scheduler = {}, int db_pool_size = 8);
  ~ControllerHarness();

  // ControllerHarness::Restart() stops the controller and starts a new one on the same
  // database (a new port; stubs from Nas()/Trainer() must be fetched again).
  absl::Status Restart();
  // ControllerHarness::Stop() stops the controller, letting in-flight calls finish for up to
  // `grace` (Restart() starts it again).
  void Stop(absl::Duration grace = absl::Seconds(1));

  std::unique_ptr<nas::v1::NasService::Stub> Nas();
  std::unique_ptr<nas::v1::AdminService::Stub> Admin();
  std::unique_ptr<nas::v1::TrainerService::Stub> Trainer();

  // ControllerHarness::NewUserToken() creates a user (through the admin API) and returns a
  // fresh token for it.
  std::string NewUserToken(const std::string& name);

  static void Authorize(grpc::ClientContext* ctx, const std::string& token);
  static void AuthorizeWorker(grpc::ClientContext* ctx);

  int port() const { return server_->port(); }
  ControllerMetrics& metrics() { return server_->metrics(); }
  const std::string& database_url() const { return database_url_; }

 private:
  ControllerHarness() = default;
  absl::Status StartServer();

  std::string database_url_;
  SchedulerOptions scheduler_options_;
  int db_pool_size_ = 8;
  std::unique_ptr<ControllerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// TestWorker: a scripted worker that evaluates leases with made-up but deterministic metrics
// (a function of the candidate's architecture hash) and uploads a small fake model file.
class TestWorker {
 public:
  TestWorker(ControllerHarness* harness, std::string device_tag = "host-cpu");

  // TestWorker::Register() registers with the current controller, declaring `datasets` (none:
  // the controller assumes fashion-mnist).
  grpc::Status Register(const std::vector<std::string>& datasets = {}, bool measure_only = false);
  // TestWorker::Lease() long-polls up to `wait_ms`; an empty response (lease_id 0) means none.
  grpc::Status Lease(nas::v1::LeaseWorkResponse* lease, int64_t wait_ms = 2000);
  // TestWorker::Evaluate() heartbeats, uploads a model and reports metrics for `lease`.
  grpc::Status Evaluate(const nas::v1::LeaseWorkResponse& lease);
  // TestWorker::Report() reports `metrics` for a lease (no heartbeat, no upload).
  grpc::Status Report(int64_t lease_id, const nas::v1::CandidateMetrics& metrics,
                      nas::v1::ReportResultResponse* response = nullptr);
  // TestWorker::Upload() uploads `data` for a lease.
  grpc::Status Upload(int64_t lease_id, const std::string& data, const std::string& sha256,
                      const std::string& format = "torchscript");
  grpc::Status Heartbeat(int64_t lease_id);

  // Metrics for an architecture: deterministic in its hash, spread so the fronts are not
  // trivial; accuracy is a little lower at a lower fidelity (Fidelity.train_fraction).
  static nas::v1::CandidateMetrics MetricsFor(const nas::v1::LeaseWorkResponse& lease);
  // The fake model file of a candidate.
  static std::string ModelFor(int64_t candidate_id);

  int64_t worker_id() const { return worker_id_; }
  // Call after the harness restarted: the stub must point at the new port.
  void Reconnect();

 private:
  ControllerHarness* harness_;
  std::string device_tag_;
  std::unique_ptr<nas::v1::TrainerService::Stub> stub_;
  int64_t worker_id_ = 0;
};

}  // namespace nas

#endif  // NAS_TESTS_CONTROLLER_HARNESS_H_
