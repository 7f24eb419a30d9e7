// WorkerMetrics: a trainer worker's Prometheus metrics (prometheus-cpp), served on /metrics.
//
//   WorkerMetrics metrics("host-cpu", /*threads=*/1);
//   absl::StatusOr<int> port = metrics.Serve("0.0.0.0:9465");
//   metrics.SetBusy(true);
//   metrics.ObserveEpoch(absl::Seconds(3.2), /*samples_per_second=*/5200);
//
// Series (all present from the start, so dashboards and alerts always have one):
//   nas_worker_info{device, threads}            1
//   nas_worker_busy                             1 while a lease is being worked on, else 0
//   nas_worker_tasks_total{outcome}             ok, failed, lost (lease fenced), returned
//   nas_worker_train_samples_per_second         the last finished epoch's training speed
//   nas_worker_epoch_seconds                    histogram of epoch wall times
//   nas_worker_latency_spread_ratio             histogram of IQR / median of each latency
//                                               measurement (how noisy timing is here)
// No label carries a search or candidate id. See docs/observability.md.
#ifndef NAS_TRAINER_WORKER_METRICS_H_
#define NAS_TRAINER_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace nas {

class WorkerMetrics {
 public:
  WorkerMetrics(const std::string& device_tag, int threads);
  ~WorkerMetrics();

  // WorkerMetrics::Serve() starts the /metrics HTTP server on `address` (host:port; port 0
  // picks one) and returns the bound port; Unavailable when it cannot listen.
  absl::StatusOr<int> Serve(const std::string& address);

  void SetBusy(bool busy);
  // WorkerMetrics::CountTask(): "ok", "failed", "lost" or "returned".
  void CountTask(absl::string_view outcome);
  void ObserveEpoch(absl::Duration took, double samples_per_second);
  void ObserveLatencySpread(double iqr_ms, double median_ms);

  // WorkerMetrics::Text() renders every series in Prometheus' text format.
  std::string Text() const;

  struct Families;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace nas

#endif  // NAS_TRAINER_WORKER_METRICS_H_
