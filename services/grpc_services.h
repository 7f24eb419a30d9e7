// The gRPC services: NasService and AdminService for users, TrainerService for workers.
//
// Each unary method is thin: authenticate, check the request's enum fields, call the gRPC-free
// Controller, convert its absl::Status once with ToGrpcStatus(). The two streaming methods
// carry a protocol of their own here: WatchSearch sends a snapshot, then the events from the
// controller until the search ends or the client goes; UploadArtifact assembles the header and
// chunks into one file, within the size limit, before the Controller sees it. Behaviour lives in
// controller.h.
#ifndef NAS_SERVICES_GRPC_SERVICES_H_
#define NAS_SERVICES_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "proto/nas_service.grpc.pb.h"
#include "proto/trainer_service.grpc.pb.h"
#include "services/controller.h"

namespace nas {

// ToGrpcStatus() converts an absl::Status; the codes are numerically the same, and an error
// reason (common/error_reason.h) goes into the status details.
grpc::Status ToGrpcStatus(const absl::Status& status);

class NasServiceImpl final : public nas::v1::NasService::Service {
 public:
  explicit NasServiceImpl(Controller* controller) : controller_(controller) {}

  grpc::Status SubmitSearch(grpc::ServerContext* ctx, const nas::v1::SubmitSearchRequest* req,
                            nas::v1::Search* resp) override;
  grpc::Status GetSearch(grpc::ServerContext* ctx, const nas::v1::GetSearchRequest* req,
                         nas::v1::Search* resp) override;
  grpc::Status ListSearches(grpc::ServerContext* ctx, const nas::v1::ListSearchesRequest* req,
                            nas::v1::ListSearchesResponse* resp) override;
  grpc::Status CancelSearch(grpc::ServerContext* ctx, const nas::v1::CancelSearchRequest* req,
                            nas::v1::Search* resp) override;
  grpc::Status ExtendSearch(grpc::ServerContext* ctx, const nas::v1::ExtendSearchRequest* req,
                            nas::v1::Search* resp) override;
  grpc::Status WatchSearch(grpc::ServerContext* ctx, const nas::v1::WatchSearchRequest* req,
                           grpc::ServerWriter<nas::v1::SearchEvent>* writer) override;
  grpc::Status GetParetoFront(grpc::ServerContext* ctx, const nas::v1::GetParetoFrontRequest* req,
                              nas::v1::ParetoFront* resp) override;
  grpc::Status ListCandidates(grpc::ServerContext* ctx, const nas::v1::ListCandidatesRequest* req,
                              nas::v1::ListCandidatesResponse* resp) override;
  grpc::Status GetCandidate(grpc::ServerContext* ctx, const nas::v1::GetCandidateRequest* req,
                            nas::v1::Candidate* resp) override;
  grpc::Status FetchModel(grpc::ServerContext* ctx, const nas::v1::FetchModelRequest* req,
                          grpc::ServerWriter<nas::v1::FetchModelResponse>* writer) override;
  grpc::Status RegisterHardwareProfile(grpc::ServerContext* ctx,
                                       const nas::v1::RegisterHardwareProfileRequest* req,
                                       nas::v1::HardwareProfile* resp) override;
  grpc::Status ListHardwareProfiles(grpc::ServerContext* ctx,
                                    const nas::v1::ListHardwareProfilesRequest* req,
                                    nas::v1::ListHardwareProfilesResponse* resp) override;
  grpc::Status GetHardwareProfile(grpc::ServerContext* ctx,
                                  const nas::v1::GetHardwareProfileRequest* req,
                                  nas::v1::HardwareProfile* resp) override;

 private:
  Controller* const controller_;
};

class AdminServiceImpl final : public nas::v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(Controller* controller) : controller_(controller) {}

  grpc::Status CreateUser(grpc::ServerContext* ctx, const nas::v1::CreateUserRequest* req,
                          nas::v1::User* resp) override;
  grpc::Status ListUsers(grpc::ServerContext* ctx, const nas::v1::ListUsersRequest* req,
                         nas::v1::ListUsersResponse* resp) override;
  grpc::Status CreateToken(grpc::ServerContext* ctx, const nas::v1::CreateTokenRequest* req,
                           nas::v1::CreateTokenResponse* resp) override;
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const nas::v1::RevokeTokenRequest* req,
                           nas::v1::RevokeTokenResponse* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const nas::v1::WhoAmIRequest* req,
                      nas::v1::User* resp) override;

 private:
  Controller* const controller_;
};

class TrainerServiceImpl final : public nas::v1::TrainerService::Service {
 public:
  explicit TrainerServiceImpl(Controller* controller) : controller_(controller) {}

  grpc::Status RegisterWorker(grpc::ServerContext* ctx, const nas::v1::RegisterWorkerRequest* req,
                              nas::v1::RegisterWorkerResponse* resp) override;
  grpc::Status LeaseWork(grpc::ServerContext* ctx, const nas::v1::LeaseWorkRequest* req,
                         nas::v1::LeaseWorkResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const nas::v1::HeartbeatRequest* req,
                         nas::v1::HeartbeatResponse* resp) override;
  grpc::Status ReportResult(grpc::ServerContext* ctx, const nas::v1::ReportResultRequest* req,
                            nas::v1::ReportResultResponse* resp) override;
  grpc::Status UploadArtifact(grpc::ServerContext* ctx,
                              grpc::ServerReader<nas::v1::UploadArtifactRequest>* reader,
                              nas::v1::UploadArtifactResponse* resp) override;
  grpc::Status ReturnLease(grpc::ServerContext* ctx, const nas::v1::ReturnLeaseRequest* req,
                           nas::v1::ReturnLeaseResponse* resp) override;
  grpc::Status FetchArtifact(grpc::ServerContext* ctx, const nas::v1::FetchArtifactRequest* req,
                             grpc::ServerWriter<nas::v1::FetchArtifactResponse>* writer) override;
  grpc::Status PublishRendezvous(grpc::ServerContext* ctx,
                                 const nas::v1::PublishRendezvousRequest* req,
                                 nas::v1::PublishRendezvousResponse* resp) override;

 private:
  Controller* const controller_;
};

}  // namespace nas

#endif  // NAS_SERVICES_GRPC_SERVICES_H_
