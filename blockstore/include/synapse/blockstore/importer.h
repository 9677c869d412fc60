// Importing a byte stream as a UnixFS file DAG, compatible with the IPFS importers: for the same
// bytes and settings the root CID equals what `ipfs add` / ipfs-unixfs-importer give.
//
// Layout: the stream is cut into fixed-size chunks; each chunk becomes a leaf (a raw block, or
// a dag-pb node holding UnixFS File data); leaves are grouped max_links at a time under dag-pb
// UnixFS File nodes, those again max_links at a time, until one root remains ("balanced"
// layout). A file of one chunk is that leaf itself. Memory use is constant in the input size:
// a bounded pool of chunk buffers plus one pending link list per tree level.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "synapse/blockstore/block.h"
#include "synapse/blockstore/block_store.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"

namespace synapse::blockstore {

struct ImportOptions {
  size_t chunk_size = 256 * 1024;
  bool raw_leaves = true;
  int cid_version = 1;  // of dag-pb nodes; raw leaves are always CIDv1
  size_t max_links = 174;

  // Validates the combination: chunk size 1 B..1 MiB, max_links 2..8192, version 0 only with
  // dag-pb leaves.
  core::Status validate() const;
};

// The named presets:
//   kubo-default  `ipfs add`: CIDv0, dag-pb leaves, 256 KiB chunks, 174 links per node
//   v1-raw-256k   `ipfs add --cid-version=1 --raw-leaves`: 256 KiB chunks, 174 links
//   v1-2025-1MiB  the unixfs-v1-2025 profile: CIDv1, raw leaves, 1 MiB chunks, 1024 links
core::Result<ImportOptions> import_preset(std::string_view name);
const std::vector<std::string_view>& import_preset_names();
inline constexpr std::string_view kDefaultPreset = "v1-raw-256k";

// Builds the interior of the DAG from its leaves, in order; sans-I/O. Not thread-safe.
class DagBuilder {
 public:
  // A finished subtree: what a parent needs to link it.
  struct Node {
    crypto::Cid cid;
    uint64_t file_size;  // bytes of file content below it
    uint64_t tsize;      // bytes of blocks below it, itself included (the link's Tsize)
  };

  explicit DagBuilder(const ImportOptions& options);

  // Makes the leaf block for one chunk (the caller stores it and passes leaf_node() of it to
  // add_leaf). Thread-safe: may run on worker threads while the builder is used elsewhere.
  static Block make_leaf(const ImportOptions& options, core::Bytes chunk);
  static Node leaf_node(const Block& leaf, uint64_t chunk_size);

  // Adds the next leaf; appends any interior nodes completed by it to `out`.
  void add_leaf(const Node& leaf, std::vector<Block>& out);
  // Completes the tree (appending the remaining nodes to `out`) and returns the root. At least
  // one leaf must have been added (an empty file is one empty chunk).
  Node finish(std::vector<Block>& out);

 private:
  void add_at_level(size_t level, const Node& node, std::vector<Block>& out);
  Node reduce(std::vector<Node>& children, std::vector<Block>& out);

  ImportOptions options_;
  std::vector<std::vector<Node>> pending_;  // per level: nodes not yet under a parent
  std::vector<uint64_t> total_;             // per level: nodes ever added
};

struct ImportResult {
  crypto::Cid root;
  uint64_t file_size = 0;
  uint64_t blocks = 0;      // blocks in the DAG (duplicates counted once per occurrence)
  uint64_t new_blocks = 0;  // of those, how many the store did not have yet
};

struct ImportCallbacks {
  // Called on the calling thread after each batch is stored, with the bytes consumed so far.
  std::function<void(uint64_t bytes_done)> progress;
};

// Reads `input` to its end, stores every block in `store` (in atomic batches of up to
// `batch_bytes`) and, if `pin`, pins the root. Chunk hashing runs on `threads` worker
// threads while the calling thread stores. On failure the blocks this call added are removed
// again (unless something else references them meanwhile) and the error is returned.
core::Result<ImportResult> import_file(BlockStore& store, core::SequentialFile& input,
                                       const ImportOptions& options, bool pin,
                                       const ImportCallbacks& callbacks = {}, unsigned threads = 2,
                                       size_t batch_bytes = 8 << 20);

// Imports `data`, which is in memory already, on the calling thread (no worker threads, one
// batch): the same DAG and root as import_file() of the same bytes. For small files, where
// starting threads costs more than hashing.
core::Result<ImportResult> import_bytes(BlockStore& store, core::ByteView data,
                                        const ImportOptions& options, bool pin);

}  // namespace synapse::blockstore
