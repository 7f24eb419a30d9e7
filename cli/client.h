// The connection nasctl talks over: the channel (TLS when asked, quick reconnects), the
// stubs, the bearer token on every call, and how a failed call becomes an absl::Status.
//
//   Client client;
//   grpc::ClientContext ctx;
//   NAS_RETURN_IF_ERROR(client.Prepare(&ctx));
//   NAS_RETURN_IF_ERROR(FromGrpc(client.nas().GetSearch(&ctx, req, &search)));
#ifndef NAS_CLI_CLIENT_H_
#define NAS_CLI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas_service.grpc.pb.h"

namespace nas::cli {

// UsageError() is a mistake in the command line (exit 2); IsUsageError() recognises one.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// FromGrpc() keeps a failed call's code and message (exit 1).
absl::Status FromGrpc(const grpc::Status& status);

// ReadFile() reads a whole file; a usage error names it when it cannot.
absl::StatusOr<std::string> ReadFile(const std::string& path);

class Client {
 public:
  // Client() connects to --server (or $NAS_SERVER, or 127.0.0.1:50051); the channel connects
  // lazily, so a bad address shows at the first call. A CA file that cannot be read is
  // reported by Prepare().
  Client();

  // Client::Prepare() adds the bearer token (--token, $NAS_TOKEN or --token_file) and, for a
  // unary call, the --timeout_seconds deadline.
  absl::Status Prepare(grpc::ClientContext* ctx, bool unary = true) const;

  // Client::status() is what went wrong setting the channel up (an unreadable CA file).
  const absl::Status& status() const { return setup_; }
  nas::v1::NasService::Stub& nas() { return *nas_; }
  nas::v1::AdminService::Stub& admin() { return *admin_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  absl::Status setup_;  // what went wrong building the channel, if anything
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nas::v1::NasService::Stub> nas_;
  std::unique_ptr<nas::v1::AdminService::Stub> admin_;
};

}  // namespace nas::cli

#endif  // NAS_CLI_CLIENT_H_
