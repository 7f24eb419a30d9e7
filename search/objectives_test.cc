#include "search/objectives.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(ObjectivesTest, EveryMetricOfTheApiHasOneEntry) {
  std::set<int> seen;
  for (const MetricInfo& m : Metrics()) {
    EXPECT_TRUE(seen.insert(m.metric).second) << m.name;
    EXPECT_NE(m.value, nullptr) << m.name;
    EXPECT_NE(std::string(m.column), "") << m.name;
    EXPECT_NE(std::string(m.source), "") << m.name;
  }
  const google::protobuf::EnumDescriptor* d = nas::v1::Metric_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() == nas::v1::METRIC_UNSPECIFIED) continue;
    EXPECT_TRUE(seen.count(d->value(i)->number())) << d->value(i)->name() << " has no entry";
  }
}

TEST(ObjectivesTest, OnlyAccuracyIsMaximised) {
  for (const MetricInfo& m : Metrics()) {
    EXPECT_EQ(m.maximise, m.metric == nas::v1::METRIC_ACCURACY) << m.name;
  }
  const MetricInfo& acc = MetricInfoOf(nas::v1::METRIC_ACCURACY);
  EXPECT_EQ(acc.MinimisationForm(0.9), -0.9);
  EXPECT_TRUE(acc.Satisfies(0.9, 0.8));
  EXPECT_FALSE(acc.Satisfies(0.7, 0.8));
  const MetricInfo& lat = MetricInfoOf(nas::v1::METRIC_LATENCY);
  EXPECT_EQ(lat.MinimisationForm(2.5), 2.5);
  EXPECT_TRUE(lat.Satisfies(2, 3));
}

TEST(ObjectivesTest, ValuesComeFromTheirSource) {
  nas::v1::CandidateMetrics c;
  c.set_val_accuracy(0.91);
  c.set_params(1000);
  c.set_macs(5000);
  nas::v1::ProfileMetrics p;
  p.set_latency_ms(1.5);
  p.set_model_bytes(4000);
  p.set_peak_activation_bytes(2048);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_ACCURACY).value(c, p), 0.91);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_LATENCY).value(c, p), 1.5);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_MODEL_BYTES).value(c, p), 4000);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_PEAK_ACTIVATION_BYTES).value(c, p), 2048);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_PARAMS).value(c, p), 1000);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_MACS).value(c, p), 5000);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_UNSPECIFIED).value(c, p), 0);
  p.set_accuracy_drop(0.7);
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_ACCURACY_DROP).value(c, p), 0.7);
}

TEST(ObjectivesTest, OnlyTheAccuracyDropIsMeasuredAgainstTheReference) {
  for (const MetricInfo& m : Metrics()) {
    EXPECT_EQ(m.relative_to_reference, m.metric == nas::v1::METRIC_ACCURACY_DROP) << m.name;
  }
  const MetricInfo& drop = MetricInfoOf(nas::v1::METRIC_ACCURACY_DROP);
  EXPECT_TRUE(drop.Satisfies(0.5, 1));
  EXPECT_FALSE(drop.Satisfies(1.5, 1));
  EXPECT_EQ(drop.Format(0.7), "0.70 points");
  EXPECT_EQ(FindMetric("drop"), &drop);
}

TEST(ObjectivesTest, FindsByNameAndAlias) {
  ASSERT_NE(FindMetric("latency"), nullptr);
  EXPECT_EQ(FindMetric("latency")->metric, nas::v1::METRIC_LATENCY);
  EXPECT_EQ(FindMetric("latency_ms")->metric, nas::v1::METRIC_LATENCY);
  EXPECT_EQ(FindMetric("memory")->metric, nas::v1::METRIC_PEAK_ACTIVATION_BYTES);
  EXPECT_EQ(FindMetric("speed"), nullptr);
  EXPECT_EQ(MetricNames().substr(0, 20), "accuracy, latency_ms");
}

TEST(ObjectivesTest, FormatsWithUnits) {
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_ACCURACY).Format(0.91234), "0.9123");
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_LATENCY).Format(1.25), "1.250 ms");
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_MODEL_BYTES).Format(40 * 1024), "40.0 KiB");
  EXPECT_EQ(MetricInfoOf(nas::v1::METRIC_PARAMS).Format(1234), "1234");
}

}  // namespace
}  // namespace nas
