#include "search/hardware_profile.h"

#include "gtest/gtest.h"
#include "search/latency_table.h"

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

TEST(EvaluateOnProfileTest, AMeasuredLatencyCarriesItsIntervalAndSaysWhenItIsNoise) {
  nas::v1::HardwareProfile p;
  p.set_id("host@1");
  p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
  p.set_device_tag("host-cpu");
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> none;
  nas::v1::CandidateMetrics m = Metrics();  // 3 ms
  m.set_latency_runs(50);
  m.set_latency_ci_ms(0.09);  // +-3%: settled
  nas::v1::ProfileMetrics pm = EvaluateOnProfile(p, m, none, true);
  EXPECT_DOUBLE_EQ(pm.latency_ci_ms(), 0.09);
  EXPECT_FALSE(pm.latency_unsettled());
  m.set_latency_runs(1000);
  m.set_latency_ci_ms(0.6);  // +-20% after the most runs: noise
  pm = EvaluateOnProfile(p, m, none, true);
  EXPECT_TRUE(pm.latency_unsettled());
  EXPECT_TRUE(pm.feasible());  // said, not punished
  m.clear_latency_runs();      // stored before intervals were measured: not judged
  EXPECT_FALSE(EvaluateOnProfile(p, m, none, true).latency_unsettled());
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

// A drop of at most one point against a reference at 0.915 (val 0.9 here: 1.5 points).
google::protobuf::RepeatedPtrField<nas::v1::Constraint> AtMostOnePointDrop() {
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> constraints;
  nas::v1::Constraint* c = constraints.Add();
  c->set_metric(nas::v1::METRIC_ACCURACY_DROP);
  c->set_bound(1);
  return constraints;
}

TEST(EvaluateOnProfileTest, AccuracyDropIsJudgedAgainstTheReferencesAccuracyInPoints) {
  using State = ReferenceAccuracy::State;
  const auto judge = [](ReferenceAccuracy reference, double val_accuracy = 0.9) {
    nas::v1::CandidateMetrics m = Metrics();
    m.set_val_accuracy(val_accuracy);
    return EvaluateOnProfile(Roofline(), m, AtMostOnePointDrop(), false, nullptr,
                             FashionMnistInput(), reference);
  };
  nas::v1::ProfileMetrics over = judge({State::kKnown, 0.915});
  EXPECT_NEAR(over.accuracy_drop(), 1.5, 1e-9);
  EXPECT_FALSE(over.feasible());
  ASSERT_EQ(over.violations_size(), 1);
  EXPECT_EQ(over.violations(0), "accuracy_drop 1.5 > bound 1");
  EXPECT_EQ(KnownViolations(over), 1);

  nas::v1::ProfileMetrics within = judge({State::kKnown, 0.915}, 0.91);
  EXPECT_NEAR(within.accuracy_drop(), 0.5, 1e-9);
  EXPECT_TRUE(within.feasible());
  // Better than the reference: a negative drop.
  EXPECT_NEAR(judge({State::kKnown, 0.85}).accuracy_drop(), -5, 1e-9);

  // Not evaluated yet: not feasible, but no violation a strategy should count.
  nas::v1::ProfileMetrics awaited = judge({State::kAwaited});
  EXPECT_FALSE(awaited.has_accuracy_drop());
  EXPECT_TRUE(awaited.awaiting_reference());
  EXPECT_FALSE(awaited.feasible());
  EXPECT_EQ(KnownViolations(awaited), 0);
  ASSERT_EQ(awaited.violations_size(), 1);
  EXPECT_EQ(awaited.violations(0), "accuracy drop not known until the reference is evaluated");

  // The reference did not train: never feasible, and that counts.
  nas::v1::ProfileMetrics lost = judge({State::kLost});
  EXPECT_FALSE(lost.feasible());
  EXPECT_FALSE(lost.awaiting_reference());
  EXPECT_EQ(KnownViolations(lost), 1);

  // Where the reference does not train (a lower rung), the bound is not judged.
  nas::v1::ProfileMetrics unjudged = judge(ReferenceAccuracy());
  EXPECT_TRUE(unjudged.feasible());
  EXPECT_FALSE(unjudged.has_accuracy_drop());
}

TEST(EvaluateOnProfileTest, AnInt8ProfileComparesInt8Accuracies) {
  nas::v1::HardwareProfile p = Roofline();
  p.set_weight_type(nas::v1::WEIGHT_TYPE_INT8);
  nas::v1::CandidateMetrics m = Metrics();
  m.set_int8_val_accuracy(0.88);
  const nas::v1::ProfileMetrics pm =
      EvaluateOnProfile(p, m, AtMostOnePointDrop(), false, nullptr, FashionMnistInput(),
                        {ReferenceAccuracy::State::kKnown, 0.885});
  EXPECT_NEAR(pm.accuracy_drop(), 0.5, 1e-9);
  EXPECT_TRUE(pm.feasible());
}

TEST(EvaluateOnProfileTest, AwaitingTheReferenceAndAnotherViolationCountsTheOther) {
  nas::v1::HardwareProfile p = Roofline();
  p.mutable_limits()->set_max_latency_ms(1.0);
  const nas::v1::ProfileMetrics pm =
      EvaluateOnProfile(p, Metrics(), AtMostOnePointDrop(), false, nullptr, FashionMnistInput(),
                        {ReferenceAccuracy::State::kAwaited});
  EXPECT_EQ(pm.violations_size(), 2);
  EXPECT_EQ(KnownViolations(pm), 1);
}

TEST(CertainlyInfeasibleTest, AnAccuracyDropBoundNeverRulesOutAnUntrainedCandidate) {
  nas::v1::CandidateMetrics costs;
  costs.set_params(1000);
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> strict = AtMostOnePointDrop();
  strict.Mutable(0)->set_bound(-100);
  EXPECT_FALSE(CertainlyInfeasible(Roofline(), costs, strict));
  EXPECT_TRUE(HasAccuracyDropBound(strict));
  EXPECT_FALSE(HasAccuracyDropBound({}));
}

}  // namespace
}  // namespace nas

namespace nas {
namespace {

nas::v1::Architecture SmallNet() {
  nas::v1::Architecture a;
  a.set_space("resnet");
  a.set_resolution(20);
  a.set_stem_width(8);
  a.add_stages()->set_width(8);
  a.mutable_stages(0)->add_blocks();
  return a;
}

// A table with every operator of SmallNet() at 1 ms, plus 0.5 ms overhead.
nas::v1::HardwareProfile Lut() {
  nas::v1::HardwareProfile p;
  p.set_id("board@1");
  p.set_name("board");
  p.set_kind(nas::v1::PROFILE_KIND_LUT);
  p.mutable_latency_table()->set_overhead_ms(0.5);
  for (const LatencyOp& op : NetworkOperators(SmallNet(), FashionMnistInput())) {
    nas::v1::LutEntry* e = p.mutable_latency_table()->add_entries();
    e->set_key(op.Key());
    e->set_mean_ms(1);
    e->set_count(10);
  }
  return p;
}

TEST(EvaluateOnProfileTest, LookupTablePredictsFromTheArchitectureAndSaysPredicted) {
  google::protobuf::RepeatedPtrField<nas::v1::Constraint> none;
  const nas::v1::Architecture arch = SmallNet();
  nas::v1::ProfileMetrics pm = EvaluateOnProfile(Lut(), Metrics(), none, false, &arch);
  // input, stem, one block, head: 4 ms + 0.5 ms.
  EXPECT_DOUBLE_EQ(pm.latency_ms(), 4.5);
  EXPECT_EQ(pm.latency_source(), nas::v1::LATENCY_SOURCE_PREDICTED);
  EXPECT_TRUE(pm.feasible());
  // An operator the table lacks: latency unknown, and the reason says which.
  nas::v1::Architecture wider = arch;
  wider.mutable_stages(0)->set_width(16);
  pm = EvaluateOnProfile(Lut(), Metrics(), none, false, &wider);
  EXPECT_FALSE(pm.feasible());
  ASSERT_EQ(pm.violations_size(), 1);
  EXPECT_NE(pm.violations(0).find("basic:in8:out16"), std::string::npos) << pm.violations(0);
  // The limit applies to the prediction, before training too.
  nas::v1::HardwareProfile tight = Lut();
  tight.mutable_limits()->set_max_latency_ms(4);
  nas::v1::CandidateMetrics costs;
  costs.set_params(100);
  EXPECT_TRUE(CertainlyInfeasible(tight, costs, none, &arch));
  EXPECT_FALSE(CertainlyInfeasible(tight, costs, none, &wider));  // unknown: not certain
  EXPECT_FALSE(CertainlyInfeasible(Lut(), costs, none, &arch));
}

TEST(ValidateHardwareProfileTest, LookupTablesNeedEntriesWithSaneFigures) {
  EXPECT_TRUE(ValidateHardwareProfile(Lut()).ok()) << ValidateHardwareProfile(Lut());
  nas::v1::HardwareProfile p = Lut();
  p.mutable_latency_table()->clear_entries();
  EXPECT_NE(ValidateHardwareProfile(p).message().find("profile.latency_table.entries"),
            std::string::npos);
  p = Lut();
  p.mutable_latency_table()->mutable_entries(1)->set_mean_ms(-1);
  EXPECT_NE(ValidateHardwareProfile(p).message().find("entries[1].mean_ms"), std::string::npos);
  p = Lut();
  p.mutable_latency_table()->mutable_entries(0)->set_count(0);
  EXPECT_NE(ValidateHardwareProfile(p).message().find("entries[0].count"), std::string::npos);
}

TEST(HypervolumeReferenceTest, AccuracyZeroCostsAtTheProfilesLimitsOrFixedBounds) {
  google::protobuf::RepeatedPtrField<nas::v1::Objective> objectives;
  for (auto m :
       {nas::v1::METRIC_ACCURACY, nas::v1::METRIC_LATENCY, nas::v1::METRIC_PEAK_ACTIVATION_BYTES}) {
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

TEST(NormalizedHypervolumeTest, IsTheShareOfTheBoxFromTheReferenceToTheIdeal) {
  google::protobuf::RepeatedPtrField<nas::v1::Objective> objectives;
  objectives.Add()->set_metric(nas::v1::METRIC_ACCURACY);
  objectives.Add()->set_metric(nas::v1::METRIC_PARAMS);
  // Reference: accuracy 0 (-0 minimised), 10^9 parameters; the ideal: accuracy 1, 0 parameters.
  // One member at accuracy 0.9 with 10^8 parameters dominates 0.9 x (9 x 10^8) of the box's
  // 1 x 10^9: 0.81, worked by hand.
  const std::vector<double> reference = {0, 1e9};
  EXPECT_NEAR(NormalizedHypervolume(0.9 * 9e8, reference, objectives), 0.81, 1e-12);
  // A constraint of 0.5 accuracy moves the reference to -0.5: the box is 0.5 x 10^9.
  EXPECT_NEAR(NormalizedHypervolume(0.4 * 9e8, {-0.5, 1e9}, objectives), 0.72, 1e-12);
  // Nothing dominated, an empty box, a mismatched reference: 0; never above 1.
  EXPECT_EQ(NormalizedHypervolume(0, reference, objectives), 0);
  EXPECT_EQ(NormalizedHypervolume(5, {-1, 1e9}, objectives), 0);
  EXPECT_EQ(NormalizedHypervolume(5, {0}, objectives), 0);
  EXPECT_EQ(NormalizedHypervolume(2e9, reference, objectives), 1);
}

}  // namespace
}  // namespace nas
