// The one rule for dataset names, shared by the trainer (nas-trainer --dataset), the
// controller (worker registration) and spec validation (SearchSpec.dataset).
#ifndef NAS_COMMON_DATASET_NAME_H_
#define NAS_COMMON_DATASET_NAME_H_

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace nas {

// The built-in dataset: Fashion-MNIST from Debian's dataset-fashion-mnist package.
inline constexpr absl::string_view kDefaultDataset = "fashion-mnist";

// 1 to 64 of a-z, 0-9, '.', '_' and '-'.
inline bool IsValidDatasetName(absl::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace nas

#endif  // NAS_COMMON_DATASET_NAME_H_
