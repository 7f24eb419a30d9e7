#include "search/reference.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/escaping.h"
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

namespace {

// The resolution of `space` nearest `image_size` (the smaller of two as near).
int NearestResolution(const SearchSpaceDef& space, int image_size) {
  int resolution = space.resolutions.front();
  for (int r : space.resolutions) {
    if (std::abs(r - image_size) < std::abs(resolution - image_size)) resolution = r;
  }
  return resolution;
}

std::string PresetNames() {
  std::string names;
  for (const std::string& n : PresetSearchSpaceNames()) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", n);
  }
  return names;
}

}  // namespace

absl::StatusOr<nas::v1::Architecture> ResolveReference(const nas::v1::Reference& reference,
                                                       const SearchSpaceDef& space,
                                                       int image_size) {
  // A normalised reference keeps the preset's name beside its network: the network decides.
  const bool has_arch = reference.has_architecture();
  if (!has_arch && reference.preset().empty()) {
    return absl::InvalidArgumentError("reference: give a preset or an architecture");
  }
  if (has_arch) {
    const nas::v1::Architecture& arch = reference.architecture();
    absl::Status st = ValidateArchitecture(arch, space);
    if (st.ok()) return arch;
    // Of the search's own space (its name), it must lie in it: a narrowed preset is the space.
    if (arch.space() == space.name) {
      return absl::InvalidArgumentError(absl::StrCat("reference.", st.message()));
    }
    nas::v1::SearchSpace family_request;
    family_request.set_name(arch.space());
    absl::StatusOr<SearchSpaceDef> family = ResolveSearchSpace(family_request);
    if (!family.ok() || !family->preset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reference.architecture.space: \"", absl::CHexEscape(arch.space().substr(0, 80)),
          "\" is neither the search space \"", space.name, "\" nor a preset (", PresetNames(),
          ")"));
    }
    st = ValidateArchitecture(arch, *family);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("reference.", st.message()));
    return arch;
  }
  nas::v1::SearchSpace family_request;
  family_request.set_name(reference.preset());
  absl::StatusOr<SearchSpaceDef> family = ResolveSearchSpace(family_request);
  if (!family.ok() || !family->preset) {
    return absl::InvalidArgumentError(absl::StrCat("reference.preset: \"",
                                                   reference.preset().substr(0, 80),
                                                   "\" is not a preset (", PresetNames(), ")"));
  }
  // In the space where it fits there (the strategies then evolve from it), else in its own
  // family at that family's resolution nearest the images.
  absl::StatusOr<nas::v1::Architecture> arch =
      PresetReferenceNetwork(reference.preset(), NearestResolution(space, image_size));
  if (!arch.ok()) return arch.status();
  arch->set_space(space.name);
  absl::Status in_space = ValidateArchitecture(*arch, space);
  if (in_space.ok()) return *arch;
  if (family->name == space.name) {
    // The search's space narrows the preset and leaves its network out.
    return absl::InvalidArgumentError(absl::StrCat("reference.preset: ", reference.preset(),
                                                   "'s network is not in the search space \"",
                                                   space.name, "\" (", in_space.message(),
                                                   "); widen the space to hold it, or give "
                                                   "reference.architecture"));
  }
  arch = PresetReferenceNetwork(reference.preset(), NearestResolution(*family, image_size));
  if (!arch.ok()) return arch.status();
  arch->set_space(family->name);
  absl::Status st = ValidateArchitecture(*arch, *family);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("reference.preset: ", reference.preset(),
                                            "'s network is not in its own family: ", st.message()));
  }
  return *arch;
}

bool InSearchSpace(const nas::v1::Architecture& arch, const SearchSpaceDef& space) {
  return ValidateArchitecture(arch, space).ok();
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
