#include "search/reference.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace nas {
namespace {

double Ratio(double reference, double candidate) {
  return candidate > 0 && reference > 0 ? reference / candidate : 0;
}

}  // namespace

absl::StatusOr<nas::v1::Architecture> PresetReferenceNetwork(const std::string& preset,
                                                             int resolution) {
  nas::v1::SearchSpace request;
  request.set_name(preset);
  absl::StatusOr<SearchSpaceDef> space = ResolveSearchSpace(request);
  if (!space.ok() || !space->preset) {
    return absl::NotFoundError(absl::StrCat("no preset \"", preset, "\""));
  }
  nas::v1::Architecture arch = LargestArchitecture(*space);
  arch.set_resolution(resolution);
  if (preset == "mobilenetv2-1.0") {
    for (int s = 0; s < arch.stages_size(); ++s) {
      for (nas::v1::Block& b : *arch.mutable_stages(s)->mutable_blocks()) {
        b.set_kernel(3);
        b.set_expansion(s == 0 ? 1 : 6);
        b.set_squeeze_excite(false);
      }
    }
  }
  return arch;
}

absl::StatusOr<nas::v1::Architecture> ResolveReference(const nas::v1::Reference& reference,
                                                       const SearchSpaceDef& space,
                                                       int image_size) {
  // A normalised reference keeps the preset's name beside its network: the network decides.
  const bool has_arch = reference.has_architecture();
  if (!has_arch && reference.preset().empty()) {
    return absl::InvalidArgumentError("reference: give a preset or an architecture");
  }
  if (has_arch) {
    absl::Status st = ValidateArchitecture(reference.architecture(), space);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("reference.", st.message()));
    }
    return reference.architecture();
  }
  // The space's resolution nearest the dataset's images (the smaller of two as near).
  int resolution = space.resolutions.front();
  for (int r : space.resolutions) {
    if (std::abs(r - image_size) < std::abs(resolution - image_size)) resolution = r;
  }
  absl::StatusOr<nas::v1::Architecture> arch = PresetReferenceNetwork(reference.preset(), resolution);
  if (!arch.ok()) {
    std::string names;
    for (const std::string& n : PresetSearchSpaceNames()) absl::StrAppend(&names, names.empty() ? "" : ", ", n);
    return absl::InvalidArgumentError(absl::StrCat("reference.preset: \"",
                                                   reference.preset().substr(0, 80),
                                                   "\" is not a preset (", names, ")"));
  }
  arch->set_space(space.name);
  absl::Status st = ValidateArchitecture(*arch, space);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reference.preset: ", reference.preset(), "'s network is not in the search space \"",
        space.name, "\" (", st.message(), "); search the ", reference.preset(),
        " preset, or a space holding it, or give reference.architecture"));
  }
  return *arch;
}

nas::v1::ReferenceComparison CompareWithReference(const nas::v1::Candidate& candidate,
                                                  const nas::v1::Candidate& reference) {
  nas::v1::ReferenceComparison vs;
  const nas::v1::CandidateMetrics& c = candidate.metrics();
  const nas::v1::CandidateMetrics& r = reference.metrics();
  vs.set_reference_candidate_id(reference.id());
  vs.set_params_ratio(Ratio(r.params(), c.params()));
  vs.set_macs_ratio(Ratio(r.macs(), c.macs()));
  vs.set_model_bytes_ratio(Ratio(r.model_bytes(), c.model_bytes()));
  vs.set_int8_model_bytes_ratio(Ratio(r.int8_model_bytes(), c.int8_model_bytes()));
  vs.set_peak_activation_ratio(Ratio(r.peak_activation_bytes(), c.peak_activation_bytes()));
  vs.set_val_accuracy_delta(c.val_accuracy() - r.val_accuracy());
  if (c.test_accuracy() >= 0 && r.test_accuracy() >= 0) {
    vs.set_test_accuracy_delta(c.test_accuracy() - r.test_accuracy());
  }
  for (const nas::v1::ProfileMetrics& cp : candidate.profile_metrics()) {
    for (const nas::v1::ProfileMetrics& rp : reference.profile_metrics()) {
      if (cp.profile_id() == rp.profile_id() && cp.latency_ms() > 0 && rp.latency_ms() > 0) {
        (*vs.mutable_latency_ratio())[cp.profile_id()] = rp.latency_ms() / cp.latency_ms();
      }
    }
  }
  return vs;
}

}  // namespace nas
