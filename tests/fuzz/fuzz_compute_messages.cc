// Fuzzes the jobs' wire formats: coordinator/worker messages (the bodies of exchange calls)
// and resource adverts (DHT values). Decoding must never crash or throw, errors are
// kInvalidArgument only, and whatever decodes must encode to bytes that decode again to the
// same encoding (encoding is canonical: strings cut, doubles of integral value as integers).
#include <cstddef>
#include <cstdint>

#include "synapse/compute/advert.h"
#include "synapse/compute/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synapse;
  const core::ByteView input(data, size);
  if (auto message = compute::decode_message(input)) {
    const core::Bytes bytes = compute::encode_message(*message);
    auto again = compute::decode_message(bytes);
    if (!again || again->index() != message->index()) __builtin_trap();
    if (compute::encode_message(*again) != bytes) __builtin_trap();
  } else if (message.error().code() != core::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }
  if (auto advert = compute::decode_advert(input)) {
    const core::Bytes bytes = compute::encode_advert(*advert);
    if (bytes.size() > compute::kMaxAdvertSize) __builtin_trap();
    auto again = compute::decode_advert(bytes);
    if (!again || compute::encode_advert(*again) != bytes) __builtin_trap();
  } else if (advert.error().code() != core::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }
  return 0;
}
