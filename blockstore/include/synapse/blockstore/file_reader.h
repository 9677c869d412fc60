// Reading a UnixFS file (or a raw block) back from its root CID.
//
// A read of a byte range descends only into the subtrees that overlap it, using the blocksizes
// recorded in each node, so it fetches only the blocks holding the range plus their ancestors.
// Every block comes from BlockStore::get and is therefore verified; a DAG whose sizes do not
// add up is reported as kCorrupt. Not thread-safe; a FileReader borrows its store.
#pragma once

#include <functional>
#include <optional>

#include "synapse/blockstore/block_store.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::blockstore {

class FileReader {
 public:
  // Receives consecutive pieces of the requested range; an error stops the read.
  using Sink = std::function<core::Status(core::ByteView piece)>;

  // Fails with kNotFound if the root is not stored, kInvalidArgument if it is not a file
  // (a directory, a symlink, a HAMT shard), kCorrupt if it does not decode.
  static core::Result<FileReader> open(BlockStore& store, const crypto::Cid& root);

  uint64_t size() const { return size_; }

  // Delivers bytes [offset, offset + length) clipped to the file's end to `sink`, on the
  // calling thread. With read_ahead > 0, worker threads (two, for the duration of the call)
  // fetch and verify up to `read_ahead` blocks ahead of the one being delivered: for long
  // sequential reads, where it overlaps the hashing of several blocks.
  core::Status read(uint64_t offset, uint64_t length, const Sink& sink,
                    unsigned read_ahead = 0) const;

 private:
  // DAGs deeper than this are refused (a balanced DAG of 174-link nodes is 5 deep at 100 TiB).
  static constexpr int kMaxDepth = 32;

  FileReader(BlockStore& store, crypto::Cid root, uint64_t size)
      : store_(&store), root_(root), size_(size) {}

  class Prefetcher;
  struct Range {
    uint64_t begin;
    uint64_t end;
    unsigned read_ahead;
  };

  // Delivers the part of `range` below the node `cid`, whose content starts at file offset
  // `node_start` and holds `node_size` bytes. `bytes` are the node's block if already fetched.
  core::Status read_node(const crypto::Cid& cid, std::optional<core::Bytes> bytes,
                         uint64_t node_start, uint64_t node_size, const Range& range, int depth,
                         const Sink& sink, Prefetcher* prefetcher) const;

  BlockStore* store_;
  crypto::Cid root_;
  uint64_t size_;
};

}  // namespace synapse::blockstore
