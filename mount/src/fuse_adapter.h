// The low-level operations table: each FUSE request becomes one or two FileSystem calls
// (docs/mount.md has the list). Private to mount/; only fuse_adapter.cc and mount.cc include
// libfuse.
//
// Thread-safety: the operations run on libfuse's worker threads, concurrently; the adapter's
// own state (open handles, directory snapshots) is guarded by one mutex. No exception leaves an
// operation: each body runs in a guard that logs it and replies EIO.
#pragma once

#include <fuse_lowlevel.h>  // FUSE_USE_VERSION comes from mount/CMakeLists.txt

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "attrs.h"
#include "synapse/fs/file_system.h"
#include "synapse/mount/mount.h"

namespace synapse::mount {

class FuseAdapter {
 public:
  FuseAdapter(fs::FileSystem& fs, const MountOptions& options, Owner owner);
  ~FuseAdapter();
  FuseAdapter(const FuseAdapter&) = delete;
  FuseAdapter& operator=(const FuseAdapter&) = delete;

  // The table to hand to fuse_session_new() with this adapter as userdata.
  static const fuse_lowlevel_ops& operations();

  // MountOptions::on_operation (may be empty).
  const std::function<void(const char*, std::chrono::nanoseconds)>& operation_observer() const {
    return on_operation_;
  }

  // Runs `listener` (on a libfuse thread) once the kernel's INIT has been answered.
  void set_init_listener(std::function<void()> listener);

  // Once the session loop has ended: releases the FileSystem handles the kernel never
  // released (their writes get committed) and drops the directory snapshots.
  void release_leftovers();

  // The operations (called through the table).
  void init(fuse_conn_info* conn);
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void forget(fuse_ino_t ino, uint64_t count);
  void getattr(fuse_req_t req, fuse_ino_t ino);
  void setattr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr, int to_set,
               fuse_file_info* fi);
  void readlink(fuse_req_t req, fuse_ino_t ino);
  void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
  void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned flags);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  void read(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi);
  void write(fuse_req_t req, const char* data, size_t size, off_t offset, fuse_file_info* fi);
  void flush(fuse_req_t req, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_file_info* fi);
  void fsync(fuse_req_t req, fuse_file_info* fi);
  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi,
               bool plus);
  void releasedir(fuse_req_t req, fuse_file_info* fi);
  void statfs(fuse_req_t req);
  void access(fuse_req_t req, fuse_ino_t ino, int mask);

 private:
  const std::function<void(const char*, std::chrono::nanoseconds)> on_operation_;
  // A directory's entries as fs.readdir() gave them at opendir (or at the last rewind):
  // offsets index into ".", "..", entries...
  struct DirHandle {
    std::mutex mutex;
    fs::Ino ino = 0;
    std::vector<fs::DirEntry> entries;
    bool read_once = false;
  };

  fuse_entry_param entry_for(const fs::Attr& attr) const;
  // Replies with the entry; when the kernel did not take it (the request was interrupted),
  // drops the lookup the FileSystem counted.
  void reply_entry(fuse_req_t req, fs::Ino parent, const fs::Attr& attr);
  void reply_error(fuse_req_t req, const char* op, const core::Error& error);
  void reply_status(fuse_req_t req, const char* op, const core::Status& status);
  // The FileSystem handles the kernel holds open, released by release_leftovers().
  void track_handle(fs::HandleId handle);
  bool untrack_handle(fs::HandleId handle);
  std::shared_ptr<DirHandle> dir_handle(const fuse_file_info* fi);
  void remember_parent(fs::Ino parent, const fs::Attr& attr);
  fs::Ino parent_of(fs::Ino dir);

  fs::FileSystem& fs_;
  const double entry_timeout_;
  const double attr_timeout_;
  const Owner owner_;

  std::mutex mutex_;  // guards the members below
  std::function<void()> init_listener_;
  std::unordered_set<fs::HandleId> open_files_;
  uint64_t next_dir_handle_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs_;
  // The parent of each directory the kernel looked up, for the d_ino of "..". Best effort: a
  // directory renamed elsewhere keeps its old parent here until looked up again.
  std::unordered_map<fs::Ino, fs::Ino> parents_;
};

}  // namespace synapse::mount
