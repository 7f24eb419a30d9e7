// Controller: the service's behaviour behind both gRPC services, free of gRPC.
//
// Every method takes what the RPC carried (the caller's `authorization` header and the request)
// and returns absl::Status(Or). services/grpc_services.cc adapts gRPC to it: it authenticates,
// checks enum fields, converts statuses (ToGrpcStatus), and owns the two streaming protocols,
// WatchSearch's event stream and UploadArtifact's chunk assembly.
//
//   Controller controller(store, scheduler, {.worker_token = secret});
//   absl::StatusOr<nas::v1::Search> s = controller.SubmitSearch("Bearer nas_...", request);
#ifndef NAS_SERVICES_CONTROLLER_H_
#define NAS_SERVICES_CONTROLLER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/nas_service.pb.h"
#include "proto/trainer_service.pb.h"
#include "services/metrics.h"
#include "services/observer.h"
#include "services/report_batcher.h"
#include "services/scheduler.h"
#include "services/store/store.h"

namespace nas {

struct ControllerOptions {
  // The shared secret workers present; only its SHA-256 is kept.
  std::string worker_token;
  // Longest LeaseWork long poll.
  absl::Duration max_lease_wait = absl::Seconds(30);
  // Largest model file a worker may upload.
  int64_t max_artifact_bytes = 256ll << 20;
  // Where leases, evaluations and predictor errors are counted (null: nowhere).
  ControllerMetrics* metrics = nullptr;
  // Most workers' reports stored in one transaction (group commit; services/report_batcher.h).
  int max_report_batch = 64;
};

class Controller {
 public:
  Controller(Store* store, Scheduler* scheduler, const ControllerOptions& options);

  // ---- Authentication ---------------------------------------------------------------------

  // Controller::AuthenticateUser() resolves "Bearer <token>"; Unauthenticated otherwise.
  absl::StatusOr<Caller> AuthenticateUser(absl::string_view authorization);
  // Controller::AuthenticateWorker() checks the worker credential; Unauthenticated otherwise.
  absl::Status AuthenticateWorker(absl::string_view authorization);
  // Controller::BootstrapAdmin() creates user "admin" with `token` when there are no users.
  // Returns whether it did.
  absl::StatusOr<bool> BootstrapAdmin(const std::string& token);

  // ---- NasService -------------------------------------------------------------------------

  absl::StatusOr<nas::v1::Search> SubmitSearch(const Caller& caller,
                                               const nas::v1::SubmitSearchRequest& request);
  absl::StatusOr<nas::v1::Search> GetSearch(const Caller& caller, int64_t search_id);
  absl::StatusOr<nas::v1::ListSearchesResponse> ListSearches(
      const Caller& caller, const nas::v1::ListSearchesRequest& request);
  absl::StatusOr<nas::v1::Search> CancelSearch(const Caller& caller, int64_t search_id);
  absl::StatusOr<nas::v1::Search> ExtendSearch(const Caller& caller,
                                               const nas::v1::ExtendSearchRequest& request);
  // Controller::LatestEventId() returns the id of the search's newest event (a watch's start).
  absl::StatusOr<int64_t> LatestEventId(const Caller& caller, int64_t search_id);
  // Controller::WatchEvents() returns the events after `after_id`, each with the search's
  // current state; it waits up to `wait` when there are none yet.
  absl::StatusOr<std::vector<nas::v1::SearchEvent>> WatchEvents(const Caller& caller,
                                                                int64_t search_id, int64_t after_id,
                                                                absl::Duration wait);
  absl::StatusOr<nas::v1::ParetoFront> GetParetoFront(
      const Caller& caller, const nas::v1::GetParetoFrontRequest& request);
  absl::StatusOr<nas::v1::ListCandidatesResponse> ListCandidates(
      const Caller& caller, nas::v1::ListCandidatesRequest request);
  absl::StatusOr<nas::v1::Candidate> GetCandidate(const Caller& caller, int64_t candidate_id);
  absl::StatusOr<std::pair<nas::v1::ModelMetadata, std::string>> FetchModel(
      const Caller& caller, const nas::v1::FetchModelRequest& request);
  absl::StatusOr<nas::v1::HardwareProfile> RegisterHardwareProfile(
      const Caller& caller, const nas::v1::RegisterHardwareProfileRequest& request);
  absl::StatusOr<nas::v1::ListHardwareProfilesResponse> ListHardwareProfiles(const Caller& caller);
  absl::StatusOr<nas::v1::HardwareProfile> GetHardwareProfile(const Caller& caller,
                                                              const std::string& profile_id);

  // ---- AdminService -----------------------------------------------------------------------

  absl::StatusOr<nas::v1::User> CreateUser(const Caller& caller,
                                           const nas::v1::CreateUserRequest& request);
  absl::StatusOr<nas::v1::ListUsersResponse> ListUsers(const Caller& caller);
  absl::StatusOr<nas::v1::CreateTokenResponse> CreateToken(
      const Caller& caller, const nas::v1::CreateTokenRequest& request);
  absl::Status RevokeToken(const Caller& caller, int64_t token_id);
  absl::StatusOr<nas::v1::User> WhoAmI(const Caller& caller);

  // ---- TrainerService ---------------------------------------------------------------------

  absl::StatusOr<nas::v1::RegisterWorkerResponse> RegisterWorker(
      const nas::v1::RegisterWorkerRequest& request);
  // Controller::LeaseWork() long-polls until work appears, `deadline` or max_lease_wait.
  absl::StatusOr<nas::v1::LeaseWorkResponse> LeaseWork(const nas::v1::LeaseWorkRequest& request,
                                                       absl::Time deadline,
                                                       const std::function<bool()>& cancelled);
  absl::StatusOr<nas::v1::HeartbeatResponse> Heartbeat(const nas::v1::HeartbeatRequest& request);
  absl::StatusOr<nas::v1::ReportResultResponse> ReportResult(
      const nas::v1::ReportResultRequest& request);
  // Controller::UploadArtifact() checks size and sha256 and stores the file under its lease.
  absl::StatusOr<nas::v1::UploadArtifactResponse> UploadArtifact(
      const nas::v1::UploadArtifactRequest::Header& header, const std::string& data);
  absl::Status ReturnLease(const nas::v1::ReturnLeaseRequest& request);
  // Controller::PublishRendezvous() checks the address (host:port) and records it on rank 0's
  // lease of a data-parallel supernet epoch; waiting workers are woken to join the gang.
  absl::Status PublishRendezvous(const nas::v1::PublishRendezvousRequest& request);
  // Controller::FetchArtifact() returns a stored file by its SHA-256 (supernet checkpoints).
  absl::StatusOr<std::string> FetchArtifact(const nas::v1::FetchArtifactRequest& request);

  const ControllerOptions& options() const { return options_; }

 private:
  // Queues a new or extended search's next candidates before the call answers, so it is
  // visibly moving; returns it as it is then.
  nas::v1::Search RefillBeforeAnswering(const Caller& caller, const nas::v1::Search& search);
  // Counts a worker's call refused because its lease is no longer live (the store's reason
  // ErrorReason::kLeaseFenced, not any FAILED_PRECONDITION); returns `status`.
  absl::Status CountFenced(absl::Status status);

  Store* const store_;
  Scheduler* const scheduler_;
  const ControllerOptions options_;
  const std::string worker_token_sha256_;
  const Observer observer_;  // before reports_, whose batches it counts
  ReportBatcher reports_;
};

}  // namespace nas

#endif  // NAS_SERVICES_CONTROLLER_H_
