// Path-level operations over a FileSystem, for code inside the node (jobs, control methods):
// what a shell does through the mount, without the kernel. Paths are tree paths: components
// separated by "/", relative to the root, no leading slash ("" is the root, "jobs/wc/state").
//
// Every lookup these calls make is forgotten before they return, so they leave no inode held.
// Thread-safety: as the FileSystem (any thread, concurrently); they may wait for the network
// like the calls they make.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/fs/file_system.h"

namespace synapse::fs {

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> split_path(std::string_view path);
// Joins two tree paths ("" is the root).
std::string join_path(std::string_view dir, std::string_view name);

class Tree {
 public:
  explicit Tree(FileSystem& fs) : fs_(fs) {}

  FileSystem& file_system() { return fs_; }

  // kNotFound (also for a missing parent), kNotDirectory.
  core::Result<Attr> stat(std::string_view path);
  core::Result<bool> exists(std::string_view path);
  core::Result<std::vector<DirEntry>> list(std::string_view path);
  // The whole file; kInvalidArgument when it is longer than `max_bytes`.
  core::Result<std::string> read(std::string_view path, size_t max_bytes);
  // Up to `length` bytes from `offset` (fewer at the end).
  core::Result<std::string> read_range(std::string_view path, uint64_t offset, size_t length);
  // Creates or replaces the file with `data` (one commit).
  core::Status write(std::string_view path, core::ByteView data, uint32_t mode = 0644);
  // Creates or replaces the file with what `source` yields, streamed (one commit).
  core::Status write_from(std::string_view path, core::SequentialFile& source,
                          uint32_t mode = 0644);
  // Waits until the file's content and its folder's record reach the replication target
  // (FileSystem::fsync).
  core::Status sync(std::string_view path);
  // Appends `data` to the file, creating it if needed (one commit).
  core::Status append(std::string_view path, core::ByteView data);
  // Creates one folder (kAlreadyExists if the name shows anything).
  core::Status make_dir(std::string_view path);
  // Creates the folder and the missing ones above it; an existing folder is fine.
  core::Status make_dirs(std::string_view path);
  core::Status rename(std::string_view from, std::string_view to,
                      RenameMode mode = RenameMode::kReplace);
  // Removes a file, a symlink or a folder with everything in it; nothing there is fine.
  core::Status remove_tree(std::string_view path);
  core::Status symlink(std::string_view path, std::string_view target);
  core::Result<std::string> readlink(std::string_view path);
  core::Result<ContentInfo> content(std::string_view path);
  // Calls `visit` for every entry below `path` (depth first, parents before children) with
  // its tree path and attributes, at most `max_entries` of them (kStoreFull beyond). A
  // visit returning false skips that folder's contents.
  core::Status walk(std::string_view path, size_t max_entries,
                    const std::function<bool(const std::string&, const Attr&)>& visit);

 private:
  // The inode of a path with one lookup held on it and on every folder above it (as the
  // kernel's dentries hold theirs), forgotten when it goes out of scope.
  class Held {
   public:
    explicit Held(FileSystem& fs) : fs_(fs) {}
    Held(Held&& other) noexcept : fs_(other.fs_), inos_(std::move(other.inos_)) {}
    Held& operator=(Held&&) = delete;
    ~Held() {
      for (auto it = inos_.rbegin(); it != inos_.rend(); ++it) fs_.forget(*it, 1);
    }
    Ino ino() const { return inos_.empty() ? kRootIno : inos_.back(); }
    void add(Ino ino) { inos_.push_back(ino); }

   private:
    FileSystem& fs_;
    std::vector<Ino> inos_;
  };
  core::Result<Held> resolve(std::string_view path);
  core::Status remove_below(Ino parent, const std::string& name);
  void release(Ino ino);

  FileSystem& fs_;
};

}  // namespace synapse::fs
