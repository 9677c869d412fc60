// FileSystem: the shared tree as the mount sees it, independent of FUSE (docs/filesystem.md).
//
// The API is inode-based, after the FUSE low-level interface, so the mount adapter is thin:
// every call names an inode number the FileSystem handed out (through lookup, create, mkdir,
// symlink or readdir) and returns core::Result with the error codes listed per call; the
// mount maps codes to errno in one table (mount/src/errno_table.cc).
//
// Thread-safety: every method may be called from any thread, concurrently. Calls on different
// files run in parallel; a call that waits for the network (revalidating a directory, fetching
// blocks) holds no lock while it waits and gives up with kIo after the configured timeout, so a
// silent peer never hangs the mount.
//
// Inode numbers are local to one node and one run. The root directory is kRootIno. An inode
// stays valid while the kernel holds lookups on it (see forget()) or a handle is open on it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::fs {

using Ino = uint64_t;
using HandleId = uint64_t;
inline constexpr Ino kRootIno = 1;

// Longest name of one entry (POSIX NAME_MAX); longer names fail with kNameTooLong.
inline constexpr size_t kMaxNameLength = 255;
// Longest symlink target.
inline constexpr size_t kMaxSymlinkLength = 4095;

enum class FileType : uint8_t { kRegular, kDirectory, kSymlink };

struct Attr {
  Ino ino = 0;
  FileType type = FileType::kRegular;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits only (07777); the mount adds the S_IF* type
  uint32_t nlink = 1;
  int64_t mtime_ns = 0;    // modification time, ns since the Unix epoch
  int64_t ctime_ns = 0;    // last change of the entry (content, mode, name)
  bool read_only = false;  // in .cid/ and .peers/: writes fail with kPermissionDenied
};

struct DirEntry {
  std::string name;
  Attr attr;
};

// The changes of one setattr call; unset fields stay as they are.
struct SetAttr {
  std::optional<uint32_t> mode;
  std::optional<uint64_t> size;
  std::optional<int64_t> mtime_ns;
};

struct OpenResult {
  HandleId handle = 0;
  // The content is what the node read when this inode was last opened: the kernel may keep
  // its page cache (FOPEN_KEEP_CACHE).
  bool keep_cache = false;
};

// Flags of open() and create(), independent of <fcntl.h>.
struct OpenFlags {
  bool write = false;      // O_WRONLY or O_RDWR
  bool truncate = false;   // O_TRUNC
  bool append = false;     // O_APPEND
  bool exclusive = false;  // O_EXCL (create only)
};

enum class RenameMode { kReplace, kNoReplace, kExchange };

// The committed content of a regular file in the shared tree.
struct ContentInfo {
  std::optional<crypto::Cid> content;  // none for an empty file
  std::array<uint8_t, 32> writer{};    // the node whose record shows it (a WriterId)
  uint64_t size = 0;
};

struct FsStats {
  uint64_t block_size = 4096;
  uint64_t total_bytes = 0;  // the swarm's capacity as far as this node knows
  uint64_t free_bytes = 0;
  uint64_t files = 0;  // entries this node has seen
};

// Which user the calling thread acts for: the mount sets it around every operation it serves
// (the uid of the process that made the request), so that a commit notice can say who wrote.
// Thread-local; scopes nest.
class CallerScope {
 public:
  explicit CallerScope(uint32_t uid);
  ~CallerScope();
  CallerScope(const CallerScope&) = delete;
  CallerScope& operator=(const CallerScope&) = delete;
  // The innermost scope's uid on this thread, if any.
  static std::optional<uint32_t> current();

 private:
  std::optional<uint32_t> previous_;
};

// What the kernel may cache of the tree; the mount implements it. The file system tells it of
// changes made outside kernel requests (threads without a CallerScope: the node's own jobs
// writing their files), so that this node's users see those at once rather than after the
// kernel's cache timeouts. Called from any thread, never with a lock of the file system held;
// names or inodes the kernel does not hold are fine.
class KernelCache {
 public:
  virtual ~KernelCache() = default;
  // The name `name` in folder `parent` now shows something else, or nothing.
  virtual void forget_entry(Ino parent, std::string_view name) = 0;
  // The attributes or the content of `ino` changed.
  virtual void forget_content(Ino ino) = 0;
};

// The errors, by code (docs/filesystem.md has the errno each becomes):
//   kNotFound (ENOENT), kAlreadyExists (EEXIST), kNotEmpty (ENOTEMPTY), kIsDirectory (EISDIR),
//   kNotDirectory (ENOTDIR), kNameTooLong (ENAMETOOLONG), kPermissionDenied (EACCES; writes
//   under .cid/ and .peers/), kInvalidArgument (EINVAL), kUnsupported (ENOTSUP), kStoreFull
//   (ENOSPC), kIo and kCorrupt (EIO: a peer did not answer in time, data failed verification).
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Resolves `name` in directory `parent` and counts one kernel lookup on the result.
  virtual core::Result<Attr> lookup(Ino parent, std::string_view name) = 0;
  // The kernel dropped `count` lookups of `ino`.
  virtual void forget(Ino ino, uint64_t count) = 0;
  virtual core::Result<Attr> getattr(Ino ino) = 0;
  // `handle` is the open handle the change came through, if any (ftruncate).
  virtual core::Result<Attr> setattr(Ino ino, const SetAttr& changes,
                                     std::optional<HandleId> handle) = 0;
  // Every entry of a directory (without "." and ".."); each counts no lookup (a readdirplus
  // reply calls lookup() for the entries it hands the kernel).
  virtual core::Result<std::vector<DirEntry>> readdir(Ino dir) = 0;

  virtual core::Result<OpenResult> open(Ino ino, OpenFlags flags) = 0;
  // Creates and opens a regular file (kAlreadyExists if it exists and flags.exclusive). Counts
  // one lookup on the new inode.
  virtual core::Result<std::pair<Attr, OpenResult>> create(Ino parent, std::string_view name,
                                                           uint32_t mode, OpenFlags flags) = 0;
  // Reads up to out.size() bytes at `offset` (fewer only at the end of the file).
  virtual core::Result<size_t> read(HandleId handle, uint64_t offset, std::span<uint8_t> out) = 0;
  virtual core::Result<size_t> write(HandleId handle, uint64_t offset,
                                     std::span<const uint8_t> data) = 0;
  // Commits what was written through `handle` (chunks, stores, publishes); called on every
  // close() of a file descriptor.
  virtual core::Status flush(HandleId handle) = 0;
  // Commits like flush(), then waits until the replication target holds the content, failing
  // with kIo after the configured timeout.
  virtual core::Status fsync(HandleId handle) = 0;
  // The last reference to the handle is gone; commits what is left.
  virtual core::Status release(HandleId handle) = 0;

  // mkdir and symlink count one lookup on the new inode, as create does.
  virtual core::Result<Attr> mkdir(Ino parent, std::string_view name, uint32_t mode) = 0;
  virtual core::Status rmdir(Ino parent, std::string_view name) = 0;
  virtual core::Status unlink(Ino parent, std::string_view name) = 0;
  virtual core::Status rename(Ino parent, std::string_view name, Ino new_parent,
                              std::string_view new_name, RenameMode mode) = 0;
  virtual core::Result<Attr> symlink(Ino parent, std::string_view name,
                                     std::string_view target) = 0;
  virtual core::Result<std::string> readlink(Ino ino) = 0;
  virtual core::Result<FsStats> statfs() = 0;

  // What the record of regular file `ino` names (kNotFound, kIsDirectory; kUnsupported in file
  // systems without content IDs). Content being written through an open handle is not in it
  // until committed.
  virtual core::Result<ContentInfo> content_info(Ino ino) {
    (void)ino;
    return core::make_error(core::ErrorCode::kUnsupported, "no content IDs here");
  }
  // Where to tell what the kernel should forget (null: nowhere); `cache` must stay valid until
  // it is replaced. File systems that change only through kernel requests ignore it.
  virtual void set_kernel_cache(KernelCache* cache) { (void)cache; }
};

}  // namespace synapse::fs
