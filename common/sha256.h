// SHA-256 as lower-case hex, from OpenSSL's libcrypto: token hashes, artifact digests,
// architecture hashes. One definition for the controller, the workers, nasctl and the tests.
//
//   std::string digest = Sha256Hex(model_file);  // 64 hex digits
#ifndef NAS_COMMON_SHA256_H_
#define NAS_COMMON_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace nas {

// Sha256Hex() returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace nas

#endif  // NAS_COMMON_SHA256_H_
