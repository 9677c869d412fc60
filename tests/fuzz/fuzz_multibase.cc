// Fuzzes the multibase codecs. Decoding is canonical (every accepted text is what the encoder
// writes for the decoded bytes), and encoding any bytes decodes back to them.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "synapse/crypto/multibase.h"

namespace {

// Botan's base58 is quadratic in the input length; callers bound it (a CID is at most 128
// characters), so the fuzzer does too.
constexpr size_t kMaxBase58Size = 256;

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synapse;
  core::ByteView input(data, size);
  std::string_view text = core::as_chars(input);

  if (auto decoded = crypto::base32_lower_decode(text)) {
    check(crypto::base32_lower_encode(*decoded) == text);
  }
  auto base32 = crypto::base32_lower_decode(crypto::base32_lower_encode(input));
  check(base32.has_value() &&
        std::equal(base32->begin(), base32->end(), input.begin(), input.end()));

  if (size <= kMaxBase58Size) {
    if (auto decoded = crypto::base58btc_decode(text)) {
      check(crypto::base58btc_encode(*decoded) == text);
    }
    auto base58 = crypto::base58btc_decode(crypto::base58btc_encode(input));
    check(base58.has_value() &&
          std::equal(base58->begin(), base58->end(), input.begin(), input.end()));
  }
  return 0;
}
