// The one rule for the names people give things: users, datasets, hardware profiles and their
// device tags, search spaces. ASCII whatever the process's locale, so a name that one process
// accepts every other accepts too.
#ifndef NAS_COMMON_NAMES_H_
#define NAS_COMMON_NAMES_H_

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace nas {

// The rule, for error messages: "1 to 64 of a-z, 0-9, '.', '_' and '-'".
inline constexpr absl::string_view kNameRule = "1 to 64 of a-z, 0-9, '.', '_' and '-'";

// IsValidName() is true for 1 to 64 of a-z, 0-9, '.', '_' and '-'.
inline bool IsValidName(absl::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace nas

#endif  // NAS_COMMON_NAMES_H_
