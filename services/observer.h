// Observer: what the controller and its scheduler tell operators, said in one place. Each event
// is one `event=NAME key=value ...` log line (docs/observability.md lists them) and, where the
// process keeps metrics, the matching Prometheus series; the handlers call one method and hold
// no `metrics != nullptr` branch of their own.
//
//   Observer observer(metrics);                 // metrics may be null: logs only
//   observer.LeaseGranted(lease, worker_id);    // event=lease_granted ... and leases{granted}
#ifndef NAS_SERVICES_OBSERVER_H_
#define NAS_SERVICES_OBSERVER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/nas_service.pb.h"
#include "proto/trainer_service.pb.h"
#include "services/metrics.h"
#include "services/store/store.h"

namespace nas {

class Observer {
 public:
  explicit Observer(ControllerMetrics* metrics) : metrics_(metrics) {}

  // Users' searches.
  void SearchSubmitted(const Caller& caller, const nas::v1::Search& search) const;
  void SearchCancelled(const Caller& caller, int64_t search_id) const;
  void SearchExtended(const Caller& caller, const nas::v1::ExtendSearchRequest& request,
                      const nas::v1::Search& search) const;
  void RefillFailed(int64_t search_id, const absl::Status& status) const;

  // Workers and their leases.
  void WorkerRegistered(int64_t worker_id, const nas::v1::RegisterWorkerRequest& request) const;
  // A lease and the estimates batched with it, each counted granted.
  void LeaseGranted(const nas::v1::LeaseWorkResponse& lease, int64_t worker_id) const;
  // A report stored (not a duplicate), with what it caused: quarantines, prediction errors.
  void ReportStored(const nas::v1::ReportResultRequest& request,
                    const ReportOutcome& outcome) const;
  // One group commit of `reports` reports.
  void ReportBatch(size_t reports) const;
  // A worker's call refused with the reason kLeaseFenced.
  void LeaseFenced(const absl::Status& status) const;
  void LeaseReturned(const nas::v1::ReturnLeaseRequest& request) const;
  void RendezvousPublished(const nas::v1::PublishRendezvousRequest& request) const;

  // The scheduler's lease sweep.
  void LeaseSweepFailed(const absl::Status& status) const;
  // Live leases given a fresh TTL after the service was away since `last_sweep` (InfinitePast:
  // this process just started).
  void LeasesExtended(int64_t leases, absl::Time last_sweep, absl::Time now) const;
  void LeaseExpired(const LeaseExpiry& expiry) const;

 private:
  ControllerMetrics* const metrics_;
};

}  // namespace nas

#endif  // NAS_SERVICES_OBSERVER_H_
