// The reason travels from an absl::Status through gRPC's status details and back, in the wire
// shape of google.rpc.Status / google.rpc.ErrorInfo; anything else reads as no reason.
#include "common/error_reason.h"

#include "gtest/gtest.h"
#include "proto/errors.pb.h"

namespace nas {
namespace {

TEST(ErrorReasonTest, TravelsThroughStatusDetails) {
  const absl::Status fenced =
      WithReason(absl::FailedPreconditionError("lease 7 expired; candidate 3 was re-queued"),
                 ErrorReason::kLeaseFenced);
  EXPECT_EQ(fenced.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fenced.message(), "lease 7 expired; candidate 3 was re-queued");
  EXPECT_EQ(ReasonOf(fenced), ErrorReason::kLeaseFenced);
  EXPECT_EQ(ReasonOfDetails(StatusDetails(fenced)), ErrorReason::kLeaseFenced);
  const absl::Status quarantined = WithReason(
      absl::FailedPreconditionError("worker 2 is quarantined"), ErrorReason::kWorkerQuarantined);
  EXPECT_EQ(ReasonOfDetails(StatusDetails(quarantined)), ErrorReason::kWorkerQuarantined);
}

TEST(ErrorReasonTest, TheSameCodeWithoutAReasonIsNotAFence) {
  const absl::Status order = absl::FailedPreconditionError(
      "lease 7: upload the supernet checkpoint before reporting the epoch");
  EXPECT_EQ(ReasonOf(order), ErrorReason::kNone);
  EXPECT_EQ(StatusDetails(order), "");
  EXPECT_EQ(ReasonOfDetails(""), ErrorReason::kNone);
  EXPECT_EQ(ReasonOf(WithReason(absl::OkStatus(), ErrorReason::kLeaseFenced)), ErrorReason::kNone);
}

TEST(ErrorReasonTest, DetailsHaveGoogleRpcStatusShape) {
  const std::string details =
      StatusDetails(WithReason(absl::FailedPreconditionError("gone"), ErrorReason::kLeaseFenced));
  // Decoded field by field, as a client holding Google's definitions would.
  nas::v1::RpcStatus wire;
  ASSERT_TRUE(wire.ParseFromString(details));
  EXPECT_EQ(wire.code(), 9);  // google.rpc.Code FAILED_PRECONDITION
  EXPECT_EQ(wire.message(), "gone");
  ASSERT_EQ(wire.details_size(), 1);
  EXPECT_EQ(wire.details(0).type_url(), "type.googleapis.com/google.rpc.ErrorInfo");
  nas::v1::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(wire.details(0).value()));
  EXPECT_EQ(info.reason(), "LEASE_FENCED");
  EXPECT_EQ(info.domain(), "nas.v1");
}

TEST(ErrorReasonTest, ForeignOrBrokenDetailsReadAsNoReason) {
  EXPECT_EQ(ReasonOfDetails("\xff\xff not a proto"), ErrorReason::kNone);
  nas::v1::ErrorInfo other;
  other.set_reason("LEASE_FENCED");
  other.set_domain("example.com");  // another service's reason of the same name
  nas::v1::RpcStatus wire;
  wire.set_code(9);
  nas::v1::AnyDetail* d = wire.add_details();
  d->set_type_url("type.googleapis.com/google.rpc.ErrorInfo");
  d->set_value(other.SerializeAsString());
  EXPECT_EQ(ReasonOfDetails(wire.SerializeAsString()), ErrorReason::kNone);
  other.set_domain("nas.v1");
  other.set_reason("SOMETHING_NEW");  // a newer controller's reason this build does not know
  d->set_value(other.SerializeAsString());
  EXPECT_EQ(ReasonOfDetails(wire.SerializeAsString()), ErrorReason::kNone);
}

}  // namespace
}  // namespace nas
