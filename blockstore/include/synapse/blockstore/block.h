// A block: bytes together with the CID that names them. The invariant cid().matches(data())
// holds for every Block; the two factories are the only ways to make one.
#pragma once

#include <memory>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::blockstore {

// Blocks larger than this are refused everywhere (store, decoders, the wire): 2 MiB, as IPFS's
// bitswap limit, comfortably above the largest chunk size (1 MiB) of any preset.
inline constexpr size_t kMaxBlockSize = 2 * 1024 * 1024;

class Block {
 public:
  // Hashes `data` and names it as CIDv`version` with `codec`.
  static Block make(crypto::Codec codec, core::Bytes data, int version = 1);
  // Wraps bytes that claim to be `cid`: fails with kCorrupt if they do not hash to it, and
  // with kInvalidArgument if they are over kMaxBlockSize.
  static core::Result<Block> verified(const crypto::Cid& cid, core::Bytes data);

  const crypto::Cid& cid() const { return cid_; }
  const core::Bytes& data() const { return data_; }
  core::Bytes release() && { return std::move(data_); }

 private:
  Block(crypto::Cid cid, core::Bytes data) : cid_(cid), data_(std::move(data)) {}
  crypto::Cid cid_;
  core::Bytes data_;
};

}  // namespace synapse::blockstore
