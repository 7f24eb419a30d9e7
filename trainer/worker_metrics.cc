#include "trainer/worker_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "common/metrics_http.h"

namespace nas {

struct WorkerMetrics::Families {
  Families(prometheus::Registry& r, const std::string& device_tag, int threads)
      : busy(prometheus::BuildGauge()
                 .Name("nas_worker_busy")
                 .Help("1 while the worker trains, measures or reports a leased candidate")
                 .Register(r)
                 .Add({})),
        tasks(prometheus::BuildCounter()
                  .Name("nas_worker_tasks_total")
                  .Help("Leases worked on, by outcome: ok (reported), failed (reported as an "
                        "error), lost (the controller fenced the lease), returned (stopping)")
                  .Register(r)),
        samples_per_second(prometheus::BuildGauge()
                               .Name("nas_worker_train_samples_per_second")
                               .Help("Training examples per second of the last finished epoch")
                               .Register(r)
                               .Add({})),
        epoch_seconds(
            prometheus::BuildHistogram()
                .Name("nas_worker_epoch_seconds")
                .Help("Wall time of each training epoch")
                .Register(r)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25,
                                                                 60, 150, 300, 600})),
        latency_spread(prometheus::BuildHistogram()
                           .Name("nas_worker_latency_spread_ratio")
                           .Help("Interquartile range over median of each latency measurement")
                           .Register(r)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.02, 0.05, 0.1,
                                                                            0.2, 0.5, 1})) {
    prometheus::BuildGauge()
        .Name("nas_worker_info")
        .Help("1, labelled with the worker's device tag and LibTorch threads")
        .Register(r)
        .Add({{"device", device_tag}, {"threads", absl::StrCat(threads)}})
        .Set(1);
    for (const char* outcome : {"ok", "failed", "lost", "returned"}) {
      tasks.Add({{"outcome", outcome}});
    }
  }

  prometheus::Gauge& busy;
  prometheus::Family<prometheus::Counter>& tasks;
  prometheus::Gauge& samples_per_second;
  prometheus::Histogram& epoch_seconds;
  prometheus::Histogram& latency_spread;
};

WorkerMetrics::WorkerMetrics(const std::string& device_tag, int threads)
    : registry_(std::make_shared<prometheus::Registry>()),
      families_(std::make_unique<Families>(*registry_, device_tag, threads)) {}

WorkerMetrics::~WorkerMetrics() = default;

absl::StatusOr<int> WorkerMetrics::Serve(const std::string& address) {
  return ServeMetrics(address, {registry_}, &exposer_);
}

void WorkerMetrics::SetBusy(bool busy) { families_->busy.Set(busy ? 1 : 0); }

void WorkerMetrics::CountTask(absl::string_view outcome) {
  families_->tasks.Add({{"outcome", std::string(outcome)}}).Increment();
}

void WorkerMetrics::ObserveEpoch(absl::Duration took, double samples_per_second) {
  families_->epoch_seconds.Observe(absl::ToDoubleSeconds(took));
  families_->samples_per_second.Set(samples_per_second);
}

void WorkerMetrics::ObserveLatencySpread(double iqr_ms, double median_ms) {
  if (median_ms > 0) families_->latency_spread.Observe(iqr_ms / median_ms);
}

std::string WorkerMetrics::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace nas
