// Pieces shared by the msgpack codecs (dht/src/messages.cc, exchange/src/messages.cc), the only
// files that include it: appending packer output to Bytes, and checked readers of unpacked
// objects that throw DecodeError, which each codec catches before returning a Result.
#pragma once

#include <cstdint>
#include <msgpack.hpp>

#include "synapse/core/bytes.h"

namespace synapse::core::msgpack_codec {

// std::visit with one lambda per alternative.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// msgpack's packer writes into anything with write(); this appends to `out` directly.
class ByteSink {
 public:
  explicit ByteSink(Bytes& out) : out_(out) {}
  void write(const char* data, size_t size) {
    out_.insert(out_.end(), reinterpret_cast<const uint8_t*>(data),
                reinterpret_cast<const uint8_t*>(data) + size);
  }

 private:
  Bytes& out_;
};

// Thrown by the readers below; never leaves the codec file that includes this header.
struct DecodeError {
  const char* what;
};

[[noreturn]] inline void fail(const char* what) { throw DecodeError{what}; }

inline uint64_t as_uint(const msgpack::object& o, uint64_t max = UINT64_MAX) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) fail("expected an unsigned integer");
  if (o.via.u64 > max) fail("integer out of range");
  return o.via.u64;
}

inline bool as_bool(const msgpack::object& o) {
  if (o.type != msgpack::type::BOOLEAN) fail("expected a boolean");
  return o.via.boolean;
}

inline ByteView as_bin(const msgpack::object& o, size_t max) {
  if (o.type != msgpack::type::BIN) fail("expected binary data");
  if (o.via.bin.size > max) fail("binary field over its limit");
  return {reinterpret_cast<const uint8_t*>(o.via.bin.ptr), o.via.bin.size};
}

inline const msgpack::object_array& as_list(const msgpack::object& o, size_t max) {
  if (o.type != msgpack::type::ARRAY) fail("expected an array");
  if (o.via.array.size > max) fail("list over its limit");
  return o.via.array;
}

// For msgpack::unpack: only binary data may point into the input buffer (the codecs copy it
// out before they return).
inline bool reference_bin(msgpack::type::object_type type, std::size_t, void*) {
  return type == msgpack::type::BIN;
}

}  // namespace synapse::core::msgpack_codec
