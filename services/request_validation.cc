#include "services/request_validation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/dataset_name.h"
#include "common/model_format.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "search/weight_sharing.h"

namespace nas {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// "field: 9 is outside 0 to 8" unless lo <= v <= hi.
absl::Status InRange(absl::string_view field, int64_t v, int64_t lo, int64_t hi,
                     absl::string_view note = "") {
  if (v >= lo && v <= hi) return absl::OkStatus();
  return Invalid(field, absl::StrCat(v, " is outside ", lo, " to ", hi, note));
}

absl::Status AtMostBytes(absl::string_view field, const std::string& value, size_t most) {
  if (value.size() <= most) return absl::OkStatus();
  return Invalid(field, absl::StrCat("longer than ", most, " bytes"));
}

// A user's text in an error message: escaped and cut short.
std::string Quoted(const std::string& s, size_t most = 80) {
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, most)), "\"");
}

// Every figure of a worker's report: finite and in its range, each error naming the field.
absl::Status ValidateMetrics(const nas::v1::CandidateMetrics& m) {
  const auto fraction = [](const char* field, double v, bool may_be_unmeasured) {
    if (std::isfinite(v) && ((v >= 0 && v <= 1) || (may_be_unmeasured && v == -1))) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat("metrics.", field, ": ", v, " is not in [0, 1]",
                                                   may_be_unmeasured ? " (or -1)" : ""));
  };
  const auto non_negative = [](const char* field, double v) {
    if (std::isfinite(v) && v >= 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("metrics.", field, ": ", v, " must be finite and >= 0"));
  };
  NAS_RETURN_IF_ERROR(fraction("val_accuracy", m.val_accuracy(), false));
  // -1: not measured; 0 is what a report that left the field out carries.
  NAS_RETURN_IF_ERROR(fraction("test_accuracy", m.test_accuracy(), true));
  if (m.has_int8_val_accuracy()) {
    NAS_RETURN_IF_ERROR(fraction("int8_val_accuracy", m.int8_val_accuracy(), false));
  }
  if (m.has_int8_test_accuracy()) {
    NAS_RETURN_IF_ERROR(fraction("int8_test_accuracy", m.int8_test_accuracy(), true));
  }
  NAS_RETURN_IF_ERROR(non_negative("int8_model_bytes", static_cast<double>(m.int8_model_bytes())));
  NAS_RETURN_IF_ERROR(non_negative("params", static_cast<double>(m.params())));
  NAS_RETURN_IF_ERROR(non_negative("macs", static_cast<double>(m.macs())));
  NAS_RETURN_IF_ERROR(
      non_negative("peak_activation_bytes", static_cast<double>(m.peak_activation_bytes())));
  NAS_RETURN_IF_ERROR(non_negative("model_bytes", static_cast<double>(m.model_bytes())));
  NAS_RETURN_IF_ERROR(non_negative("latency_ms", m.latency_ms()));
  NAS_RETURN_IF_ERROR(non_negative("latency_iqr_ms", m.latency_iqr_ms()));
  NAS_RETURN_IF_ERROR(non_negative("latency_ci_ms", m.latency_ci_ms()));
  NAS_RETURN_IF_ERROR(non_negative("latency_runs", m.latency_runs()));
  NAS_RETURN_IF_ERROR(non_negative("latency_threads", m.latency_threads()));
  NAS_RETURN_IF_ERROR(non_negative("train_seconds", m.train_seconds()));
  NAS_RETURN_IF_ERROR(non_negative("train_loss", m.train_loss()));
  return absl::OkStatus();
}

}  // namespace

absl::Status RequireId(absl::string_view field, int64_t id) {
  if (id > 0) return absl::OkStatus();
  return Invalid(field, absl::StrCat("must be a positive id, got ", id));
}

absl::Status ValidateListSearches(const nas::v1::ListSearchesRequest& request) {
  NAS_RETURN_IF_ERROR(
      InRange("limit", request.limit(), 0, limits::kMaxListSearches,
              absl::StrCat(" (0: the default, ", limits::kDefaultListSearches, ")")));
  if (request.before_id() < 0) return Invalid("before_id", "must be >= 0");
  return absl::OkStatus();
}

absl::Status ValidateExtendSearch(const nas::v1::ExtendSearchRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", request.search_id()));
  NAS_RETURN_IF_ERROR(
      InRange("add_candidates", request.add_candidates(), 0, limits::kMaxAddCandidates));
  return InRange("add_wall_seconds", request.add_wall_seconds(), 0, limits::kMaxAddWallSeconds,
                 " (30 days)");
}

absl::Status ValidateListCandidates(const nas::v1::ListCandidatesRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("search_id", request.search_id()));
  NAS_RETURN_IF_ERROR(
      InRange("limit", request.limit(), 0, limits::kMaxListCandidates,
              absl::StrCat(" (0: the default, ", limits::kDefaultListCandidates, ")")));
  if (!nas::v1::CandidateState_IsValid(request.state())) {
    return Invalid("state", "unknown candidate state");
  }
  return absl::OkStatus();
}

absl::Status ValidateFetchModel(const nas::v1::FetchModelRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("candidate_id", request.candidate_id()));
  if (!request.format().empty() && !IsModelFormat(request.format())) {
    return Invalid("format",
                   absl::StrCat(Quoted(request.format(), 64), " is not ", kModelFormatList));
  }
  return AtMostBytes("profile_id", request.profile_id(), limits::kMaxProfileIdBytes);
}

absl::Status ValidateRegisterHardwareProfile(
    const nas::v1::RegisterHardwareProfileRequest& request) {
  if (!request.has_profile()) return Invalid("profile", "missing");
  if (request.profile().ByteSizeLong() > limits::kMaxProfileBytes) {
    return Invalid("profile", absl::StrCat("larger than ", limits::kMaxProfileBytes >> 20, " MiB"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateUser(const nas::v1::CreateUserRequest& request) {
  if (IsValidName(request.name())) return absl::OkStatus();
  return Invalid("name", absl::StrCat(Quoted(request.name()), " is not ", kNameRule));
}

absl::Status ValidateCreateToken(const nas::v1::CreateTokenRequest& request) {
  return AtMostBytes("label", request.label(), limits::kMaxTokenLabelBytes);
}

absl::Status ValidateRegisterWorker(const nas::v1::RegisterWorkerRequest& request) {
  if (request.device_tag().empty()) return Invalid("device_tag", "missing");
  NAS_RETURN_IF_ERROR(AtMostBytes("device_tag", request.device_tag(), limits::kMaxDeviceTagBytes));
  NAS_RETURN_IF_ERROR(AtMostBytes("name", request.name(), limits::kMaxWorkerNameBytes));
  NAS_RETURN_IF_ERROR(AtMostBytes("cpu_model", request.cpu_model(), limits::kMaxWorkerNameBytes));
  NAS_RETURN_IF_ERROR(InRange("threads", request.threads(), 0, limits::kMaxWorkerThreads));
  NAS_RETURN_IF_ERROR(
      InRange("datasets", request.datasets_size(), 0, limits::kMaxWorkerDatasets, " names"));
  for (int i = 0; i < request.datasets_size(); ++i) {
    if (!IsValidDatasetName(request.datasets(i))) {
      return Invalid(
          absl::StrCat("datasets[", i, "]"),
          absl::StrCat(Quoted(request.datasets(i)), " is not a dataset name (", kNameRule, ")"));
    }
  }
  if (request.dataset_sizes_size() > request.datasets_size()) {
    return Invalid("dataset_sizes", "more than the datasets named");
  }
  for (int i = 0; i < request.dataset_sizes_size(); ++i) {
    const nas::v1::DatasetSize& size = request.dataset_sizes(i);
    const std::string at = absl::StrCat("dataset_sizes[", i, "]");
    if (std::find(request.datasets().begin(), request.datasets().end(), size.name()) ==
        request.datasets().end()) {
      return Invalid(absl::StrCat(at, ".name"),
                     absl::StrCat(Quoted(size.name()), " is not in datasets"));
    }
    NAS_RETURN_IF_ERROR(InRange(absl::StrCat(at, ".train_examples"), size.train_examples(), 0,
                                limits::kMaxDatasetExamples));
    NAS_RETURN_IF_ERROR(InRange(absl::StrCat(at, ".test_examples"), size.test_examples(), 0,
                                limits::kMaxDatasetExamples));
  }
  if (!request.auto_precision().empty() && request.auto_precision() != "fp32" &&
      request.auto_precision() != "bf16") {
    return Invalid("auto_precision", absl::StrCat(Quoted(request.auto_precision(), 40),
                                                  " is neither \"fp32\" nor \"bf16\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateLeaseWork(const nas::v1::LeaseWorkRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("worker_id", request.worker_id()));
  if (request.wait_ms() < 0) return Invalid("wait_ms", "must be >= 0");
  return InRange("max_estimates", request.max_estimates(), 0, limits::kMaxEstimateBatch);
}

absl::Status ValidateReportResult(const nas::v1::ReportResultRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("lease_id", request.lease_id()));
  if (request.outcome_case() == nas::v1::ReportResultRequest::OUTCOME_NOT_SET) {
    return Invalid("outcome", "set metrics or error");
  }
  if (request.has_metrics()) return ValidateMetrics(request.metrics());
  return absl::OkStatus();
}

absl::Status ValidateUploadHeader(const nas::v1::UploadArtifactRequest::Header& header,
                                  const std::string& data) {
  NAS_RETURN_IF_ERROR(RequireId("header.lease_id", header.lease_id()));
  const bool training_checkpoint = header.format() == kTrainingCheckpointFormat;
  if (!IsModelFormat(header.format()) && header.format() != kSupernetCheckpointFormat &&
      !training_checkpoint) {
    return Invalid("header.format",
                   absl::StrCat(Quoted(header.format(), 64), " is not ", kModelFormatList, ", ",
                                kSupernetCheckpointFormat, " or ", kTrainingCheckpointFormat));
  }
  if (training_checkpoint) {
    NAS_RETURN_IF_ERROR(
        InRange("header.metadata.checkpoint_epochs", header.metadata().checkpoint_epochs(), 1,
                limits::kMaxCheckpointEpochs, " (the epochs a training checkpoint holds)"));
  }
  if (header.size_bytes() != static_cast<int64_t>(data.size())) {
    return Invalid("header.size_bytes", absl::StrCat("says ", header.size_bytes(), " but ",
                                                     data.size(), " bytes arrived"));
  }
  const std::string sha = Sha256Hex(data);
  if (sha != header.sha256()) {
    return Invalid("header.sha256",
                   absl::StrCat("the file's SHA-256 is ", sha, ", not ", header.sha256()));
  }
  return absl::OkStatus();
}

absl::Status ValidatePublishRendezvous(const nas::v1::PublishRendezvousRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("lease_id", request.lease_id()));
  const std::string& address = request.store_address();
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535 ||
      address.size() > 255) {
    return Invalid("store_address",
                   absl::StrCat(Quoted(address, 64), " is not host:port (port 1 to 65535)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFetchArtifact(const nas::v1::FetchArtifactRequest& request) {
  NAS_RETURN_IF_ERROR(RequireId("worker_id", request.worker_id()));
  if (request.sha256().size() != 64) return Invalid("sha256", "64 hex digits");
  return absl::OkStatus();
}

}  // namespace nas
