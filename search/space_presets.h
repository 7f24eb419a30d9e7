// Internal to the search_space library: the presets and the width arithmetic they share with
// spaces users write. Not part of the API (search_space.h is).
#ifndef NAS_SEARCH_SPACE_PRESETS_H_
#define NAS_SEARCH_SPACE_PRESETS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "search/search_space.h"

namespace nas {

// The preset named `name`, resolved (preset = true); NotFound for another name.
absl::StatusOr<SearchSpaceDef> PresetSpace(const std::string& name);

// `v` sorted, duplicates removed.
std::vector<int> SortedDistinct(std::vector<int> v);

// Width of `base` at `percent`, rounded to a multiple of 8 (hardware-friendly), at least 8.
int ScaledWidth(int base, int percent);

// The distinct widths of `base` at each of `percents`, sorted.
std::vector<int> WidthsOf(int base, const std::vector<int>& percents);

}  // namespace nas

#endif  // NAS_SEARCH_SPACE_PRESETS_H_
