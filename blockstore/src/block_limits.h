// Checks shared by the BlockStore implementations (private).
#pragma once

#include <span>

#include "synapse/blockstore/block.h"
#include "synapse/core/units.h"

namespace synapse::blockstore::internal {

// kInvalidArgument naming the first block over kMaxBlockSize, if any.
inline core::Status check_block_sizes(std::span<const Block> blocks) {
  for (const Block& block : blocks) {
    if (block.data().size() > kMaxBlockSize) {
      return core::make_error(
          core::ErrorCode::kInvalidArgument,
          "block " + block.cid().to_string() + " of " + core::format_size(block.data().size()) +
              " exceeds the block size limit of " + core::format_size(kMaxBlockSize));
    }
  }
  return core::ok();
}

}  // namespace synapse::blockstore::internal
