// SHA-256 and random secrets, from OpenSSL's libcrypto.
//
//   std::string token = NewToken();          // "nas_" + 64 hex digits
//   std::string stored = Sha256Hex(token);   // what the store keeps
#ifndef NAS_SERVICES_CRYPTO_H_
#define NAS_SERVICES_CRYPTO_H_

#include <string>

#include "absl/strings/string_view.h"

namespace nas {

// Sha256Hex() returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// NewToken() returns a fresh bearer secret with 256 bits from the OS's random source.
std::string NewToken();

// ConstantTimeEquals() compares two strings without leaking where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace nas

#endif  // NAS_SERVICES_CRYPTO_H_
