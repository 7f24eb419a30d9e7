// The checks of each request's own fields, before the controller acts on it (a SearchSpec's are
// in spec_validation.h). Each answers InvalidArgument naming the field; each limit is a named
// constant below that its message quotes, so the check and what it says cannot drift apart.
//
//   NAS_RETURN_IF_ERROR(ValidateRegisterWorker(request));
#ifndef NAS_SERVICES_REQUEST_VALIDATION_H_
#define NAS_SERVICES_REQUEST_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/nas_service.pb.h"
#include "proto/trainer_service.pb.h"

namespace nas {

namespace limits {
// Listing: the most rows one call returns, and the default when the request says 0.
inline constexpr int kMaxListSearches = 1000;
inline constexpr int kDefaultListSearches = 50;
inline constexpr int kMaxListCandidates = 10000;
inline constexpr int kDefaultListCandidates = 100;
// ExtendSearch: the most one call adds.
inline constexpr int64_t kMaxAddCandidates = 100'000;
inline constexpr int64_t kMaxAddWallSeconds = 30 * 24 * 3600;  // 30 days
// Sizes of what users send.
inline constexpr size_t kMaxProfileIdBytes = 200;
inline constexpr size_t kMaxProfileBytes = 4 << 20;  // a registered profile, LUT included
inline constexpr size_t kMaxTokenLabelBytes = 128;
// Workers.
inline constexpr size_t kMaxDeviceTagBytes = 64;
inline constexpr size_t kMaxWorkerNameBytes = 256;  // name and cpu_model
inline constexpr int kMaxWorkerThreads = 4096;
inline constexpr int kMaxWorkerDatasets = 64;
// The most examples a worker may report a dataset to have (ImageNet-22k has 14M).
inline constexpr int64_t kMaxDatasetExamples = 1'000'000'000;
// The most subnet estimates one LeaseWork answer may lease (LeaseWorkRequest.max_estimates).
inline constexpr int kMaxEstimateBatch = 64;
// The epochs a training checkpoint may hold (a recipe's epochs are at most this).
inline constexpr int kMaxCheckpointEpochs = 200;
}  // namespace limits

// RequireId() is OK for a positive id; `field` names it otherwise.
absl::Status RequireId(absl::string_view field, int64_t id);

// NasService and AdminService.
absl::Status ValidateListSearches(const nas::v1::ListSearchesRequest& request);
absl::Status ValidateExtendSearch(const nas::v1::ExtendSearchRequest& request);
absl::Status ValidateListCandidates(const nas::v1::ListCandidatesRequest& request);
absl::Status ValidateFetchModel(const nas::v1::FetchModelRequest& request);
// The request's size and presence; the profile itself is ValidateHardwareProfile()'s.
absl::Status ValidateRegisterHardwareProfile(
    const nas::v1::RegisterHardwareProfileRequest& request);
absl::Status ValidateCreateUser(const nas::v1::CreateUserRequest& request);
absl::Status ValidateCreateToken(const nas::v1::CreateTokenRequest& request);

// TrainerService.
absl::Status ValidateRegisterWorker(const nas::v1::RegisterWorkerRequest& request);
absl::Status ValidateLeaseWork(const nas::v1::LeaseWorkRequest& request);
// The lease, that an outcome is set, and every figure of the metrics: finite and in its range.
absl::Status ValidateReportResult(const nas::v1::ReportResultRequest& request);
// The header of an upload against the `data` that arrived: format, size and SHA-256 (what the
// file holds is checked by the controller, ONNX's checker for ONNX files).
absl::Status ValidateUploadHeader(const nas::v1::UploadArtifactRequest::Header& header,
                                  const std::string& data);
absl::Status ValidatePublishRendezvous(const nas::v1::PublishRendezvousRequest& request);
absl::Status ValidateFetchArtifact(const nas::v1::FetchArtifactRequest& request);

}  // namespace nas

#endif  // NAS_SERVICES_REQUEST_VALIDATION_H_
