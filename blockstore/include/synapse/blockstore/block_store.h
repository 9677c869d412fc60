// BlockStore: content-addressed block storage with pins, garbage collection and a capacity.
//
// Keys are CIDs compared by content: a CIDv0 and the CIDv1 dag-pb with the same digest name the
// same block. Every read is verified against the CID; a block that fails is removed, counted in
// Stats::corrupt_removed, and reported as kCorrupt (its reference counts stay, so the block is
// still wanted and can be fetched again).
//
// Pins: pin(root) increments the root's pin count and, walking the DAG below the root (dag-pb
// links), the reference count of every block it reaches (once per link). unpin reverses it.
// gc() removes every block whose reference count is zero. remove() refuses referenced blocks.
//
// Capacity: the sum of stored block sizes never exceeds Options::capacity; a put that would
// pass it fails with kStoreFull and stores nothing.
//
// Thread-safety: all methods may be called from any thread concurrently. Every mutating call
// is atomic: after a crash (kill -9 included) the store reopens and holds exactly the effects
// of the calls that returned successfully before the crash, possibly plus the one in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "synapse/blockstore/block.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::blockstore {

struct StoreStats {
  uint64_t blocks = 0;           // number of stored blocks
  uint64_t bytes = 0;            // sum of their sizes
  uint64_t capacity = 0;         // the limit on `bytes`
  uint64_t pinned_roots = 0;     // distinct pinned roots
  uint64_t referenced = 0;       // stored blocks with a reference count above zero
  uint64_t missing = 0;          // referenced blocks that are not stored (to fetch or repair)
  uint64_t corrupt_removed = 0;  // blocks removed because they failed verification, ever
};

struct PinInfo {
  crypto::Cid root;
  uint64_t count;  // how many times it was pinned
};

struct GcResult {
  uint64_t blocks_removed = 0;
  uint64_t bytes_freed = 0;
};

struct VerifyResult {
  uint64_t blocks_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<crypto::Cid> corrupt;  // found corrupt and removed
  uint64_t missing = 0;              // referenced but not stored
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Stores blocks in one atomic step; returns how many were new. Blocks already stored are
  // left as they are. Fails with kStoreFull (nothing stored) if the new ones do not fit.
  virtual core::Result<size_t> put_many(std::span<const Block> blocks) = 0;
  core::Result<size_t> put(const Block& block) { return put_many({&block, 1}); }

  // Returns the verified bytes, kNotFound, or kCorrupt (see above).
  virtual core::Result<core::Bytes> get(const crypto::Cid& cid) = 0;
  virtual core::Result<bool> has(const crypto::Cid& cid) = 0;
  // The stored size without reading the block; kNotFound if absent.
  virtual core::Result<uint64_t> size(const crypto::Cid& cid) = 0;
  // The block's reference count (0 if never referenced); does not need the block stored.
  virtual core::Result<uint64_t> references(const crypto::Cid& cid) = 0;

  // Removes one block; kNotFound if absent, kFailedPrecondition if referenced.
  virtual core::Status remove(const crypto::Cid& cid) = 0;

  // Calls `visit(cid, size)` for every stored block in key order (CIDv1 form) until it returns
  // false. The store is not locked against writers meanwhile; visit must not call the store.
  virtual core::Status for_each(
      const std::function<bool(const crypto::Cid& cid, uint64_t size)>& visit) = 0;

  // See "Pins" above. pin fails with kNotFound (changing nothing) if a block of the DAG is
  // missing, naming it; unpin fails with kNotFound if the root is not pinned.
  virtual core::Status pin(const crypto::Cid& root) = 0;
  virtual core::Status unpin(const crypto::Cid& root) = 0;
  // Pinned roots in key order, in CIDv1 form.
  virtual core::Result<std::vector<PinInfo>> pins() = 0;

  virtual core::Result<GcResult> gc() = 0;
  // Reads and checks every block, removing corrupt ones.
  virtual core::Result<VerifyResult> verify() = 0;
  virtual core::Result<StoreStats> stats() = 0;
};

}  // namespace synapse::blockstore
