#include "services/metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics_http.h"
#include "glog/logging.h"

namespace nas {
namespace {

constexpr std::array<const char*, 17> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char* CodeName(int code) {
  return code >= 0 && code < static_cast<int>(kCodeNames.size()) ? kCodeNames[code] : "UNKNOWN";
}

// Seconds: from a quick lookup to a long LeaseWork poll or a model download.
const prometheus::Histogram::BucketBoundaries kRpcBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const prometheus::Histogram::BucketBoundaries kStoreBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
const prometheus::Histogram::BucketBoundaries kErrorBuckets = {0.01, 0.02, 0.05, 0.1,
                                                               0.2,  0.5,  1,    2};

prometheus::ClientMetric Gauge(double value, std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  // Sorted by name, as the registry's own series are.
  std::sort(labels.begin(), labels.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

}  // namespace

std::pair<std::string, std::string> GrpcMethodLabels(absl::string_view full_method) {
  absl::string_view m = full_method;
  if (!m.empty() && m[0] == '/') m.remove_prefix(1);
  const std::pair<std::string, std::string> parts = absl::StrSplit(m, absl::MaxSplits('/', 1));
  // Only methods compiled into this binary (the services' protos) are named: a finite set.
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrCat(parts.first, ".", parts.second));
  if (method == nullptr) return {"other", "other"};
  return parts;
}

struct ControllerMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : handled(prometheus::BuildCounter()
                    .Name("nas_grpc_server_handled_total")
                    .Help("gRPC calls completed by the controller, by method and status code")
                    .Register(r)),
        handling(prometheus::BuildHistogram()
                     .Name("nas_grpc_server_handling_seconds")
                     .Help("Time from a call's arrival to its status, by method")
                     .Register(r)),
        leases(prometheus::BuildCounter()
                   .Name("nas_leases_total")
                   .Help("Leases by outcome: granted to a worker, completed by its report, "
                         "expired without a heartbeat, fenced (a worker's call on a lease that "
                         "is no longer live refused), returned by a stopping worker")
                   .Register(r)),
        evaluations(prometheus::BuildCounter()
                        .Name("nas_evaluations_total")
                        .Help("Results stored (ok) and evaluations a worker reported failed")
                        .Register(r)),
        store_seconds(prometheus::BuildHistogram()
                          .Name("nas_store_operation_seconds")
                          .Help("PostgreSQL transaction time by store operation, retries "
                                "included")
                          .Register(r)),
        store_errors(prometheus::BuildCounter()
                         .Name("nas_store_errors_total")
                         .Help("Store operations that failed for the database's sake "
                               "(unreachable, internal, conflicting beyond retries)")
                         .Register(r)
                         .Add({})),
        prediction_error(prometheus::BuildHistogram()
                             .Name("nas_latency_prediction_error_ratio")
                             .Help("|predicted - measured| / measured latency, per predicting "
                                   "profile, where a worker measured the same candidate on "
                                   "the profile's device")
                             .Register(r)),
        quarantines(prometheus::BuildCounter()
                        .Name("nas_worker_quarantines_total")
                        .Help("Workers put in quarantine: different candidates they failed in a "
                              "row were evaluated by other workers")
                        .Register(r)
                        .Add({})),
        report_batch(prometheus::BuildHistogram()
                         .Name("nas_report_batch_size")
                         .Help("Workers' reports stored per transaction (group commit)")
                         .Register(r)
                         .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})),
        serving(prometheus::BuildGauge()
                    .Name("nas_controller_serving")
                    .Help("1 while grpc.health.v1 answers SERVING (the store completes a "
                          "trivial transaction and its pool is not stalled), else 0")
                    .Register(r)
                    .Add({})) {
    for (const char* outcome :
         {"granted", "completed", "expired", "fenced", "returned", "extended"}) {
      leases.Add({{"outcome", outcome}});
    }
    for (const char* outcome : {"ok", "failed"}) evaluations.Add({{"outcome", outcome}});
  }

  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Histogram>& handling;
  prometheus::Family<prometheus::Counter>& leases;
  prometheus::Family<prometheus::Counter>& evaluations;
  prometheus::Family<prometheus::Histogram>& store_seconds;
  prometheus::Counter& store_errors;
  prometheus::Family<prometheus::Histogram>& prediction_error;
  prometheus::Counter& quarantines;
  prometheus::Histogram& report_batch;
  prometheus::Gauge& serving;
};

// Reads Store::Snapshot() at every scrape.
class ControllerMetrics::StoreCollector : public prometheus::Collectable {
 public:
  explicit StoreCollector(Store* store) : store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    // One scrape at a time: a slow database must not pile up snapshot transactions.
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<StoreSnapshot> snap = store_->Snapshot();
    prometheus::MetricFamily up =
        GaugeFamily("nas_store_up", "1 when the last scrape could read the store, else 0");
    up.metric.push_back(Gauge(snap.ok() ? 1 : 0, {}));
    if (!snap.ok()) {
      LOG(WARNING) << "event=metrics_snapshot_failed error=\"" << snap.status().message() << "\"";
      return {up};
    }
    prometheus::MetricFamily searches = GaugeFamily("nas_searches", "Searches by state");
    for (const auto& [state, n] : snap->searches_by_state) {
      searches.metric.push_back(Gauge(n, {{"state", state}}));
    }
    prometheus::MetricFamily queue =
        GaugeFamily("nas_queue_depth", "Candidates queued for a worker, every search");
    queue.metric.push_back(Gauge(snap->queued, {}));
    prometheus::MetricFamily workers =
        GaugeFamily("nas_workers_active", "Workers heard from in the last minute");
    workers.metric.push_back(Gauge(snap->workers_active, {}));
    prometheus::MetricFamily quarantined = GaugeFamily(
        "nas_workers_quarantined",
        "Workers in quarantine now: their failed candidates kept succeeding on other workers");
    quarantined.metric.push_back(Gauge(snap->workers_quarantined, {}));

    prometheus::MetricFamily info = GaugeFamily(
        "nas_search_info",
        "1 per search shown (running, or ended in the last 15 minutes), labelled with its state");
    prometheus::MetricFamily candidates =
        GaugeFamily("nas_search_candidates", "A search's candidates by state");
    prometheus::MetricFamily target =
        GaugeFamily("nas_search_target", "Evaluations a search's budget allows in all");
    prometheus::MetricFamily best = GaugeFamily(
        "nas_search_best_accuracy", "Best validation accuracy of a search's finished models");
    prometheus::MetricFamily idle =
        GaugeFamily("nas_search_seconds_since_progress",
                    "Seconds since a running search last stored a result (or since it started)");
    prometheus::MetricFamily front_size =
        GaugeFamily("nas_search_front_size", "Members of a search's Pareto front, per profile");
    prometheus::MetricFamily hypervolume = GaugeFamily(
        "nas_search_hypervolume",
        "Hypervolume of a search's Pareto front per profile, from the search's reference point");
    for (const StoreSnapshot::Search& s : snap->searches) {
      const std::string id = absl::StrCat(s.id);
      info.metric.push_back(Gauge(1, {{"search", id}, {"state", s.state}}));
      for (const auto& [state, n] : s.candidates_by_state) {
        candidates.metric.push_back(Gauge(n, {{"search", id}, {"state", state}}));
      }
      target.metric.push_back(Gauge(s.target, {{"search", id}}));
      best.metric.push_back(Gauge(s.best_accuracy, {{"search", id}}));
      if (s.state == "RUNNING") {
        idle.metric.push_back(Gauge(s.seconds_since_progress, {{"search", id}}));
      }
      for (const StoreSnapshot::Front& f : s.fronts) {
        front_size.metric.push_back(Gauge(f.size, {{"search", id}, {"profile", f.profile_id}}));
        hypervolume.metric.push_back(
            Gauge(f.hypervolume, {{"search", id}, {"profile", f.profile_id}}));
      }
    }
    return {up,         searches, queue, workers, quarantined, info,
            candidates, target,   best,  idle,    front_size,  hypervolume};
  }

 private:
  Store* const store_;
  mutable std::mutex mu_;
};

namespace {

// Records one call: the interceptor gRPC creates per call, which sees the status sent.
class RpcInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(ControllerMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->RecordRpc(method_, methods->GetSendStatus().error_code(), absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  ControllerMetrics* const metrics_;
  const std::string method_;
  const absl::Time start_;
};

class RpcInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcInterceptorFactory(ControllerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcInterceptor(metrics_, info->method());
  }

 private:
  ControllerMetrics* const metrics_;
};

}  // namespace

ControllerMetrics::ControllerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      families_(std::make_unique<Families>(*registry_)) {}

ControllerMetrics::~ControllerMetrics() {
  exposer_.reset();  // No scrape may run once the store can go.
}

absl::StatusOr<int> ControllerMetrics::Serve(const std::string& address) {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {registry_};
  if (store_collector_ != nullptr) collectables.push_back(store_collector_);
  return ServeMetrics(address, collectables, &exposer_);
}

void ControllerMetrics::WatchStore(Store* store) {
  store_collector_ = std::make_shared<StoreCollector>(store);
  if (exposer_ != nullptr) exposer_->RegisterCollectable(store_collector_);
}

void ControllerMetrics::RecordRpc(absl::string_view method, int code, absl::Duration took) {
  const auto [service, name] = GrpcMethodLabels(method);
  families_->handled
      .Add({{"grpc_service", service}, {"grpc_method", name}, {"grpc_code", CodeName(code)}})
      .Increment();
  families_->handling.Add({{"grpc_service", service}, {"grpc_method", name}}, kRpcBuckets)
      .Observe(absl::ToDoubleSeconds(took));
}

void ControllerMetrics::RecordLease(absl::string_view outcome) {
  families_->leases.Add({{"outcome", std::string(outcome)}}).Increment();
}

void ControllerMetrics::RecordEvaluation(bool ok) {
  families_->evaluations.Add({{"outcome", ok ? "ok" : "failed"}}).Increment();
}

void ControllerMetrics::RecordQuarantine() { families_->quarantines.Increment(); }

void ControllerMetrics::SetServing(bool serving) { families_->serving.Set(serving ? 1 : 0); }

void ControllerMetrics::RecordLeasesExtended(int64_t n) {
  families_->leases.Add({{"outcome", "extended"}}).Increment(static_cast<double>(n));
}

void ControllerMetrics::RecordStoreOperation(const char* operation, absl::Duration took,
                                             const absl::Status& st) {
  families_->store_seconds.Add({{"operation", operation}}, kStoreBuckets)
      .Observe(absl::ToDoubleSeconds(took));
  switch (st.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown:
      families_->store_errors.Increment();
      break;
    default:
      break;
  }
}

void ControllerMetrics::RecordPredictionError(const std::string& profile_id,
                                              double relative_error) {
  families_->prediction_error.Add({{"profile", profile_id}}, kErrorBuckets).Observe(relative_error);
}

void ControllerMetrics::RecordReportBatch(size_t reports) {
  families_->report_batch.Observe(static_cast<double>(reports));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ControllerMetrics::Interceptor() {
  return std::make_unique<RpcInterceptorFactory>(this);
}

std::string ControllerMetrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  if (store_collector_ != nullptr) {
    for (prometheus::MetricFamily& f : store_collector_->Collect())
      families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace nas
