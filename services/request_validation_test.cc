// Each request's field checks without a server or a database: every limit accepted at its
// bound and refused one past it, the message naming the field and quoting the limit.
#include "services/request_validation.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace nas {
namespace {

// The status is InvalidArgument and its message says each of `says`.
void ExpectInvalid(const absl::Status& st, std::initializer_list<std::string> says) {
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  for (const std::string& s : says) EXPECT_TRUE(absl::StrContains(st.message(), s)) << st;
}

TEST(RequestValidationTest, ListingLimitsAtTheirBounds) {
  nas::v1::ListSearchesRequest searches;
  searches.set_limit(limits::kMaxListSearches);
  EXPECT_TRUE(ValidateListSearches(searches).ok());
  searches.set_limit(limits::kMaxListSearches + 1);
  ExpectInvalid(ValidateListSearches(searches), {"limit", "1001 is outside 0 to 1000"});
  searches.set_limit(-1);
  ExpectInvalid(ValidateListSearches(searches), {"limit"});
  searches.set_limit(0);
  searches.set_before_id(-3);
  ExpectInvalid(ValidateListSearches(searches), {"before_id"});

  nas::v1::ListCandidatesRequest candidates;
  candidates.set_search_id(1);
  candidates.set_limit(limits::kMaxListCandidates);
  EXPECT_TRUE(ValidateListCandidates(candidates).ok());
  candidates.set_limit(limits::kMaxListCandidates + 1);
  ExpectInvalid(ValidateListCandidates(candidates), {"limit", "to 10000"});
  candidates.set_limit(0);
  candidates.set_state(static_cast<nas::v1::CandidateState>(99));
  ExpectInvalid(ValidateListCandidates(candidates), {"state"});
  candidates.set_state(nas::v1::CANDIDATE_STATE_UNSPECIFIED);
  candidates.set_search_id(0);
  ExpectInvalid(ValidateListCandidates(candidates), {"search_id", "positive id"});
}

TEST(RequestValidationTest, ExtendSearchBounds) {
  nas::v1::ExtendSearchRequest r;
  r.set_search_id(4);
  r.set_add_candidates(limits::kMaxAddCandidates);
  r.set_add_wall_seconds(limits::kMaxAddWallSeconds);
  EXPECT_TRUE(ValidateExtendSearch(r).ok());
  r.set_add_candidates(limits::kMaxAddCandidates + 1);
  ExpectInvalid(ValidateExtendSearch(r), {"add_candidates", "100001 is outside 0 to 100000"});
  r.set_add_candidates(1);
  r.set_add_wall_seconds(-1);
  ExpectInvalid(ValidateExtendSearch(r), {"add_wall_seconds", "30 days"});
}

TEST(RequestValidationTest, UserFacingNamesAndSizes) {
  nas::v1::CreateUserRequest user;
  user.set_name("carol.b-2");
  EXPECT_TRUE(ValidateCreateUser(user).ok());
  for (const std::string& bad :
       std::vector<std::string>{"", "Carol", "carol b", std::string(65, 'c'), "car\xc3\xb3l"}) {
    user.set_name(bad);
    ExpectInvalid(ValidateCreateUser(user), {"name", "1 to 64 of a-z"});
  }
  nas::v1::CreateTokenRequest token;
  token.set_label(std::string(limits::kMaxTokenLabelBytes, 'x'));
  EXPECT_TRUE(ValidateCreateToken(token).ok());
  token.set_label(std::string(limits::kMaxTokenLabelBytes + 1, 'x'));
  ExpectInvalid(ValidateCreateToken(token), {"label", "128"});

  nas::v1::FetchModelRequest fetch;
  fetch.set_candidate_id(3);
  fetch.set_format("onnx-int8");
  EXPECT_TRUE(ValidateFetchModel(fetch).ok());
  fetch.set_format("tflite");
  ExpectInvalid(ValidateFetchModel(fetch), {"format", "\"tflite\""});
  fetch.set_format("");
  fetch.set_profile_id(std::string(limits::kMaxProfileIdBytes + 1, 'p'));
  ExpectInvalid(ValidateFetchModel(fetch), {"profile_id", "200"});

  nas::v1::RegisterHardwareProfileRequest profile;
  ExpectInvalid(ValidateRegisterHardwareProfile(profile), {"profile", "missing"});
  profile.mutable_profile()->set_description(std::string(limits::kMaxProfileBytes, 'd'));
  ExpectInvalid(ValidateRegisterHardwareProfile(profile), {"profile", "4 MiB"});
}

nas::v1::RegisterWorkerRequest Worker() {
  nas::v1::RegisterWorkerRequest r;
  r.set_device_tag("host-cpu");
  r.set_threads(2);
  r.add_datasets("fashion-mnist");
  nas::v1::DatasetSize* size = r.add_dataset_sizes();
  size->set_name("fashion-mnist");
  size->set_train_examples(60000);
  size->set_test_examples(10000);
  return r;
}

TEST(RequestValidationTest, WorkerRegistration) {
  EXPECT_TRUE(ValidateRegisterWorker(Worker()).ok());
  nas::v1::RegisterWorkerRequest r = Worker();
  r.clear_device_tag();
  ExpectInvalid(ValidateRegisterWorker(r), {"device_tag", "missing"});
  r = Worker();
  r.set_cpu_model(std::string(limits::kMaxWorkerNameBytes + 1, 'c'));
  ExpectInvalid(ValidateRegisterWorker(r), {"cpu_model", "256"});
  r = Worker();
  r.set_threads(limits::kMaxWorkerThreads + 1);
  ExpectInvalid(ValidateRegisterWorker(r), {"threads", "4097 is outside 0 to 4096"});
  r = Worker();
  for (int i = 0; i < limits::kMaxWorkerDatasets; ++i) r.add_datasets(absl::StrCat("d", i));
  ExpectInvalid(ValidateRegisterWorker(r), {"datasets", "65 is outside 0 to 64"});
  r = Worker();
  r.set_datasets(0, "CIFAR 100");
  ExpectInvalid(ValidateRegisterWorker(r), {"datasets[0]", "\"CIFAR 100\""});
  r = Worker();
  r.mutable_dataset_sizes(0)->set_name("cifar10");
  ExpectInvalid(ValidateRegisterWorker(r), {"dataset_sizes[0].name", "not in datasets"});
  r = Worker();
  r.mutable_dataset_sizes(0)->set_test_examples(limits::kMaxDatasetExamples + 1);
  ExpectInvalid(ValidateRegisterWorker(r), {"dataset_sizes[0].test_examples"});
  r = Worker();
  r.set_auto_precision("fp16");
  ExpectInvalid(ValidateRegisterWorker(r), {"auto_precision", "\"fp16\""});
}

TEST(RequestValidationTest, LeasesReportsAndRendezvous) {
  nas::v1::LeaseWorkRequest lease;
  lease.set_worker_id(1);
  lease.set_max_estimates(limits::kMaxEstimateBatch);
  EXPECT_TRUE(ValidateLeaseWork(lease).ok());
  lease.set_max_estimates(limits::kMaxEstimateBatch + 1);
  ExpectInvalid(ValidateLeaseWork(lease), {"max_estimates", "65 is outside 0 to 64"});

  nas::v1::ReportResultRequest report;
  report.set_lease_id(9);
  ExpectInvalid(ValidateReportResult(report), {"outcome"});
  report.mutable_metrics()->set_val_accuracy(0.9);
  report.mutable_metrics()->set_test_accuracy(-1);  // not measured
  EXPECT_TRUE(ValidateReportResult(report).ok());
  report.mutable_metrics()->set_val_accuracy(1.5);
  ExpectInvalid(ValidateReportResult(report), {"metrics.val_accuracy", "not in [0, 1]"});
  report.mutable_metrics()->set_val_accuracy(0.9);
  report.mutable_metrics()->set_latency_ms(-2);
  ExpectInvalid(ValidateReportResult(report), {"metrics.latency_ms"});

  nas::v1::PublishRendezvousRequest rendezvous;
  rendezvous.set_lease_id(2);
  rendezvous.set_store_address("10.0.0.7:29500");
  EXPECT_TRUE(ValidatePublishRendezvous(rendezvous).ok());
  for (const char* bad : {"10.0.0.7", ":29500", "host:0", "host:65536", "host:http"}) {
    rendezvous.set_store_address(bad);
    ExpectInvalid(ValidatePublishRendezvous(rendezvous), {"store_address"});
  }
}

TEST(RequestValidationTest, UploadHeaderAgainstTheBytesThatArrived) {
  const std::string data = "PK\x03\x04 a model";
  nas::v1::UploadArtifactRequest::Header h;
  h.set_lease_id(5);
  h.set_format("torchscript");
  h.set_size_bytes(static_cast<int64_t>(data.size()));
  h.set_sha256(Sha256Hex(data));
  EXPECT_TRUE(ValidateUploadHeader(h, data).ok());
  h.set_size_bytes(3);
  ExpectInvalid(ValidateUploadHeader(h, data), {"header.size_bytes", "says 3"});
  h.set_size_bytes(static_cast<int64_t>(data.size()));
  h.set_sha256(Sha256Hex("other"));
  ExpectInvalid(ValidateUploadHeader(h, data), {"header.sha256"});
  h.set_sha256(Sha256Hex(data));
  h.set_format("training-checkpoint");
  ExpectInvalid(ValidateUploadHeader(h, data), {"header.metadata.checkpoint_epochs"});
  h.mutable_metadata()->set_checkpoint_epochs(limits::kMaxCheckpointEpochs);
  EXPECT_TRUE(ValidateUploadHeader(h, data).ok());
  h.set_format("pickle");
  ExpectInvalid(ValidateUploadHeader(h, data), {"header.format", "\"pickle\""});
}

}  // namespace
}  // namespace nas
