// One spelling of an API enum's value without its type's prefix, everywhere one is shown or
// stored: SEARCH_STATE_RUNNING -> "RUNNING", LATENCY_SOURCE_MEASURED -> "MEASURED" (the
// prefix is the enum type's name in upper snake case, as proto's style guide asks).
//
//   ShortEnumName(search.state())                    // "RUNNING"
//   absl::AsciiStrToLower(ShortEnumName(c.state()))  // "evaluated", as nasctl prints it
#ifndef NAS_COMMON_ENUM_NAMES_H_
#define NAS_COMMON_ENUM_NAMES_H_

#include <google/protobuf/generated_enum_reflection.h>

#include <string>

namespace nas {

// ShortEnumName() is the value's name without "<TYPE_NAME>_"; the number itself for a value the
// enum does not define.
std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int number);

template <typename Enum>
std::string ShortEnumName(Enum value) {
  return ShortEnumName(google::protobuf::GetEnumDescriptor<Enum>(), static_cast<int>(value));
}

}  // namespace nas

#endif  // NAS_COMMON_ENUM_NAMES_H_
