#include "tests/controller_harness.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "search/search_space.h"
#include "services/crypto.h"

namespace nas {

absl::StatusOr<std::unique_ptr<ControllerHarness>> ControllerHarness::Create(
    TestPostgres* pg, SchedulerOptions scheduler, int db_pool_size) {
  std::unique_ptr<ControllerHarness> h(new ControllerHarness());
  NAS_ASSIGN_OR_RETURN(h->database_url_, pg->NewDatabase());
  h->scheduler_options_ = scheduler;
  h->db_pool_size_ = db_pool_size;
  NAS_RETURN_IF_ERROR(h->StartServer());
  return h;
}

absl::StatusOr<std::unique_ptr<ControllerHarness>> ControllerHarness::CreateOn(
    const std::string& database_url, SchedulerOptions scheduler, int db_pool_size) {
  std::unique_ptr<ControllerHarness> h(new ControllerHarness());
  h->database_url_ = database_url;
  h->scheduler_options_ = scheduler;
  h->db_pool_size_ = db_pool_size;
  NAS_RETURN_IF_ERROR(h->StartServer());
  return h;
}

absl::StatusOr<std::unique_ptr<ControllerHarness>> ControllerHarness::Create(
    SchedulerOptions scheduler) {
  NAS_ASSIGN_OR_RETURN(TestPostgres * pg, SharedTestPostgres());
  return Create(pg, scheduler);
}

ControllerHarness::~ControllerHarness() { Stop(); }

absl::Status ControllerHarness::StartServer() {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.store.database_url = database_url_;
  options.store.pool_size = db_pool_size_;
  options.scheduler = scheduler_options_;
  options.worker_token = kTestWorkerToken;
  options.admin_token = kTestAdminToken;
  options.max_lease_wait = absl::Seconds(5);
  NAS_ASSIGN_OR_RETURN(server_, ControllerServer::Start(options));
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                 grpc::InsecureChannelCredentials());
  return absl::OkStatus();
}

void ControllerHarness::Stop(absl::Duration grace) {
  if (server_ != nullptr) {
    server_->Shutdown(grace);
    server_.reset();
  }
}

absl::Status ControllerHarness::Restart() {
  Stop();
  return StartServer();
}

std::unique_ptr<nas::v1::NasService::Stub> ControllerHarness::Nas() {
  return nas::v1::NasService::NewStub(channel_);
}

std::unique_ptr<nas::v1::AdminService::Stub> ControllerHarness::Admin() {
  return nas::v1::AdminService::NewStub(channel_);
}

std::unique_ptr<nas::v1::TrainerService::Stub> ControllerHarness::Trainer() {
  return nas::v1::TrainerService::NewStub(channel_);
}

void ControllerHarness::Authorize(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

void ControllerHarness::AuthorizeWorker(grpc::ClientContext* ctx) {
  Authorize(ctx, kTestWorkerToken);
}

std::string ControllerHarness::NewUserToken(const std::string& name) {
  auto admin = Admin();
  {
    grpc::ClientContext ctx;
    Authorize(&ctx, kTestAdminToken);
    nas::v1::CreateUserRequest req;
    req.set_name(name);
    nas::v1::User user;
    grpc::Status st = admin->CreateUser(&ctx, req, &user);
    if (!st.ok()) return "";
  }
  grpc::ClientContext ctx;
  Authorize(&ctx, kTestAdminToken);
  nas::v1::CreateTokenRequest req;
  req.set_user_name(name);
  nas::v1::CreateTokenResponse resp;
  if (!admin->CreateToken(&ctx, req, &resp).ok()) return "";
  return resp.token();
}

// ---- TestWorker -----------------------------------------------------------------------------

TestWorker::TestWorker(ControllerHarness* harness, std::string device_tag)
    : harness_(harness), device_tag_(std::move(device_tag)), stub_(harness->Trainer()) {}

void TestWorker::Reconnect() { stub_ = harness_->Trainer(); }

grpc::Status TestWorker::Register(const std::vector<std::string>& datasets, bool measure_only) {
  grpc::ClientContext ctx;
  ControllerHarness::AuthorizeWorker(&ctx);
  nas::v1::RegisterWorkerRequest req;
  req.set_name("test-worker");
  req.set_device_tag(device_tag_);
  req.set_cpu_model("test cpu");
  req.set_threads(1);
  for (const std::string& d : datasets) req.add_datasets(d);
  req.set_measure_only(measure_only);
  nas::v1::RegisterWorkerResponse resp;
  grpc::Status st = stub_->RegisterWorker(&ctx, req, &resp);
  worker_id_ = resp.worker_id();
  return st;
}

grpc::Status TestWorker::Lease(nas::v1::LeaseWorkResponse* lease, int64_t wait_ms) {
  grpc::ClientContext ctx;
  ControllerHarness::AuthorizeWorker(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(wait_ms + 5000));
  nas::v1::LeaseWorkRequest req;
  req.set_worker_id(worker_id_);
  req.set_wait_ms(wait_ms);
  return stub_->LeaseWork(&ctx, req, lease);
}

grpc::Status TestWorker::Heartbeat(int64_t lease_id) {
  grpc::ClientContext ctx;
  ControllerHarness::AuthorizeWorker(&ctx);
  nas::v1::HeartbeatRequest req;
  req.set_worker_id(worker_id_);
  req.set_lease_id(lease_id);
  req.mutable_progress()->set_epoch(1);
  req.mutable_progress()->set_epochs(1);
  req.mutable_progress()->set_loss(0.5);
  req.mutable_progress()->set_samples_per_second(1000);
  nas::v1::HeartbeatResponse resp;
  return stub_->Heartbeat(&ctx, req, &resp);
}

grpc::Status TestWorker::Upload(int64_t lease_id, const std::string& data,
                                const std::string& sha256, const std::string& format) {
  grpc::ClientContext ctx;
  ControllerHarness::AuthorizeWorker(&ctx);
  nas::v1::UploadArtifactResponse resp;
  auto writer = stub_->UploadArtifact(&ctx, &resp);
  nas::v1::UploadArtifactRequest head;
  head.mutable_header()->set_worker_id(worker_id_);
  head.mutable_header()->set_lease_id(lease_id);
  head.mutable_header()->set_sha256(sha256);
  head.mutable_header()->set_size_bytes(static_cast<int64_t>(data.size()));
  head.mutable_header()->set_format(format);
  head.mutable_header()->mutable_metadata()->set_dataset("fashion-mnist");
  writer->Write(head);
  // Two chunks, to exercise reassembly.
  const size_t half = data.size() / 2;
  for (const std::string& part : {data.substr(0, half), data.substr(half)}) {
    nas::v1::UploadArtifactRequest chunk;
    chunk.set_chunk(part);
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status TestWorker::Report(int64_t lease_id, const nas::v1::CandidateMetrics& metrics,
                                nas::v1::ReportResultResponse* response) {
  grpc::ClientContext ctx;
  ControllerHarness::AuthorizeWorker(&ctx);
  nas::v1::ReportResultRequest req;
  req.set_worker_id(worker_id_);
  req.set_lease_id(lease_id);
  *req.mutable_metrics() = metrics;
  nas::v1::ReportResultResponse local;
  return stub_->ReportResult(&ctx, req, response != nullptr ? response : &local);
}

grpc::Status TestWorker::Evaluate(const nas::v1::LeaseWorkResponse& lease) {
  if (grpc::Status st = Heartbeat(lease.lease_id()); !st.ok()) return st;
  const std::string model = ModelFor(lease.candidate_id());
  if (grpc::Status st = Upload(lease.lease_id(), model, Sha256Hex(model)); !st.ok()) return st;
  return Report(lease.lease_id(), MetricsFor(lease));
}

nas::v1::CandidateMetrics TestWorker::MetricsFor(const nas::v1::LeaseWorkResponse& lease) {
  const std::string hash = ArchitectureHash(lease.architecture());
  std::seed_seq seq(hash.begin(), hash.end());
  std::mt19937_64 rng(seq);
  std::uniform_real_distribution<double> u(0, 1);
  nas::v1::CandidateMetrics m;
  // Bigger models tend to be more accurate and slower, with noise: a real trade-off.
  const double size = u(rng);
  // A lower successive-halving rung (trained on a fraction of the data) scores lower.
  const double fraction = lease.fidelity().train_fraction();
  const double fidelity_factor = fraction > 0 && fraction < 1 ? 0.9 + 0.1 * fraction : 1.0;
  m.set_val_accuracy((0.80 + 0.15 * size * (0.7 + 0.3 * u(rng))) * fidelity_factor);
  m.set_test_accuracy(-1);
  m.set_params(static_cast<int64_t>(20'000 + 400'000 * size * (0.5 + u(rng))));
  m.set_macs(static_cast<int64_t>(1'000'000 + 30'000'000 * size * (0.5 + u(rng))));
  m.set_peak_activation_bytes(static_cast<int64_t>(20'000 + 500'000 * u(rng)));
  m.set_model_bytes(m.params() * 4);
  m.set_int8_model_bytes(m.params());  // made up like the rest, not the cost model's
  m.set_latency_ms(0.2 + 5.0 * size * (0.5 + u(rng)));
  m.set_latency_iqr_ms(0.01);
  m.set_latency_threads(1);
  m.set_train_seconds(1);
  return m;
}

std::string TestWorker::ModelFor(int64_t candidate_id) {
  // A zip archive's signature first, as a TorchScript file has (the controller checks it).
  std::string model =
      absl::StrCat("PK\x03\x04 fake torchscript for candidate ", candidate_id, "\n");
  // Make it span more than one 1 MiB FetchModel chunk for some candidates.
  model.append(static_cast<size_t>((candidate_id % 3) * 700'000),
               static_cast<char>('a' + candidate_id % 26));
  return model;
}

}  // namespace nas
