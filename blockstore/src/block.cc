#include "synapse/blockstore/block.h"

#include <string>

#include "synapse/core/units.h"

namespace synapse::blockstore {

Block Block::make(crypto::Codec codec, core::Bytes data, int version) {
  crypto::Cid cid = crypto::Cid::of(version, codec, data);
  return Block(cid, std::move(data));
}

core::Result<Block> Block::verified(const crypto::Cid& cid, core::Bytes data) {
  if (data.size() > kMaxBlockSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "block " + cid.to_string() + " of " + core::format_size(data.size()) +
                                " exceeds the block size limit of " +
                                core::format_size(kMaxBlockSize));
  }
  if (!cid.matches(data)) {
    return core::make_error(core::ErrorCode::kCorrupt, "data does not match " + cid.to_string());
  }
  return Block(cid, std::move(data));
}

}  // namespace synapse::blockstore
