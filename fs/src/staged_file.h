// StagedFile: the content of one file while it is open, as a committed base (a DAG in the
// block store) overlaid with the chunks written since, which live in a local scratch file.
//
// Copy-on-write at chunk granularity: the first write into a chunk copies the base's bytes of
// that chunk into the scratch file. Committing re-chunks the whole content with the same chunk
// size, so unchanged chunks produce the same blocks and only changed chunks are new in the
// store. Not thread-safe: the FileSystem serialises access per file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>

#include "synapse/blockstore/block_store.h"
#include "synapse/blockstore/file_reader.h"
#include "synapse/core/env.h"

namespace synapse::fs {

class StagedFile {
 public:
  // `base` must be stored completely (or be nullopt for an empty file).
  static core::Result<std::unique_ptr<StagedFile>> open(blockstore::BlockStore& store,
                                                        core::Env& env,
                                                        const std::filesystem::path& scratch_dir,
                                                        const std::optional<crypto::Cid>& base,
                                                        uint64_t chunk_size);

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

 private:
  StagedFile(blockstore::BlockStore& store, core::Env& env, std::filesystem::path scratch_dir,
             uint64_t chunk_size)
      : store_(store), env_(env), scratch_dir_(std::move(scratch_dir)), chunk_size_(chunk_size) {}

  // The scratch file, created on the first write (most opens only read).
  core::Result<core::RandomAccessFile*> scratch();

  core::Status set_base(const std::optional<crypto::Cid>& root);
  // Copies chunk `index` of the base into the scratch file, once.
  core::Status own_chunk(uint64_t index);
  core::Status read_base(uint64_t offset, std::span<uint8_t> out);

  blockstore::BlockStore& store_;
  core::Env& env_;
  std::filesystem::path scratch_dir_;
  std::unique_ptr<core::RandomAccessFile> scratch_;
  uint64_t chunk_size_;
  std::optional<blockstore::FileReader> base_;
  uint64_t base_visible_ = 0;  // base bytes below this offset show (truncation hides the rest)
  uint64_t size_ = 0;
  std::set<uint64_t> owned_;  // chunks that live in the scratch file
  bool dirty_ = false;
};

}  // namespace synapse::fs
