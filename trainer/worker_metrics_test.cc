// A worker's metrics: every series present from the start, values as recorded, served over HTTP.
#include "trainer/worker_metrics.h"

#include "gtest/gtest.h"
#include "tests/http_get.h"

namespace nas {
namespace {

TEST(WorkerMetricsTest, EverySeriesFromTheStartAndRecordedValues) {
  WorkerMetrics m("host-cpu", 2);
  std::string text = m.Text();
  EXPECT_TRUE(HasLine(text, "nas_worker_info{device=\"host-cpu\",threads=\"2\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "nas_worker_busy 0")) << text;
  for (const char* outcome : {"ok", "failed", "lost", "returned"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("nas_worker_tasks_total{outcome=\"") + outcome + "\"} 0"));
  }
  EXPECT_TRUE(HasLine(text, "nas_worker_epoch_seconds_count 0")) << text;

  m.SetBusy(true);
  m.CountTask("ok");
  m.ObserveEpoch(absl::Seconds(3), 5200);
  m.ObserveLatencySpread(0.02, 0.4);
  m.ObserveLatencySpread(0.02, 0);  // no median: nothing to say
  text = m.Text();
  EXPECT_TRUE(HasLine(text, "nas_worker_busy 1")) << text;
  EXPECT_TRUE(HasLine(text, "nas_worker_tasks_total{outcome=\"ok\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "nas_worker_train_samples_per_second 5200")) << text;
  EXPECT_TRUE(HasLine(text, "nas_worker_epoch_seconds_sum 3")) << text;
  EXPECT_TRUE(HasLine(text, "nas_worker_latency_spread_ratio_count 1")) << text;
}

TEST(WorkerMetricsTest, ServesMetricsOverHttp) {
  WorkerMetrics m("host-cpu", 1);
  absl::StatusOr<int> port = m.Serve("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  m.CountTask("lost");
  const std::string response = HttpGet(*port, "/metrics");
  EXPECT_TRUE(HasLine(response, "nas_worker_tasks_total{outcome=\"lost\"} 1")) << response;
}

}  // namespace
}  // namespace nas
