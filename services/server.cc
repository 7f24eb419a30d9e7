#include "services/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "services/grpc_services.h"
#include "services/request_checks.h"

namespace nas {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  NAS_ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(options.tls_cert_file));
  NAS_ASSIGN_OR_RETURN(pair.private_key, ReadFile(options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Start(
    const ServerOptions& options) {
  if (options.worker_token.size() < 16) {
    return absl::InvalidArgumentError("the worker token must be at least 16 characters");
  }
  NAS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  std::unique_ptr<ControllerServer> s(new ControllerServer());
  s->metrics_ = std::make_unique<ControllerMetrics>();
  StoreOptions store_options = options.store;
  ControllerMetrics* metrics = s->metrics_.get();
  store_options.on_operation = [metrics](const char* operation, absl::Duration took,
                                         const absl::Status& st) {
    metrics->RecordStoreOperation(operation, took, st);
  };
  NAS_ASSIGN_OR_RETURN(s->store_, Store::Open(store_options));
  // Declared after the store, the metrics (and their /metrics server) go before it.
  s->metrics_->WatchStore(s->store_.get());
  if (!options.metrics_address.empty()) {
    NAS_ASSIGN_OR_RETURN(s->metrics_port_, s->metrics_->Serve(options.metrics_address));
  }
  SchedulerOptions scheduler_options = options.scheduler;
  scheduler_options.metrics = metrics;
  s->scheduler_ = std::make_unique<Scheduler>(s->store_.get(), scheduler_options);
  Scheduler* scheduler = s->scheduler_.get();
  s->listener_ = std::make_unique<ChangeListener>(store_options.database_url,
                                                  [scheduler] { scheduler->NotifyChange(); });
  ControllerOptions controller_options;
  controller_options.worker_token = options.worker_token;
  controller_options.max_lease_wait = options.max_lease_wait;
  controller_options.metrics = metrics;
  s->controller_ =
      std::make_unique<Controller>(s->store_.get(), s->scheduler_.get(), controller_options);
  if (!options.admin_token.empty()) {
    NAS_ASSIGN_OR_RETURN(bool created, s->controller_->BootstrapAdmin(options.admin_token));
    if (created) LOG(INFO) << "event=admin_created user=admin";
  }
  s->nas_service_ = std::make_unique<NasServiceImpl>(s->controller_.get());
  s->admin_service_ = std::make_unique<AdminServiceImpl>(s->controller_.get());
  s->trainer_service_ = std::make_unique<TrainerServiceImpl>(s->controller_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, credentials, &s->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Long polls and watches hold a thread each; keep room for many workers.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 4);
  builder.RegisterService(s->nas_service_.get());
  builder.RegisterService(s->admin_service_.get());
  builder.RegisterService(s->trainer_service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  // First, so that the metrics count the status the client gets.
  interceptors.push_back(UnparsedRequestInterceptor());
  interceptors.push_back(s->metrics_->Interceptor());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  s->scheduler_->Start();
  s->metrics_->SetServing(true);
  ControllerServer* self = s.get();
  s->health_thread_ = std::thread([self, options] { self->HealthLoop(options); });
  LOG(INFO) << "event=controller_serving port=" << s->port_ << " metrics_port=" << s->metrics_port_;
  return s;
}

void ControllerServer::HealthLoop(ServerOptions options) {
  bool serving = true;
  absl::Time last_held_log = absl::InfinitePast();
  while (true) {
    {
      absl::MutexLock lock(&health_mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu_) { return health_stop_; };
      if (health_mu_.AwaitWithTimeout(absl::Condition(&stop), options.health_interval)) return;
    }
    const absl::Status health = store_->Health(options.health_deadline);
    if (health.ok() != serving) {
      serving = health.ok();
      server_->GetHealthCheckService()->SetServingStatus(serving);
      metrics_->SetServing(serving);
      if (serving) {
        LOG(INFO) << "event=health_changed serving=true";
      } else {
        LOG(WARNING) << "event=health_changed serving=false reason=\"" << health.message() << "\"";
      }
    }
    if (absl::Now() - last_held_log >= absl::Seconds(10)) {
      for (const auto& [operation, held] : store_->LongHeldConnections(options.held_too_long)) {
        LOG(WARNING) << "event=store_connection_held_long operation=" << operation
                     << " held_seconds=" << absl::ToInt64Seconds(held);
        last_held_log = absl::Now();
      }
    }
  }
}

void ControllerServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&health_mu_);
    health_stop_ = true;
  }
  if (health_thread_.joinable()) health_thread_.join();
  listener_.reset();
  // Long polls must not hold up shutdown: wake them so they answer "no work".
  scheduler_->Stop();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void ControllerServer::Wait() { server_->Wait(); }

ControllerServer::~ControllerServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

}  // namespace nas
