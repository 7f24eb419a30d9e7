// Random secrets and their comparison, from OpenSSL's libcrypto (SHA-256 is common/sha256.h,
// included here because every user of a token also hashes it).
//
//   std::string token = NewToken();          // "nas_" + 64 hex digits
//   std::string stored = Sha256Hex(token);   // what the store keeps
#ifndef NAS_SERVICES_CRYPTO_H_
#define NAS_SERVICES_CRYPTO_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/sha256.h"

namespace nas {

// NewToken() returns a fresh bearer secret with 256 bits from the OS's random source.
std::string NewToken();

// ConstantTimeEquals() compares two strings without leaking where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace nas

#endif  // NAS_SERVICES_CRYPTO_H_
