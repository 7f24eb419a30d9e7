#include "services/request_checks.h"

#include "gtest/gtest.h"
#include "proto/nas_service.pb.h"

namespace nas {
namespace {

TEST(CheckEnumValues, AcceptsDefinedValuesAndUnsetFields) {
  nas::v1::SubmitSearchRequest request;
  EXPECT_TRUE(CheckEnumValues(request).ok());
  request.mutable_spec()->mutable_recipe()->set_optimizer(nas::v1::OPTIMIZER_ADAMW);
  EXPECT_TRUE(CheckEnumValues(request).ok());
}

TEST(CheckEnumValues, NamesANestedUnknownValue) {
  nas::v1::RegisterHardwareProfileRequest request;
  request.mutable_profile()->set_name("lab");
  request.mutable_profile()->set_visibility(static_cast<nas::v1::Visibility>(9));
  absl::Status st = CheckEnumValues(request);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "profile.visibility: 9 is not a value of nas.v1.Visibility");
}

TEST(CheckEnumValues, NamesAnUnknownValueInARepeatedField) {
  nas::v1::SubmitSearchRequest request;
  request.mutable_spec()->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  request.mutable_spec()->add_objectives()->set_metric(static_cast<nas::v1::Metric>(-4));
  absl::Status st = CheckEnumValues(request);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "spec.objectives[1].metric: -4 is not a value of nas.v1.Metric");
}

}  // namespace
}  // namespace nas
