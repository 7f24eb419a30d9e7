// The controller serves TLS from certificate and key files; plaintext clients are refused.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/nas_service.grpc.pb.h"
#include "services/server.h"
#include "tests/controller_harness.h"
#include "tests/postgres_fixture.h"

namespace nas {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TlsTest, ServesTlsAndRefusesPlaintext) {
  const std::string dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  ASSERT_EQ(std::system(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                                     "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
                                     "-keyout ",
                                     key, " -out ", cert, " >/dev/null 2>&1")
                            .c_str()),
            0);
  absl::StatusOr<TestPostgres*> pg = SharedTestPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> url = (*pg)->NewDatabase();
  ASSERT_TRUE(url.ok());

  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.store.database_url = *url;
  options.worker_token = kTestWorkerToken;
  options.admin_token = kTestAdminToken;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  absl::StatusOr<std::unique_ptr<ControllerServer>> server = ControllerServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Read(cert);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto secure = nas::v1::AdminService::NewStub(
      grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args));
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, kTestAdminToken);
  nas::v1::User me;
  grpc::Status st = secure->WhoAmI(&ctx, {}, &me);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(me.name(), "admin");

  auto plain = nas::v1::AdminService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext plain_ctx;
  plain_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ControllerHarness::Authorize(&plain_ctx, kTestAdminToken);
  EXPECT_FALSE(plain->WhoAmI(&plain_ctx, {}, &me).ok());

  // Half a TLS configuration is a clear error, not a plaintext server.
  options.tls_key_file.clear();
  EXPECT_EQ(ControllerServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nas
