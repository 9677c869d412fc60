#include "synapse/blockstore/unixfs.h"

#include "protobuf_wire.h"
#include "synapse/blockstore/dag_pb.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;

core::Bytes encode_unixfs(const UnixfsData& data) {
  core::Bytes out;
  wire::append_varint_field(out, 1, static_cast<uint64_t>(data.type));
  if (data.data) wire::append_bytes_field(out, 2, *data.data);
  if (data.filesize) wire::append_varint_field(out, 3, *data.filesize);
  for (uint64_t size : data.blocksizes) wire::append_varint_field(out, 4, size);
  if (data.hash_type) wire::append_varint_field(out, 5, *data.hash_type);
  if (data.fanout) wire::append_varint_field(out, 6, *data.fanout);
  if (data.mode) wire::append_varint_field(out, 7, *data.mode);
  if (data.mtime) wire::append_bytes_field(out, 8, *data.mtime);
  return out;
}

core::Result<UnixfsData> decode_unixfs(core::ByteView in) {
  UnixfsData result;
  bool has_type = false;
  auto add_blocksize = [&](uint64_t size) -> core::Status {
    if (result.blocksizes.size() >= kMaxLinks) {
      return make_error(ErrorCode::kInvalidArgument, "unixfs: too many blocksizes");
    }
    result.blocksizes.push_back(size);
    return core::ok();
  };
  while (!in.empty()) {
    SYNAPSE_ASSIGN_OR_RETURN(wire::Field field, wire::read_field(in));
    const bool is_varint = field.type == wire::kVarint;
    switch (field.number) {
      case 1:
        if (!is_varint || field.varint > static_cast<uint64_t>(UnixfsType::kHamtShard)) {
          return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid Type");
        }
        result.type = static_cast<UnixfsType>(field.varint);
        has_type = true;
        break;
      case 2:
        if (is_varint) return make_error(ErrorCode::kInvalidArgument, "unixfs: Data is not bytes");
        result.data = core::Bytes(field.bytes.begin(), field.bytes.end());
        break;
      case 3:
        if (!is_varint) return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid filesize");
        result.filesize = field.varint;
        break;
      case 4:
        if (is_varint) {
          SYNAPSE_RETURN_IF_ERROR(add_blocksize(field.varint));
        } else {  // packed
          core::ByteView packed = field.bytes;
          while (!packed.empty()) {
            SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, core::read_varint(packed));
            SYNAPSE_RETURN_IF_ERROR(add_blocksize(size));
          }
        }
        break;
      case 5:
        if (!is_varint) return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid hashType");
        result.hash_type = field.varint;
        break;
      case 6:
        if (!is_varint) return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid fanout");
        result.fanout = field.varint;
        break;
      case 7:
        if (!is_varint || field.varint > UINT32_MAX) {
          return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid mode");
        }
        result.mode = static_cast<uint32_t>(field.varint);
        break;
      case 8:
        if (is_varint) return make_error(ErrorCode::kInvalidArgument, "unixfs: invalid mtime");
        result.mtime = core::Bytes(field.bytes.begin(), field.bytes.end());
        break;
      default:
        return make_error(ErrorCode::kInvalidArgument,
                          "unixfs: unknown field " + std::to_string(field.number));
    }
  }
  if (!has_type) return make_error(ErrorCode::kInvalidArgument, "unixfs: missing Type");
  return result;
}

}  // namespace synapse::blockstore
