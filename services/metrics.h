// ControllerMetrics: the controller's Prometheus metrics (prometheus-cpp), served on /metrics.
//
//   ControllerMetrics metrics;                          // every family registered, at zero
//   metrics.WatchStore(store);                          // store figures read at each scrape
//   absl::StatusOr<int> port = metrics.Serve("0.0.0.0:9464");
//   metrics.RecordLease("granted");
//
// Two kinds of figures:
// - events, counted as they happen in this process: gRPC calls by method and code (with a
//   latency histogram), leases by outcome, evaluations by outcome, store operations (latency
//   histogram by operation, errors), latency-predictor error;
// - state, read from the store when Prometheus scrapes (Store::Snapshot): searches by state,
//   candidates by state per search, queue depth, active workers, and per search its best
//   accuracy, seconds since its last result, and per profile its front's size and hypervolume.
//   The database is the truth, so several controllers report alike and a restart loses nothing.
//
// Label sets stay bounded: methods are the services' own (anything else is "other"), codes and
// outcomes are fixed lists, search ids appear only for running searches and those that ended in
// the last 15 minutes, profiles only where a search targets them, and candidate ids never.
// Names and meanings: docs/observability.md.
#ifndef NAS_SERVICES_METRICS_H_
#define NAS_SERVICES_METRICS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/store/store.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace grpc {
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace nas {

class ControllerMetrics {
 public:
  ControllerMetrics();
  ~ControllerMetrics();

  // ControllerMetrics::Serve() starts an HTTP server for /metrics on `address` (host:port;
  // port 0 picks one) and returns the bound port. Unavailable when it cannot listen.
  absl::StatusOr<int> Serve(const std::string& address);

  // ControllerMetrics::WatchStore() reports Store::Snapshot() figures at every scrape. `store`
  // must outlive this object's exposer (call before Serve; stopped by the destructor).
  void WatchStore(Store* store);

  // ControllerMetrics::RecordRpc() counts one finished call. `method` is gRPC's full name
  // ("/nas.v1.NasService/SubmitSearch").
  void RecordRpc(absl::string_view method, int code, absl::Duration took);
  // ControllerMetrics::RecordLease(): "granted", "completed", "expired", "fenced", "returned".
  // ("fenced": a worker's call refused with the reason ErrorReason::kLeaseFenced.)
  void RecordLease(absl::string_view outcome);
  // ControllerMetrics::RecordLeasesExtended(): `n` live leases given a fresh TTL because the
  // service itself had been unavailable (counted as leases{outcome="extended"}).
  void RecordLeasesExtended(int64_t n);
  // ControllerMetrics::RecordQuarantine(): a worker was put in quarantine.
  void RecordQuarantine();
  // ControllerMetrics::SetServing(): what grpc.health.v1 answers now.
  void SetServing(bool serving);
  // ControllerMetrics::RecordEvaluation(): a stored result, or a worker's report of failure.
  void RecordEvaluation(bool ok);
  // ControllerMetrics::RecordStoreOperation(): StoreOptions::on_operation.
  void RecordStoreOperation(const char* operation, absl::Duration took, const absl::Status& st);
  // ControllerMetrics::RecordPredictionError(): |predicted - measured| / measured latency of
  // one candidate on `profile_id`, whose prediction has a measurement to compare with.
  void RecordPredictionError(const std::string& profile_id, double relative_error);
  // ControllerMetrics::RecordReportBatch(): one group commit of `reports` workers' reports.
  void RecordReportBatch(size_t reports);

  // ControllerMetrics::Interceptor() returns a factory that records every call of a server
  // (gRPC's experimental server interceptors); the server owns it, this object must outlive it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Interceptor();

  // ControllerMetrics::Text() renders every metric in Prometheus' text format (for tests and
  // for logs), store figures included.
  std::string Text() const;

  struct Families;

 private:
  class StoreCollector;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::shared_ptr<StoreCollector> store_collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// GrpcMethodLabels() splits gRPC's full method name into the grpc_service and grpc_method
// labels ("/nas.v1.NasService/SubmitSearch" -> "nas.v1.NasService", "SubmitSearch"), or
// ("other", "other") for a method the controller does not serve, so that no client can grow
// the label set.
std::pair<std::string, std::string> GrpcMethodLabels(absl::string_view full_method);

}  // namespace nas

#endif  // NAS_SERVICES_METRICS_H_
