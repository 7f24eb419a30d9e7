#include "services/observer.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dataset_name.h"
#include "glog/logging.h"

namespace nas {

void Observer::SearchSubmitted(const Caller& caller, const nas::v1::Search& search) const {
  const nas::v1::SearchSpec& spec = search.spec();
  LOG(INFO) << "event=search_submitted search=" << search.id() << " user=" << caller.user_id
            << " strategy=" << spec.strategy().name() << " dataset=" << spec.dataset()
            << " profiles=" << absl::StrJoin(spec.profile_ids(), ",")
            << " target=" << search.progress().target();
}

void Observer::SearchCancelled(const Caller& caller, int64_t search_id) const {
  LOG(INFO) << "event=search_cancelled search=" << search_id << " user=" << caller.user_id;
}

void Observer::SearchExtended(const Caller& caller, const nas::v1::ExtendSearchRequest& request,
                              const nas::v1::Search& search) const {
  LOG(INFO) << "event=search_extended search=" << search.id() << " user=" << caller.user_id
            << " add_candidates=" << request.add_candidates()
            << " add_wall_seconds=" << request.add_wall_seconds()
            << " target=" << search.progress().target();
}

void Observer::RefillFailed(int64_t search_id, const absl::Status& status) const {
  LOG(WARNING) << "event=refill_failed search=" << search_id << " error=\"" << status.message()
               << "\"";
}

void Observer::WorkerRegistered(int64_t worker_id,
                                const nas::v1::RegisterWorkerRequest& request) const {
  LOG(INFO) << "event=worker_registered worker=" << worker_id
            << " device_tag=" << request.device_tag() << " auto_precision="
            << (request.auto_precision().empty() ? "unknown" : request.auto_precision())
            << " datasets="
            << (request.datasets().empty() ? std::string(kDefaultDataset)
                                           : absl::StrJoin(request.datasets(), ","))
            << (request.measure_only() ? " measure_only=true" : "");
}

void Observer::LeaseGranted(const nas::v1::LeaseWorkResponse& lease, int64_t worker_id) const {
  for (int i = 0; i <= lease.batch_size(); ++i) {
    const nas::v1::LeaseWorkResponse& l = i == 0 ? lease : lease.batch(i - 1);
    if (metrics_ != nullptr) metrics_->RecordLease("granted");
    LOG(INFO) << "event=lease_granted search=" << l.search_id() << " candidate=" << l.candidate_id()
              << " lease=" << l.lease_id() << " worker=" << worker_id
              << (lease.batch_size() > 0
                      ? absl::StrCat(" batch=", i + 1, "/", lease.batch_size() + 1)
                      : "");
  }
}

void Observer::ReportStored(const nas::v1::ReportResultRequest& request,
                            const ReportOutcome& outcome) const {
  LOG(INFO) << (outcome.measurement   ? "event=measurement_stored search="
                : outcome.gang_member ? "event=gang_share_stored search="
                                      : "event=result_stored search=")
            << outcome.search_id << " candidate=" << outcome.candidate_id
            << " lease=" << request.lease_id()
            << (request.has_metrics()
                    ? absl::StrCat(" val_accuracy=", request.metrics().val_accuracy())
                    : absl::StrCat(" error=\"", absl::CHexEscape(request.error()), "\""))
            << (outcome.search_ended ? " search_ended=true" : "");
  if (metrics_ != nullptr) {
    metrics_->RecordLease("completed");
    if (!outcome.measurement && !outcome.gang_member) {
      metrics_->RecordEvaluation(request.has_metrics());
    }
    for (const auto& [profile, error] : outcome.prediction_errors) {
      metrics_->RecordPredictionError(profile, error);
    }
  }
  for (const auto& [worker, reason] : outcome.quarantined) {
    LOG(WARNING) << "event=worker_quarantined worker=" << worker << " reason=\""
                 << absl::CHexEscape(reason) << "\"";
    if (metrics_ != nullptr) metrics_->RecordQuarantine();
  }
}

void Observer::ReportBatch(size_t reports) const {
  if (metrics_ != nullptr) metrics_->RecordReportBatch(reports);
}

void Observer::LeaseFenced(const absl::Status& status) const {
  if (metrics_ != nullptr) metrics_->RecordLease("fenced");
  LOG(WARNING) << "event=lease_fenced error=\"" << status.message() << "\"";
}

void Observer::LeaseReturned(const nas::v1::ReturnLeaseRequest& request) const {
  if (metrics_ != nullptr) metrics_->RecordLease("returned");
  LOG(INFO) << "event=lease_returned lease=" << request.lease_id()
            << " worker=" << request.worker_id();
}

void Observer::RendezvousPublished(const nas::v1::PublishRendezvousRequest& request) const {
  LOG(INFO) << "event=rendezvous_published lease=" << request.lease_id()
            << " worker=" << request.worker_id() << " store=" << request.store_address();
}

void Observer::LeaseSweepFailed(const absl::Status& status) const {
  LOG(WARNING) << "event=lease_sweep_failed error=\"" << status.message() << "\"";
}

void Observer::LeasesExtended(int64_t leases, absl::Time last_sweep, absl::Time now) const {
  LOG(INFO) << "event=leases_extended leases=" << leases << " away_seconds="
            << (last_sweep == absl::InfinitePast()
                    ? std::string("start")
                    : absl::StrCat(absl::ToInt64Seconds(now - last_sweep)));
  if (metrics_ != nullptr && leases > 0) metrics_->RecordLeasesExtended(leases);
}

void Observer::LeaseExpired(const LeaseExpiry& e) const {
  LOG(INFO) << "event=lease_expired search=" << e.search_id << " candidate=" << e.candidate_id
            << " lease=" << e.lease_id << " requeued=" << (e.requeued ? "true" : "false");
  if (metrics_ != nullptr) metrics_->RecordLease("expired");
}

}  // namespace nas
