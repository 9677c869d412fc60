// StagedFile: the content of one file while it is open, as a committed base (a DAG in the
// block store) overlaid with the chunks written since, which live in a local scratch file.
//
// Copy-on-write at chunk granularity: the first write into a chunk copies the base's bytes of
// that chunk into the scratch file. Committing re-chunks the whole content with the same chunk
// size, so unchanged chunks produce the same blocks and only changed chunks are new in the
// store.
//
// Streaming: a file written from empty, front to back (cp, dd, tar, an editor's save), never
// touches the scratch file. Each full chunk becomes a leaf block at once (stored in batches,
// unpinned until the commit pins the root), only the last partial chunk stays in memory, and
// the commit just completes the DAG: the same DAG, and root, as importing the same bytes. Any
// other write or a truncation first moves what was streamed into the scratch file.
//
// Not thread-safe: the FileSystem serialises access per file.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "synapse/blockstore/block_store.h"
#include "synapse/blockstore/file_reader.h"
#include "synapse/blockstore/importer.h"
#include "synapse/core/env.h"

namespace synapse::fs {

class StagedFile {
 public:
  ~StagedFile();
  // `base` must be stored completely (or be nullopt for an empty file).
  static core::Result<std::unique_ptr<StagedFile>> open(blockstore::BlockStore& store,
                                                        core::Env& env,
                                                        const std::filesystem::path& scratch_dir,
                                                        const std::optional<crypto::Cid>& base,
                                                        const blockstore::ImportOptions& options);

  uint64_t size() const { return size_; }
  // True when something was written or truncated since open or the last rebase().
  bool dirty() const { return dirty_; }

  core::Result<size_t> read(uint64_t offset, std::span<uint8_t> out);
  core::Status write(uint64_t offset, std::span<const uint8_t> data);
  core::Status truncate(uint64_t size);

  // A stream of the whole content, front to back, for the importer. Valid while this object
  // is and nothing writes to it.
  std::unique_ptr<core::SequentialFile> content();
  // The content was committed as `root`: it becomes the base and the overlay is dropped.
  core::Status rebase(const std::optional<crypto::Cid>& root);

  // True while the content was written front to back from empty (see above).
  bool streaming() const { return stream_.has_value() && dirty_; }
  // Completes a streamed file's DAG in the store and pins its root; nullopt for an empty file.
  // Only while streaming().
  core::Result<std::optional<crypto::Cid>> finish_stream();

 private:
  StagedFile(blockstore::BlockStore& store, core::Env& env, std::filesystem::path scratch_dir,
             const blockstore::ImportOptions& options);

  // The scratch file, created on the first write (most opens only read).
  core::Result<core::RandomAccessFile*> scratch();

  core::Status set_base(const std::optional<crypto::Cid>& root);
  // Lists the base's leaves with their offsets, walking its interior nodes once, so that a read
  // goes straight to its leaf (the last leaf read is kept). Large DAGs keep using base_.
  core::Status index_leaves();
  struct Leaf {
    uint64_t start = 0;
    uint64_t size = 0;
    crypto::Cid cid;
  };
  // The content of a leaf (the last few read are kept).
  core::Result<core::ByteView> leaf_content(const Leaf& leaf);
  // Copies [offset, offset + out.size()) of `leaves` (sorted, contiguous) into `out`.
  core::Status read_leaves(const std::vector<Leaf>& leaves, uint64_t offset,
                           std::span<uint8_t> out);
  // Streaming: appends at the end; stores leaves as they fill; moves into the scratch file.
  core::Status stream_append(std::span<const uint8_t> data);
  core::Status flush_stream();
  core::Status unstream();
  // Copies chunk `index` of the base into the scratch file, once.
  core::Status own_chunk(uint64_t index);
  core::Status read_base(uint64_t offset, std::span<uint8_t> out);

  blockstore::BlockStore& store_;
  core::Env& env_;
  std::filesystem::path scratch_dir_;
  std::unique_ptr<core::RandomAccessFile> scratch_;
  blockstore::ImportOptions options_;
  uint64_t chunk_size_;
  std::optional<blockstore::FileReader> base_;
  std::optional<crypto::Cid> base_root_;
  std::vector<Leaf> leaves_;
  bool indexed_ = false;  // leaves_ lists the base (or the base is too large to list)
  bool use_leaves_ = false;
  // The leaves read last, most recent first: the kernel's read-ahead has several requests of
  // one file in flight, in no fixed order, so one leaf would be read (and verified) again and
  // again.
  struct CachedLeaf {
    crypto::Cid cid;
    core::Bytes content;
  };
  std::vector<CachedLeaf> cached_leaves_;
  // Sequential reads of the base fetch and verify the next leaves on a thread of their own.
  class ReadAhead;
  std::unique_ptr<ReadAhead> read_ahead_;
  std::optional<size_t> last_leaf_read_;
  struct Stream {
    explicit Stream(const blockstore::ImportOptions& options) : builder(options) {}
    blockstore::DagBuilder builder;
    std::vector<blockstore::Block> unstored;  // leaves and interior nodes not stored yet
    size_t unstored_bytes = 0;
    std::vector<Leaf> leaves;
    core::Bytes tail;  // after the last full chunk
  };
  std::optional<Stream> stream_;
  uint64_t base_visible_ = 0;  // base bytes below this offset show (truncation hides the rest)
  uint64_t size_ = 0;
  std::set<uint64_t> owned_;  // chunks that live in the scratch file
  bool dirty_ = false;
};

}  // namespace synapse::fs
