// The controller's behaviour behind both gRPC services (controller.h). About 700 lines because
// each RPC's field checks sit beside the call they guard (only the enum check of every request
// is shared, in services/request_checks.h); the next split moves SubmitSearch's checks against
// the store (served datasets, split and recipe size, profiles) and the worker protocol's
// metric checks (reports) to files of their own.
#include "services/controller.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dataset_name.h"
#include "common/error_reason.h"
#include "common/model_format.h"
#include "common/names.h"
#include "common/onnx_check.h"
#include "common/status_macros.h"
#include "common/validation_split.h"
#include "search/hardware_profile.h"
#include "search/weight_sharing.h"
#include "services/crypto.h"
#include "services/request_validation.h"
#include "services/spec_validation.h"

namespace nas {
namespace {

// Extracts the secret from "Bearer <secret>".
absl::StatusOr<std::string> BearerSecret(absl::string_view authorization) {
  constexpr absl::string_view kPrefix = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing authorization metadata: send \"authorization: Bearer <token>\"");
  }
  if (!absl::StartsWith(authorization, kPrefix) || authorization.size() == kPrefix.size()) {
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  }
  return std::string(authorization.substr(kPrefix.size()));
}

absl::Status RequireAdmin(const Caller& caller) {
  if (caller.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("user \"", caller.name, "\" is not an administrator"));
}

}  // namespace

Controller::Controller(Store* store, Scheduler* scheduler, const ControllerOptions& options)
    : store_(store),
      scheduler_(scheduler),
      options_(options),
      worker_token_sha256_(Sha256Hex(options.worker_token)),
      observer_(options.metrics),
      reports_(
          [store,
           observer = &observer_](const std::vector<const nas::v1::ReportResultRequest*>& batch) {
            observer->ReportBatch(batch.size());
            return store->ReportResults(batch);
          },
          options.max_report_batch) {}

// ---- Authentication -------------------------------------------------------------------------

absl::StatusOr<Caller> Controller::AuthenticateUser(absl::string_view authorization) {
  NAS_ASSIGN_OR_RETURN(std::string secret, BearerSecret(authorization));
  return store_->Authenticate(Sha256Hex(secret));
}

absl::Status Controller::AuthenticateWorker(absl::string_view authorization) {
  NAS_ASSIGN_OR_RETURN(std::string secret, BearerSecret(authorization));
  if (!ConstantTimeEquals(Sha256Hex(secret), worker_token_sha256_)) {
    return absl::UnauthenticatedError("the worker credential is wrong");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Controller::BootstrapAdmin(const std::string& token) {
  NAS_ASSIGN_OR_RETURN(int64_t users, store_->CountUsers());
  if (users > 0) return false;
  absl::StatusOr<nas::v1::User> admin = store_->CreateUser("admin", /*admin=*/true);
  // Another controller bootstrapping at the same moment won; its token stands.
  if (absl::IsAlreadyExists(admin.status())) return false;
  NAS_RETURN_IF_ERROR(admin.status());
  NAS_RETURN_IF_ERROR(store_->AddToken(admin->id(), Sha256Hex(token), "bootstrap").status());
  return true;
}

// ---- NasService -----------------------------------------------------------------------------

absl::StatusOr<nas::v1::Search> Controller::SubmitSearch(
    const Caller& caller, const nas::v1::SubmitSearchRequest& request) {
  NAS_ASSIGN_OR_RETURN(nas::v1::SearchSpec spec, NormalizeSearchSpec(request.spec()));
  std::vector<std::string> warnings;
  {
    // A search no worker can train would sit queued forever: refuse it now, saying how to fix,
    // whatever its dataset (the default one too). Only a search on the default dataset is
    // accepted before any worker has registered (a deployment whose workers are starting),
    // with a warning.
    NAS_ASSIGN_OR_RETURN(std::vector<std::string> served, store_->ServedDatasets());
    if (served.empty() && spec.dataset() == kDefaultDataset) {
      warnings.push_back(absl::StrCat(
          "no worker has registered yet: the search waits until one serving dataset \"",
          spec.dataset(), "\" does (nas-trainer --dataset)"));
    } else if (std::find(served.begin(), served.end(), spec.dataset()) == served.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "spec.dataset: no registered worker serves \"", spec.dataset(), "\"",
          request.spec().dataset().empty() ? " (the default, as the spec names none)" : "",
          "; served: ",
          served.empty() ? std::string("none, no worker has registered")
                         : absl::StrJoin(served, ", "),
          ". Name a served one in spec.dataset, or start nas-trainer with --dataset=",
          spec.dataset(), "=FORMAT:DIR"));
    }
  }
  {
    // A split the dataset cannot hold would fail every candidate on the workers: refuse it
    // now, where a worker has told us the dataset's size (else the worker refuses it). A
    // recipe that gives a candidate too few optimizer steps to learn is accepted with a
    // warning that says so.
    NAS_ASSIGN_OR_RETURN(std::optional<int64_t> train,
                         store_->DatasetTrainExamples(spec.dataset()));
    if (!train.has_value() && spec.dataset() == kDefaultDataset) train = kFashionMnistTrainExamples;
    if (train.has_value()) {
      absl::StatusOr<int64_t> split = ValidationExamples(spec.recipe(), spec.dataset(), *train);
      if (!split.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("spec.", split.status().message()));
      }
      if (std::optional<std::string> w = TooFewStepsWarning(spec.recipe(), *train - *split)) {
        warnings.push_back(*std::move(w));
      }
    }
  }
  if (IsWeightSharing(spec.strategy())) {
    NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
    if (plan.supernet_search != 0) {
      NAS_RETURN_IF_ERROR(store_->CheckReusableSupernet(caller, plan.supernet_search, spec));
    }
  }
  std::vector<nas::v1::HardwareProfile> profiles;
  for (int i = 0; i < spec.profile_ids_size(); ++i) {
    absl::StatusOr<nas::v1::HardwareProfile> p = store_->GetProfile(caller, spec.profile_ids(i));
    if (!p.ok()) {
      if (!absl::IsNotFound(p.status())) {
        return absl::Status(p.status().code(),
                            absl::StrCat("spec.profile_ids[", i, "]: ", p.status().message()));
      }
      // An unknown profile is a bad request, not a missing resource of the call itself; the
      // answer names the profiles there are.
      NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::HardwareProfile> known,
                           store_->ListProfiles(caller));
      std::vector<std::string> names;
      for (const nas::v1::HardwareProfile& k : known) names.push_back(k.id());
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.profile_ids[", i, "]: ", p.status().message(),
          "; the profiles you may use: ", absl::StrJoin(names, ", "), " (nasctl profiles)"));
    }
    // Pin the exact version so the search's fronts never shift under a re-registration.
    spec.set_profile_ids(i, p->id());
    profiles.push_back(*std::move(p));
  }
  NAS_ASSIGN_OR_RETURN(
      nas::v1::Search search,
      store_->CreateSearch(caller, spec, profiles, /*strategy_state=*/"", warnings));
  observer_.SearchSubmitted(caller, search);
  return RefillBeforeAnswering(caller, search);
}

nas::v1::Search Controller::RefillBeforeAnswering(const Caller& caller,
                                                  const nas::v1::Search& search) {
  // The search is stored either way: if this refill fails, the scheduler's periodic refill
  // queues its candidates, and an error here would only invite the user to send it again.
  if (absl::Status st = scheduler_->Refill(search.id()); !st.ok()) {
    observer_.RefillFailed(search.id(), st);
    scheduler_->MarkDirty(search.id());
  }
  absl::StatusOr<nas::v1::Search> fresh = store_->GetSearch(caller, search.id());
  return fresh.ok() ? *std::move(fresh) : search;
}

absl::StatusOr<nas::v1::Search> Controller::GetSearch(const Caller& caller, int64_t search_id) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", search_id));
  return store_->GetSearch(caller, search_id);
}

absl::StatusOr<nas::v1::ListSearchesResponse> Controller::ListSearches(
    const Caller& caller, const nas::v1::ListSearchesRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateListSearches(request));
  NAS_ASSIGN_OR_RETURN(
      std::vector<nas::v1::Search> searches,
      store_->ListSearches(caller,
                           request.limit() == 0 ? limits::kDefaultListSearches : request.limit(),
                           request.before_id()));
  nas::v1::ListSearchesResponse response;
  for (nas::v1::Search& s : searches) *response.add_searches() = std::move(s);
  return response;
}

absl::StatusOr<nas::v1::Search> Controller::CancelSearch(const Caller& caller, int64_t search_id) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", search_id));
  NAS_ASSIGN_OR_RETURN(nas::v1::Search search, store_->CancelSearch(caller, search_id));
  observer_.SearchCancelled(caller, search_id);
  scheduler_->NotifyChange();
  return search;
}

absl::StatusOr<nas::v1::Search> Controller::ExtendSearch(
    const Caller& caller, const nas::v1::ExtendSearchRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateExtendSearch(request));
  NAS_ASSIGN_OR_RETURN(nas::v1::Search search,
                       store_->ExtendSearch(caller, request.search_id(), request.add_candidates(),
                                            request.add_wall_seconds()));
  observer_.SearchExtended(caller, request, search);
  scheduler_->NotifyChange();
  return RefillBeforeAnswering(caller, search);
}

absl::StatusOr<int64_t> Controller::LatestEventId(const Caller& caller, int64_t search_id) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", search_id));
  return store_->LatestEventId(caller, search_id);
}

absl::StatusOr<std::vector<nas::v1::SearchEvent>> Controller::WatchEvents(const Caller& caller,
                                                                          int64_t search_id,
                                                                          int64_t after_id,
                                                                          absl::Duration wait) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", search_id));
  if (scheduler_->Stopping()) {
    return absl::UnavailableError(absl::StrCat(
        "the controller is shutting down; watch again with after_event_id=", after_id));
  }
  const uint64_t seen = scheduler_->ChangeCount();
  NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::SearchEvent> events,
                       store_->EventsAfter(caller, search_id, after_id, /*limit=*/500));
  if (events.empty()) {
    scheduler_->WaitForChange(seen, wait);
    NAS_ASSIGN_OR_RETURN(events, store_->EventsAfter(caller, search_id, after_id, 500));
  }
  if (events.empty()) return events;
  NAS_ASSIGN_OR_RETURN(nas::v1::Search search, store_->GetSearch(caller, search_id));
  for (nas::v1::SearchEvent& e : events) *e.mutable_search() = search;
  return events;
}

absl::StatusOr<nas::v1::ParetoFront> Controller::GetParetoFront(
    const Caller& caller, const nas::v1::GetParetoFrontRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", request.search_id()));
  if (request.profile_id().empty()) {
    return absl::InvalidArgumentError("profile_id: name one of the search's profiles");
  }
  return store_->GetParetoFront(caller, request.search_id(), request.profile_id());
}

absl::StatusOr<nas::v1::ListCandidatesResponse> Controller::ListCandidates(
    const Caller& caller, nas::v1::ListCandidatesRequest request) {
  NAS_RETURN_IF_ERROR(ValidateListCandidates(request));
  if (request.limit() == 0) request.set_limit(limits::kDefaultListCandidates);
  NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::Candidate> candidates,
                       store_->ListCandidates(caller, request));
  nas::v1::ListCandidatesResponse response;
  for (nas::v1::Candidate& c : candidates) *response.add_candidates() = std::move(c);
  return response;
}

absl::StatusOr<nas::v1::Candidate> Controller::GetCandidate(const Caller& caller,
                                                            int64_t candidate_id) {
  NAS_RETURN_IF_ERROR(RequireId("candidate_id", candidate_id));
  return store_->GetCandidate(caller, candidate_id);
}

absl::StatusOr<std::pair<nas::v1::ModelMetadata, std::string>> Controller::FetchModel(
    const Caller& caller, const nas::v1::FetchModelRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateFetchModel(request));
  return store_->GetArtifact(caller, request.candidate_id(), request.format(),
                             request.profile_id());
}

absl::StatusOr<nas::v1::HardwareProfile> Controller::RegisterHardwareProfile(
    const Caller& caller, const nas::v1::RegisterHardwareProfileRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateRegisterHardwareProfile(request));
  NAS_RETURN_IF_ERROR(ValidateHardwareProfile(request.profile()));
  return store_->RegisterProfile(caller, request.profile());
}

absl::StatusOr<nas::v1::ListHardwareProfilesResponse> Controller::ListHardwareProfiles(
    const Caller& caller) {
  NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::HardwareProfile> profiles,
                       store_->ListProfiles(caller));
  nas::v1::ListHardwareProfilesResponse response;
  for (nas::v1::HardwareProfile& p : profiles) *response.add_profiles() = std::move(p);
  return response;
}

absl::StatusOr<nas::v1::HardwareProfile> Controller::GetHardwareProfile(
    const Caller& caller, const std::string& profile_id) {
  if (profile_id.empty()) return absl::InvalidArgumentError("profile_id: missing");
  return store_->GetProfile(caller, profile_id);
}

// ---- AdminService ---------------------------------------------------------------------------

absl::StatusOr<nas::v1::User> Controller::CreateUser(const Caller& caller,
                                                     const nas::v1::CreateUserRequest& request) {
  NAS_RETURN_IF_ERROR(RequireAdmin(caller));
  NAS_RETURN_IF_ERROR(ValidateCreateUser(request));
  return store_->CreateUser(request.name(), request.admin());
}

absl::StatusOr<nas::v1::ListUsersResponse> Controller::ListUsers(const Caller& caller) {
  NAS_RETURN_IF_ERROR(RequireAdmin(caller));
  NAS_ASSIGN_OR_RETURN(std::vector<nas::v1::User> users, store_->ListUsers());
  nas::v1::ListUsersResponse response;
  for (nas::v1::User& u : users) *response.add_users() = std::move(u);
  return response;
}

absl::StatusOr<nas::v1::CreateTokenResponse> Controller::CreateToken(
    const Caller& caller, const nas::v1::CreateTokenRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateCreateToken(request));
  nas::v1::User user;
  if (request.user_name().empty() || request.user_name() == caller.name) {
    user.set_id(caller.user_id);
    user.set_name(caller.name);
  } else {
    NAS_RETURN_IF_ERROR(RequireAdmin(caller));
    absl::StatusOr<nas::v1::User> found = store_->GetUserByName(request.user_name());
    if (absl::IsNotFound(found.status())) {
      return absl::NotFoundError(absl::StrCat("user_name: ", found.status().message()));
    }
    NAS_RETURN_IF_ERROR(found.status());
    user = *std::move(found);
  }
  const std::string token = NewToken();
  NAS_ASSIGN_OR_RETURN(int64_t id, store_->AddToken(user.id(), Sha256Hex(token), request.label()));
  nas::v1::CreateTokenResponse response;
  response.set_token_id(id);
  response.set_token(token);
  response.set_user_name(user.name());
  return response;
}

absl::Status Controller::RevokeToken(const Caller& caller, int64_t token_id) {
  NAS_RETURN_IF_ERROR(RequireId("token_id", token_id));
  return store_->RevokeToken(caller, token_id);
}

absl::StatusOr<nas::v1::User> Controller::WhoAmI(const Caller& caller) {
  return store_->GetUserByName(caller.name);
}

// ---- TrainerService -------------------------------------------------------------------------

absl::StatusOr<nas::v1::RegisterWorkerResponse> Controller::RegisterWorker(
    const nas::v1::RegisterWorkerRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateRegisterWorker(request));
  NAS_ASSIGN_OR_RETURN(int64_t id, store_->RegisterWorker(request));
  observer_.WorkerRegistered(id, request);
  nas::v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_lease_ttl_ms(absl::ToInt64Milliseconds(scheduler_->options().lease_ttl));
  return response;
}

absl::StatusOr<nas::v1::LeaseWorkResponse> Controller::LeaseWork(
    const nas::v1::LeaseWorkRequest& request, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  NAS_RETURN_IF_ERROR(ValidateLeaseWork(request));
  const absl::Time until = std::min({deadline, absl::Now() + absl::Milliseconds(request.wait_ms()),
                                     absl::Now() + options_.max_lease_wait});
  while (true) {
    const uint64_t seen = scheduler_->ChangeCount();
    NAS_ASSIGN_OR_RETURN(std::optional<nas::v1::LeaseWorkResponse> lease,
                         store_->LeaseNext(request.worker_id(), scheduler_->options().lease_ttl,
                                           request.max_estimates()));
    if (lease.has_value()) {
      observer_.LeaseGranted(*lease, request.worker_id());
      // The search has room for another candidate now.
      scheduler_->MarkDirty(lease->search_id());
      return *std::move(lease);
    }
    const absl::Time now = absl::Now();
    // A controller shutting down answers "no work" so the worker retries elsewhere or later.
    if (now >= until || cancelled() || scheduler_->Stopping()) {
      return nas::v1::LeaseWorkResponse();
    }
    // Other controllers queue work too, so never sleep longer than a second on local news.
    scheduler_->WaitForChange(seen, std::min(until - now, absl::Seconds(1)));
  }
}

absl::StatusOr<nas::v1::HeartbeatResponse> Controller::Heartbeat(
    const nas::v1::HeartbeatRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("lease_id", request.lease_id()));
  absl::StatusOr<absl::Time> expires = store_->Heartbeat(request, scheduler_->options().lease_ttl);
  if (!expires.ok()) return CountFenced(expires.status());
  nas::v1::HeartbeatResponse response;
  response.set_expires_at_ms(absl::ToUnixMillis(*expires));
  if (request.has_progress()) scheduler_->NotifyChange();
  return response;
}

absl::StatusOr<nas::v1::ReportResultResponse> Controller::ReportResult(
    const nas::v1::ReportResultRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateReportResult(request));
  absl::StatusOr<ReportOutcome> reported = reports_.Report(request);
  if (!reported.ok()) return CountFenced(reported.status());
  const ReportOutcome& outcome = *reported;
  if (!outcome.duplicate) {
    observer_.ReportStored(request, outcome);
    scheduler_->MarkDirty(outcome.search_id);
    scheduler_->NotifyChange();
  }
  nas::v1::ReportResultResponse response;
  response.set_duplicate(outcome.duplicate);
  return response;
}

absl::StatusOr<nas::v1::UploadArtifactResponse> Controller::UploadArtifact(
    const nas::v1::UploadArtifactRequest::Header& header, const std::string& data) {
  NAS_RETURN_IF_ERROR(ValidateUploadHeader(header, data));
  // A file that is not what it says it is never reaches the store: ONNX files must pass ONNX's
  // checker (and be int8 QDQ exactly when they say so); TorchScript files are zip archives.
  if (IsOnnxFormat(header.format())) {
    absl::Status checked = CheckOnnxModel(data, header.format());
    if (!checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("upload: ", checked.message()));
    }
  } else if (header.format() == kTorchScript && data.compare(0, 4, "PK\x03\x04") != 0) {
    return absl::InvalidArgumentError(
        "upload: the torchscript file is not a TorchScript archive (no zip header)");
  }
  NAS_RETURN_IF_ERROR(CountFenced(store_->StoreArtifact(header, data)));
  nas::v1::UploadArtifactResponse response;
  response.set_sha256(header.sha256());
  response.set_size_bytes(static_cast<int64_t>(data.size()));
  return response;
}

absl::StatusOr<std::string> Controller::FetchArtifact(
    const nas::v1::FetchArtifactRequest& request) {
  NAS_RETURN_IF_ERROR(ValidateFetchArtifact(request));
  return store_->GetArtifactBySha(request.sha256());
}

absl::Status Controller::CountFenced(absl::Status status) {
  if (ReasonOf(status) == ErrorReason::kLeaseFenced) observer_.LeaseFenced(status);
  return status;
}

absl::Status Controller::ReturnLease(const nas::v1::ReturnLeaseRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("lease_id", request.lease_id()));
  NAS_RETURN_IF_ERROR(CountFenced(store_->ReturnLease(request.worker_id(), request.lease_id())));
  observer_.LeaseReturned(request);
  scheduler_->NotifyChange();
  return absl::OkStatus();
}

absl::Status Controller::PublishRendezvous(const nas::v1::PublishRendezvousRequest& request) {
  NAS_RETURN_IF_ERROR(ValidatePublishRendezvous(request));
  NAS_RETURN_IF_ERROR(CountFenced(
      store_->PublishRendezvous(request.worker_id(), request.lease_id(), request.store_address())));
  observer_.RendezvousPublished(request);
  // Workers waiting for work may now join the gang.
  scheduler_->NotifyChange();
  return absl::OkStatus();
}

}  // namespace nas
