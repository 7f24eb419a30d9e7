#include "services/crypto.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace nas {

std::string NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Without randomness no secret is safe to hand out; this is not recoverable.
    throw std::runtime_error("RAND_bytes failed");
  }
  return absl::StrCat(
      "nas_", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), 32)));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace nas
