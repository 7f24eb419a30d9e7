// The one rule for dataset names, shared by the trainer (nas-trainer --dataset), the
// controller (worker registration) and spec validation (SearchSpec.dataset).
#ifndef NAS_COMMON_DATASET_NAME_H_
#define NAS_COMMON_DATASET_NAME_H_

#include "absl/strings/string_view.h"
#include "common/names.h"

namespace nas {

// The built-in dataset: Fashion-MNIST from Debian's dataset-fashion-mnist package.
inline constexpr absl::string_view kDefaultDataset = "fashion-mnist";

// A dataset's name follows the one rule of names (common/names.h).
inline bool IsValidDatasetName(absl::string_view name) { return IsValidName(name); }

}  // namespace nas

#endif  // NAS_COMMON_DATASET_NAME_H_
