// Env: the seam through which Synapse touches the local file system (after LevelDB's Env).
//
// Code that reads or writes files takes an Env& so tests can substitute a fault-injecting or
// in-memory implementation. Env::posix() is the real one. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::core {

// A stream read front to back. Not thread-safe; one reader at a time.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Fills `buffer` completely unless the end of the stream comes first; returns the number of
  // bytes read (0 only at the end). Retries interrupted and short reads.
  virtual Result<size_t> read(std::span<uint8_t> buffer) = 0;
  // Total size if known up front (regular files), for progress reporting; nullopt for pipes.
  virtual std::optional<uint64_t> size_hint() const = 0;
};

// A file written front to back. Not thread-safe. Destroying it without close() closes it.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` (retrying short and interrupted writes).
  virtual Status append(ByteView data) = 0;
  // Makes what was appended durable (fdatasync).
  virtual Status sync() = 0;
  // Closes the file, reporting a failed write-back (no fsync: for output the user can redo).
  virtual Status close() = 0;
};

// A file read and written at offsets (staging of files open for writing). Thread-safe for
// disjoint ranges; the file is closed (and, for a scratch file, already unlinked) on
// destruction.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Fills `buffer` from `offset` unless the end of the file comes first; returns the count.
  virtual Result<size_t> read_at(uint64_t offset, std::span<uint8_t> buffer) = 0;
  // Writes all of `data` at `offset` (a hole stays sparse). kStoreFull when the disk is full.
  virtual Status write_at(uint64_t offset, ByteView data) = 0;
  virtual Status truncate(uint64_t size) = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation.
  static Env& posix();

  virtual Result<std::unique_ptr<SequentialFile>> open_sequential(
      const std::filesystem::path& path) = 0;
  // Standard input as a SequentialFile; the descriptor is not closed.
  virtual std::unique_ptr<SequentialFile> stdin_file() = 0;

  // Reads a whole file, failing with kInvalidArgument if it is larger than `max_size` bytes.
  virtual Result<Bytes> read_file(const std::filesystem::path& path, size_t max_size) = 0;

  // Writes `data` to `path` so that a crash leaves either the old file or the new one: it
  // writes a temporary file in the same folder with `mode`, fsyncs it, renames it into place
  // and fsyncs the folder. With overwrite = false an existing `path` fails with
  // kAlreadyExists and is left as it was.
  virtual Status write_file_atomic(const std::filesystem::path& path, ByteView data, uint32_t mode,
                                   bool overwrite) = 0;

  // Creates or truncates `path` for writing, with `mode` for a new file.
  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::filesystem::path& path,
                                                              uint32_t mode = 0644) = 0;
  // Opens `path` for appending, creating it with `mode` if it does not exist.
  virtual Result<std::unique_ptr<WritableFile>> open_appendable(const std::filesystem::path& path,
                                                                uint32_t mode = 0600) = 0;
  // Renames `from` to `to`, replacing `to`.
  virtual Status rename_file(const std::filesystem::path& from,
                             const std::filesystem::path& to) = 0;

  // Creates a nameless scratch file in folder `dir` (O_TMPFILE, or created and unlinked at once):
  // it disappears when closed, also after a crash.
  virtual Result<std::unique_ptr<RandomAccessFile>> open_scratch(
      const std::filesystem::path& dir) = 0;

  virtual Result<bool> exists(const std::filesystem::path& path) = 0;
  // Creates `path` and missing parents with `mode`; an existing folder is fine.
  virtual Status create_dirs(const std::filesystem::path& path, uint32_t mode) = 0;
};

}  // namespace synapse::core
