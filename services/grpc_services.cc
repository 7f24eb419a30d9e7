#include "services/grpc_services.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_reason.h"
#include "common/status_macros.h"
#include "services/request_checks.h"

namespace nas {
namespace {

// Chunks of streamed model files.
constexpr size_t kChunkBytes = 1 << 20;

std::string Authorization(const grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

absl::Time Deadline(const grpc::ServerContext* ctx) {
  const auto deadline = ctx->deadline();
  // A call without a deadline carries the clock's maximum, which absl cannot represent.
  if (deadline > std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

// Authenticates the user, checks the request's enum fields, then answers with fn(caller).
template <typename T, typename Fn>
grpc::Status AsUser(grpc::ServerContext* ctx, const google::protobuf::Message& request,
                    Controller* controller, T* response, Fn fn) {
  absl::StatusOr<Caller> caller = controller->AuthenticateUser(Authorization(ctx));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status st = CheckEnumValues(request); !st.ok()) return ToGrpcStatus(st);
  return Reply<T>(fn(*caller), response);
}

// Authenticates the worker, checks the request's enum fields, then answers with fn().
template <typename T, typename Fn>
grpc::Status AsWorker(grpc::ServerContext* ctx, const google::protobuf::Message& request,
                      Controller* controller, T* response, Fn fn) {
  absl::Status auth = controller->AuthenticateWorker(Authorization(ctx));
  if (!auth.ok()) return ToGrpcStatus(auth);
  if (absl::Status st = CheckEnumValues(request); !st.ok()) return ToGrpcStatus(st);
  return Reply<T>(fn(), response);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // A reason (a fenced lease, a quarantined worker) travels in the status details.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      StatusDetails(status));
}

// ---- NasService -----------------------------------------------------------------------------

grpc::Status NasServiceImpl::SubmitSearch(grpc::ServerContext* ctx,
                                          const nas::v1::SubmitSearchRequest* req,
                                          nas::v1::Search* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->SubmitSearch(c, *req); });
}

grpc::Status NasServiceImpl::GetSearch(grpc::ServerContext* ctx,
                                       const nas::v1::GetSearchRequest* req,
                                       nas::v1::Search* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->GetSearch(c, req->search_id()); });
}

grpc::Status NasServiceImpl::ListSearches(grpc::ServerContext* ctx,
                                          const nas::v1::ListSearchesRequest* req,
                                          nas::v1::ListSearchesResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->ListSearches(c, *req); });
}

grpc::Status NasServiceImpl::CancelSearch(grpc::ServerContext* ctx,
                                          const nas::v1::CancelSearchRequest* req,
                                          nas::v1::Search* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->CancelSearch(c, req->search_id()); });
}

grpc::Status NasServiceImpl::ExtendSearch(grpc::ServerContext* ctx,
                                          const nas::v1::ExtendSearchRequest* req,
                                          nas::v1::Search* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->ExtendSearch(c, *req); });
}

grpc::Status NasServiceImpl::WatchSearch(grpc::ServerContext* ctx,
                                         const nas::v1::WatchSearchRequest* req,
                                         grpc::ServerWriter<nas::v1::SearchEvent>* writer) {
  absl::StatusOr<Caller> caller = controller_->AuthenticateUser(Authorization(ctx));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  int64_t after = req->after_event_id();
  if (after == 0) {
    // The newest event id first, then the snapshot: nothing that happens between is lost.
    absl::StatusOr<int64_t> latest = controller_->LatestEventId(*caller, req->search_id());
    if (!latest.ok()) return ToGrpcStatus(latest.status());
    after = *latest;
    absl::StatusOr<nas::v1::Search> search = controller_->GetSearch(*caller, req->search_id());
    if (!search.ok()) return ToGrpcStatus(search.status());
    nas::v1::SearchEvent snapshot;
    snapshot.set_kind(nas::v1::SEARCH_EVENT_KIND_SNAPSHOT);
    *snapshot.mutable_search() = *search;
    snapshot.set_message(
        absl::StrCat("search ", search->id(), " is ", nas::v1::SearchState_Name(search->state())));
    if (!writer->Write(snapshot)) return grpc::Status::OK;
    if (search->state() != nas::v1::SEARCH_STATE_RUNNING) return grpc::Status::OK;
  }
  while (!ctx->IsCancelled()) {
    absl::StatusOr<std::vector<nas::v1::SearchEvent>> events =
        controller_->WatchEvents(*caller, req->search_id(), after, absl::Seconds(1));
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const nas::v1::SearchEvent& e : *events) {
      after = e.event_id();
      if (!writer->Write(e)) return grpc::Status::OK;
      if (e.kind() == nas::v1::SEARCH_EVENT_KIND_SEARCH_ENDED) return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
}

grpc::Status NasServiceImpl::GetParetoFront(grpc::ServerContext* ctx,
                                            const nas::v1::GetParetoFrontRequest* req,
                                            nas::v1::ParetoFront* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->GetParetoFront(c, *req); });
}

grpc::Status NasServiceImpl::ListCandidates(grpc::ServerContext* ctx,
                                            const nas::v1::ListCandidatesRequest* req,
                                            nas::v1::ListCandidatesResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->ListCandidates(c, *req); });
}

grpc::Status NasServiceImpl::GetCandidate(grpc::ServerContext* ctx,
                                          const nas::v1::GetCandidateRequest* req,
                                          nas::v1::Candidate* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->GetCandidate(c, req->candidate_id()); });
}

grpc::Status NasServiceImpl::FetchModel(grpc::ServerContext* ctx,
                                        const nas::v1::FetchModelRequest* req,
                                        grpc::ServerWriter<nas::v1::FetchModelResponse>* writer) {
  absl::StatusOr<Caller> caller = controller_->AuthenticateUser(Authorization(ctx));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::pair<nas::v1::ModelMetadata, std::string>> model =
      controller_->FetchModel(*caller, *req);
  if (!model.ok()) return ToGrpcStatus(model.status());
  nas::v1::FetchModelResponse head;
  *head.mutable_metadata() = model->first;
  if (!writer->Write(head)) return grpc::Status::OK;
  const std::string& data = model->second;
  for (size_t offset = 0; offset < data.size(); offset += kChunkBytes) {
    nas::v1::FetchModelResponse chunk;
    chunk.set_chunk(data.substr(offset, kChunkBytes));
    if (!writer->Write(chunk)) return grpc::Status::OK;
  }
  return grpc::Status::OK;
}

grpc::Status NasServiceImpl::RegisterHardwareProfile(
    grpc::ServerContext* ctx, const nas::v1::RegisterHardwareProfileRequest* req,
    nas::v1::HardwareProfile* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->RegisterHardwareProfile(c, *req); });
}

grpc::Status NasServiceImpl::ListHardwareProfiles(grpc::ServerContext* ctx,
                                                  const nas::v1::ListHardwareProfilesRequest* req,
                                                  nas::v1::ListHardwareProfilesResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->ListHardwareProfiles(c); });
}

grpc::Status NasServiceImpl::GetHardwareProfile(grpc::ServerContext* ctx,
                                                const nas::v1::GetHardwareProfileRequest* req,
                                                nas::v1::HardwareProfile* resp) {
  return AsUser(ctx, *req, controller_, resp, [&](const Caller& c) {
    return controller_->GetHardwareProfile(c, req->profile_id());
  });
}

// ---- AdminService ---------------------------------------------------------------------------

grpc::Status AdminServiceImpl::CreateUser(grpc::ServerContext* ctx,
                                          const nas::v1::CreateUserRequest* req,
                                          nas::v1::User* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->CreateUser(c, *req); });
}

grpc::Status AdminServiceImpl::ListUsers(grpc::ServerContext* ctx,
                                         const nas::v1::ListUsersRequest* req,
                                         nas::v1::ListUsersResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->ListUsers(c); });
}

grpc::Status AdminServiceImpl::CreateToken(grpc::ServerContext* ctx,
                                           const nas::v1::CreateTokenRequest* req,
                                           nas::v1::CreateTokenResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->CreateToken(c, *req); });
}

grpc::Status AdminServiceImpl::RevokeToken(grpc::ServerContext* ctx,
                                           const nas::v1::RevokeTokenRequest* req,
                                           nas::v1::RevokeTokenResponse* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) -> absl::StatusOr<nas::v1::RevokeTokenResponse> {
                  absl::Status st = controller_->RevokeToken(c, req->token_id());
                  if (!st.ok()) return st;
                  return nas::v1::RevokeTokenResponse();
                });
}

grpc::Status AdminServiceImpl::WhoAmI(grpc::ServerContext* ctx, const nas::v1::WhoAmIRequest* req,
                                      nas::v1::User* resp) {
  return AsUser(ctx, *req, controller_, resp,
                [&](const Caller& c) { return controller_->WhoAmI(c); });
}

// ---- TrainerService -------------------------------------------------------------------------

grpc::Status TrainerServiceImpl::RegisterWorker(grpc::ServerContext* ctx,
                                                const nas::v1::RegisterWorkerRequest* req,
                                                nas::v1::RegisterWorkerResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp, [&] { return controller_->RegisterWorker(*req); });
}

grpc::Status TrainerServiceImpl::LeaseWork(grpc::ServerContext* ctx,
                                           const nas::v1::LeaseWorkRequest* req,
                                           nas::v1::LeaseWorkResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp, [&] {
    return controller_->LeaseWork(*req, Deadline(ctx), [ctx] { return ctx->IsCancelled(); });
  });
}

grpc::Status TrainerServiceImpl::Heartbeat(grpc::ServerContext* ctx,
                                           const nas::v1::HeartbeatRequest* req,
                                           nas::v1::HeartbeatResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp, [&] { return controller_->Heartbeat(*req); });
}

grpc::Status TrainerServiceImpl::ReportResult(grpc::ServerContext* ctx,
                                              const nas::v1::ReportResultRequest* req,
                                              nas::v1::ReportResultResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp, [&] { return controller_->ReportResult(*req); });
}

grpc::Status TrainerServiceImpl::UploadArtifact(
    grpc::ServerContext* ctx, grpc::ServerReader<nas::v1::UploadArtifactRequest>* reader,
    nas::v1::UploadArtifactResponse* resp) {
  // The stream's first message is checked as it is read, not before.
  return AsWorker(
      ctx, nas::v1::UploadArtifactRequest(), controller_, resp,
      [&]() -> absl::StatusOr<nas::v1::UploadArtifactResponse> {
        nas::v1::UploadArtifactRequest msg;
        if (!reader->Read(&msg) || !msg.has_header()) {
          return absl::InvalidArgumentError(
              "header: the first message of an upload must be its header");
        }
        NAS_RETURN_IF_ERROR(CheckEnumValues(msg));
        const nas::v1::UploadArtifactRequest::Header header = msg.header();
        const int64_t limit = controller_->options().max_artifact_bytes;
        if (header.size_bytes() < 0 || header.size_bytes() > limit) {
          return absl::ResourceExhaustedError(
              absl::StrCat("header.size_bytes: ", header.size_bytes(), " is outside 0 to ", limit));
        }
        std::string data;
        data.reserve(header.size_bytes());
        while (reader->Read(&msg)) {
          if (msg.has_header()) {
            return absl::InvalidArgumentError("header: sent twice");
          }
          if (static_cast<int64_t>(data.size() + msg.chunk().size()) > header.size_bytes()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "chunk: more bytes than header.size_bytes (", header.size_bytes(), ")"));
          }
          data += msg.chunk();
        }
        return controller_->UploadArtifact(header, data);
      });
}

grpc::Status TrainerServiceImpl::FetchArtifact(
    grpc::ServerContext* ctx, const nas::v1::FetchArtifactRequest* req,
    grpc::ServerWriter<nas::v1::FetchArtifactResponse>* writer) {
  absl::Status auth = controller_->AuthenticateWorker(Authorization(ctx));
  if (!auth.ok()) return ToGrpcStatus(auth);
  absl::StatusOr<std::string> data = controller_->FetchArtifact(*req);
  if (!data.ok()) return ToGrpcStatus(data.status());
  size_t offset = 0;
  do {
    nas::v1::FetchArtifactResponse chunk;
    if (offset == 0) chunk.set_size_bytes(static_cast<int64_t>(data->size()));
    chunk.set_chunk(data->substr(offset, kChunkBytes));
    if (!writer->Write(chunk)) return grpc::Status::OK;
    offset += kChunkBytes;
  } while (offset < data->size());
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::ReturnLease(grpc::ServerContext* ctx,
                                             const nas::v1::ReturnLeaseRequest* req,
                                             nas::v1::ReturnLeaseResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp,
                  [&]() -> absl::StatusOr<nas::v1::ReturnLeaseResponse> {
                    absl::Status st = controller_->ReturnLease(*req);
                    if (!st.ok()) return st;
                    return nas::v1::ReturnLeaseResponse();
                  });
}

grpc::Status TrainerServiceImpl::PublishRendezvous(grpc::ServerContext* ctx,
                                                   const nas::v1::PublishRendezvousRequest* req,
                                                   nas::v1::PublishRendezvousResponse* resp) {
  return AsWorker(ctx, *req, controller_, resp,
                  [&]() -> absl::StatusOr<nas::v1::PublishRendezvousResponse> {
                    absl::Status st = controller_->PublishRendezvous(*req);
                    if (!st.ok()) return st;
                    return nas::v1::PublishRendezvousResponse();
                  });
}

}  // namespace nas
