// Sizes for people, one spelling everywhere nasctl prints one: tables, fetch lines, plot axes.
#ifndef NAS_CLI_UNITS_H_
#define NAS_CLI_UNITS_H_

#include <cstdint>
#include <string>

namespace nas {

// Bytes() is a size for people in binary units: "512 B", "40.0 KiB", "4.4 MiB", "1.2 GiB".
std::string Bytes(int64_t b);

}  // namespace nas

#endif  // NAS_CLI_UNITS_H_
