// Minimal protobuf wire-format helpers shared by the dag-pb and UnixFS codecs (private).
#pragma once

#include <cstdint>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::blockstore::wire {

enum WireType : uint8_t { kVarint = 0, kLengthDelimited = 2 };

inline void append_tag(core::Bytes& out, uint32_t field, WireType type) {
  core::append_varint(out, (static_cast<uint64_t>(field) << 3) | type);
}

inline void append_varint_field(core::Bytes& out, uint32_t field, uint64_t value) {
  append_tag(out, field, kVarint);
  core::append_varint(out, value);
}

inline void append_bytes_field(core::Bytes& out, uint32_t field, core::ByteView bytes) {
  append_tag(out, field, kLengthDelimited);
  core::append_varint(out, bytes.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
}

struct Field {
  uint32_t number = 0;
  WireType type = kVarint;
  uint64_t varint = 0;   // for kVarint
  core::ByteView bytes;  // for kLengthDelimited
};

// Reads one field from the front of `in` and advances past it. Only varint and
// length-delimited fields exist in our messages; other wire types are errors.
inline core::Result<Field> read_field(core::ByteView& in) {
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t tag, core::read_varint(in));
  Field field;
  uint64_t number = tag >> 3;
  if (number == 0 || number > 0x1fffffff) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "protobuf: invalid field number");
  }
  field.number = static_cast<uint32_t>(number);
  switch (tag & 7) {
    case kVarint: {
      field.type = kVarint;
      SYNAPSE_ASSIGN_OR_RETURN(field.varint, core::read_varint(in));
      return field;
    }
    case kLengthDelimited: {
      field.type = kLengthDelimited;
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t length, core::read_varint(in));
      if (length > in.size()) {
        return core::make_error(core::ErrorCode::kInvalidArgument,
                                "protobuf: field length runs past the end");
      }
      field.bytes = in.subspan(0, length);
      in = in.subspan(length);
      return field;
    }
    default:
      return core::make_error(core::ErrorCode::kInvalidArgument,
                              "protobuf: unsupported wire type " + std::to_string(tag & 7));
  }
}

}  // namespace synapse::blockstore::wire
