// A worker's metrics: every series present from the start, values as recorded, served over HTTP.
#include "trainer/worker_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace nas {
namespace {

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  close(fd);
  return response;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(WorkerMetricsTest, EverySeriesFromTheStartAndRecordedValues) {
  WorkerMetrics m("host-cpu", 2);
  std::string text = m.Text();
  EXPECT_TRUE(Has(text, "nas_worker_info{device=\"host-cpu\",threads=\"2\"} 1")) << text;
  EXPECT_TRUE(Has(text, "nas_worker_busy 0")) << text;
  for (const char* outcome : {"ok", "failed", "lost", "returned"}) {
    EXPECT_TRUE(Has(text, std::string("nas_worker_tasks_total{outcome=\"") + outcome + "\"} 0"));
  }
  EXPECT_TRUE(Has(text, "nas_worker_epoch_seconds_count 0")) << text;

  m.SetBusy(true);
  m.CountTask("ok");
  m.ObserveEpoch(absl::Seconds(3), 5200);
  m.ObserveLatencySpread(0.02, 0.4);
  m.ObserveLatencySpread(0.02, 0);  // no median: nothing to say
  text = m.Text();
  EXPECT_TRUE(Has(text, "nas_worker_busy 1")) << text;
  EXPECT_TRUE(Has(text, "nas_worker_tasks_total{outcome=\"ok\"} 1")) << text;
  EXPECT_TRUE(Has(text, "nas_worker_train_samples_per_second 5200")) << text;
  EXPECT_TRUE(Has(text, "nas_worker_epoch_seconds_sum 3")) << text;
  EXPECT_TRUE(Has(text, "nas_worker_latency_spread_ratio_count 1")) << text;
}

TEST(WorkerMetricsTest, ServesMetricsOverHttp) {
  WorkerMetrics m("host-cpu", 1);
  absl::StatusOr<int> port = m.Serve("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  m.CountTask("lost");
  const std::string response = HttpGet(*port, "/metrics");
  EXPECT_TRUE(Has(response, "nas_worker_tasks_total{outcome=\"lost\"} 1")) << response;
}

}  // namespace
}  // namespace nas
