#include "cli/client.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/flags.h"
#include "common/controller_address.h"
#include "common/status_macros.h"

namespace nas::cli {
namespace {

constexpr char kUsagePayload[] = "type.nas.dev/nasctl.UsageError";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::string> Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) token = Env("NAS_TOKEN");
  if (token.empty() && !absl::GetFlag(FLAGS_token_file).empty()) {
    NAS_ASSIGN_OR_RETURN(token, ReadFile(absl::GetFlag(FLAGS_token_file)));
  }
  return std::string(absl::StripAsciiWhitespace(token));
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status st = absl::InvalidArgumentError(message);
  st.SetPayload(kUsagePayload, absl::Cord("1"));
  return st;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Client::Client() {
  std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) server = Env("NAS_SERVER");
  if (server.empty()) server = "127.0.0.1:50051";
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!absl::GetFlag(FLAGS_tls_ca_file).empty()) {
    absl::StatusOr<std::string> ca = ReadFile(absl::GetFlag(FLAGS_tls_ca_file));
    if (ca.ok()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = *ca;
      creds = grpc::SslCredentials(ssl);
    } else {
      setup_ = ca.status();
    }
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // `nasctl watch` rides out a controller restart: reconnect within seconds, not gRPC's
  // default of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Several controllers (a list, or a dns:/// name of several): calls spread over those that
  // answer; a dead one is skipped.
  args.SetLoadBalancingPolicyName("round_robin");
  absl::StatusOr<std::string> target = ControllerTarget(server);
  if (!target.ok()) {
    setup_ = absl::InvalidArgumentError(absl::StrCat("--server: ", target.status().message()));
    target = server;
  }
  channel_ = grpc::CreateCustomChannel(*target, creds, args);
  nas_ = nas::v1::NasService::NewStub(channel_);
  admin_ = nas::v1::AdminService::NewStub(channel_);
}

absl::Status Client::Prepare(grpc::ClientContext* ctx, bool unary) const {
  NAS_RETURN_IF_ERROR(setup_);
  NAS_ASSIGN_OR_RETURN(const std::string token, Token());
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  if (unary) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(absl::GetFlag(FLAGS_timeout_seconds)));
  }
  return absl::OkStatus();
}

}  // namespace nas::cli
