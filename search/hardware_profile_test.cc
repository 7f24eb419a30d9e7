#include "search/hardware_profile.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

nas::v1::HardwareProfile Roofline() {
  nas::v1::HardwareProfile p;
  p.set_id("edge@1");
  p.set_name("edge");
  p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
  p.mutable_roofline()->set_peak_macs_per_second(1e9);
  p.mutable_roofline()->set_memory_bytes_per_second(1e8);
  p.mutable_roofline()->set_overhead_ms(0.5);
  p.mutable_roofline()->set_source("test figures");
  return p;
}

nas::v1::CandidateMetrics Metrics() {
  nas::v1::CandidateMetrics m;
  m.set_val_accuracy(0.9);
  m.set_params(1000);
  m.set_macs(2'000'000);
  m.set_peak_activation_bytes(50'000);
  m.set_latency_ms(3.0);
  return m;
}

TEST(ValidateHardwareProfileTest, NamesTheField) {
  nas::v1::HardwareProfile p = Roofline();
  EXPECT_TRUE(ValidateHardwareProfile(p).ok());
  p.set_name("Bad Name");
  EXPECT_NE(ValidateHardwareProfile(p).message().find("profile.name"), std::string::npos);
  p = Roofline();
  p.mutable_roofline()->set_source("");
  EXPECT_NE(ValidateHardwareProfile(p).message().find("profile.roofline.source"),
            std::string::npos);
  p = Roofline();
  p.mutable_limits()->set_max_latency_ms(-1);
  EXPECT_EQ(ValidateHardwareProfile(p).code(), absl::StatusCode::kInvalidArgument);
  p = Roofline();
  p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
  EXPECT_NE(ValidateHardwareProfile(p).message().find("profile.device_tag"), std::string::npos);
}

TEST(EvaluateOnProfileTest, RooflineIsTheSlowerOfComputeAndMemoryAndSaysModelled) {
  nas::v1::HardwareProfile p = Roofline();
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> none;
  nas::v1::ProfileMetrics pm = EvaluateOnProfile(p, Metrics(), none, false);
  // compute: 2e6 / 1e9 = 2 ms; memory: (4000 + 100000) B / 1e8 B/s = 1.04 ms; + 0.5 overhead.
  EXPECT_NEAR(pm.latency_ms(), 2.5, 1e-9);
  EXPECT_EQ(pm.latency_source(), nas::v1::LATENCY_SOURCE_MODELLED);
  EXPECT_EQ(pm.model_bytes(), 4000);
  EXPECT_TRUE(pm.feasible());
}

TEST(EvaluateOnProfileTest, MeasuredProfileUsesOnlyAMatchingMeasurement) {
  nas::v1::HardwareProfile p;
  p.set_id("host@1");
  p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
  p.set_device_tag("host-cpu");
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> none;
  nas::v1::ProfileMetrics here = EvaluateOnProfile(p, Metrics(), none, true);
  EXPECT_EQ(here.latency_ms(), 3.0);
  EXPECT_EQ(here.latency_source(), nas::v1::LATENCY_SOURCE_MEASURED);
  EXPECT_TRUE(here.feasible());
  nas::v1::ProfileMetrics elsewhere = EvaluateOnProfile(p, Metrics(), none, false);
  EXPECT_FALSE(elsewhere.feasible());
  EXPECT_EQ(elsewhere.latency_ms(), 0);
  ASSERT_EQ(elsewhere.violations_size(), 1);
}

TEST(EvaluateOnProfileTest, LimitsAndConstraintsMarkInfeasibleWithReasons) {
  nas::v1::HardwareProfile p = Roofline();
  p.set_weight_type(nas::v1::WEIGHT_TYPE_INT8);
  p.mutable_limits()->set_max_latency_ms(1.0);
  p.mutable_limits()->set_max_model_bytes(999);
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> constraints;
  nas::v1::Constraint* c = constraints.Add();
  c->set_metric(nas::v1::METRIC_ACCURACY);
  c->set_bound(0.95);
  nas::v1::ProfileMetrics pm = EvaluateOnProfile(p, Metrics(), constraints, false);
  EXPECT_EQ(pm.model_bytes(), 1000);  // int8: one byte per weight.
  EXPECT_FALSE(pm.feasible());
  EXPECT_EQ(pm.violations_size(), 3);  // latency, model bytes, accuracy.
}

}  // namespace
}  // namespace nas

namespace nas {
namespace {

TEST(HypervolumeReferenceTest, AccuracyZeroCostsAtTheProfilesLimitsOrFixedBounds) {
  google::protobuf::RepeatedPtrField<nas::v1::Objective> objectives;
  for (auto m : {nas::v1::METRIC_ACCURACY, nas::v1::METRIC_LATENCY,
                 nas::v1::METRIC_PEAK_ACTIVATION_BYTES}) {
    objectives.Add()->set_metric(m);
  }
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> constraints;
  nas::v1::HardwareProfile profile;
  EXPECT_EQ(HypervolumeReference(objectives, constraints, profile),
            (std::vector<double>{0, 1000, 256.0 * (1 << 20)}));
  profile.mutable_limits()->set_max_latency_ms(20);
  profile.mutable_limits()->set_max_peak_activation_bytes(320 * 1024);
  EXPECT_EQ(HypervolumeReference(objectives, constraints, profile),
            (std::vector<double>{0, 20, 320 * 1024}));
  // Constraints tighten it: an accuracy floor of 0.7 and a latency bound of 5 ms.
  nas::v1::Constraint* floor = constraints.Add();
  floor->set_metric(nas::v1::METRIC_ACCURACY);
  floor->set_bound(0.7);
  nas::v1::Constraint* fast = constraints.Add();
  fast->set_metric(nas::v1::METRIC_LATENCY);
  fast->set_bound(5);
  EXPECT_EQ(HypervolumeReference(objectives, constraints, profile),
            (std::vector<double>{-0.7, 5, 320 * 1024}));
}

}  // namespace
}  // namespace nas
