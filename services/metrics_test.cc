// The controller's metrics without a store: label bounds, zero-valued series from the start,
// and the /metrics endpoint over real HTTP. The store figures are checked against a real
// PostgreSQL in tests/controller_integration_test.cc and by a real Prometheus server in
// tests/observability_test.py.
#include "services/metrics.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "proto/nas_service.pb.h"
#include "tests/http_get.h"

namespace nas {
namespace {

TEST(GrpcMethodLabelsTest, OnlyServedMethodsAreNamed) {
  // Linked in so the generated descriptor pool knows the service.
  (void)nas::v1::SubmitSearchRequest::descriptor();
  EXPECT_EQ(GrpcMethodLabels("/nas.v1.NasService/SubmitSearch"),
            std::make_pair(std::string("nas.v1.NasService"), std::string("SubmitSearch")));
  EXPECT_EQ(GrpcMethodLabels("/nas.v1.NasService/NoSuchMethod").first, "other");
  EXPECT_EQ(GrpcMethodLabels("/x.Y/" + std::string(1000, 'z')).second, "other");
  EXPECT_EQ(GrpcMethodLabels("").first, "other");
}

TEST(ControllerMetricsTest, SeriesExistAtZeroAndCountWhatHappens) {
  ControllerMetrics metrics;
  std::string text = metrics.Text();
  // Every lease outcome and evaluation outcome is there before anything happened, so rates
  // and alerts have a series to work on.
  for (const char* outcome : {"granted", "completed", "expired", "fenced", "returned"}) {
    EXPECT_TRUE(HasLine(text, std::string("nas_leases_total{outcome=\"") + outcome + "\"} 0"))
        << outcome << "\n"
        << text;
  }
  EXPECT_TRUE(HasLine(text, "nas_evaluations_total{outcome=\"failed\"} 0"));
  EXPECT_TRUE(HasLine(text, "nas_store_errors_total 0"));

  metrics.RecordLease("granted");
  metrics.RecordLease("granted");
  metrics.RecordEvaluation(true);
  metrics.RecordRpc("/nas.v1.NasService/GetSearch", 5, absl::Milliseconds(3));
  metrics.RecordRpc("/made.up/Method", 0, absl::Milliseconds(3));
  metrics.RecordStoreOperation("GetSearch", absl::Milliseconds(2), absl::OkStatus());
  metrics.RecordStoreOperation("GetSearch", absl::Milliseconds(2),
                               absl::NotFoundError("search 9 not found"));
  metrics.RecordStoreOperation("Refill", absl::Milliseconds(2), absl::UnavailableError("down"));
  metrics.RecordPredictionError("host-lut@1", 0.04);
  text = metrics.Text();
  EXPECT_TRUE(HasLine(text, "nas_leases_total{outcome=\"granted\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "nas_evaluations_total{outcome=\"ok\"} 1"));
  EXPECT_TRUE(
      HasLine(text,
              "nas_grpc_server_handled_total{grpc_code=\"NOT_FOUND\",grpc_method=\"GetSearch\","
              "grpc_service=\"nas.v1.NasService\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "grpc_method=\"other\""));
  EXPECT_FALSE(absl::StrContains(text, "made.up"));
  EXPECT_TRUE(HasLine(text, "nas_store_operation_seconds_count{operation=\"GetSearch\"} 2"));
  // A user's NotFound is not the database's failure; Unavailable is.
  EXPECT_TRUE(HasLine(text, "nas_store_errors_total 1"));
  EXPECT_TRUE(HasLine(text, "nas_latency_prediction_error_ratio_count{profile=\"host-lut@1\"} 1"))
      << text;
}

TEST(ControllerMetricsTest, ServesMetricsOverHttp) {
  ControllerMetrics metrics;
  absl::StatusOr<int> port = metrics.Serve("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_GT(*port, 0);
  metrics.RecordLease("expired");
  const std::string response = HttpGet(*port, "/metrics");
  EXPECT_TRUE(absl::StrContains(response, "200 OK")) << response;
  EXPECT_TRUE(HasLine(response, "nas_leases_total{outcome=\"expired\"} 1")) << response;
  // A second server on the same port cannot start, and says why.
  ControllerMetrics other;
  absl::StatusOr<int> taken = other.Serve(absl::StrCat("127.0.0.1:", *port));
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(taken.status().message(), "cannot listen")) << taken.status();
}

}  // namespace
}  // namespace nas
