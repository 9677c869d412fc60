// The FUSE low-level operations over fs::FileSystem (docs/mount.md).
#include "fuse_adapter.h"

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <span>
#include <string_view>

#include "errno_table.h"
#include "spdlog/spdlog.h"

namespace synapse::mount {

namespace {

using core::ErrorCode;

FuseAdapter& adapter_of(fuse_req_t req) {
  return *static_cast<FuseAdapter*>(fuse_req_userdata(req));
}

// Runs one operation's body. No exception may unwind into libfuse: one that escapes is logged
// and the request answered with EIO (bodies reply last, so it has not been answered yet).
template <typename Body>
void serve(fuse_req_t req, const char* op, Body&& body) noexcept {
  try {
    const fs::CallerScope caller(fuse_req_ctx(req)->uid);
    // The adapter outlives every request; `req` may be freed once answered, so take it first.
    const auto& observer = adapter_of(req).operation_observer();
    const auto started = std::chrono::steady_clock::now();
    body();
    if (observer) observer(op, std::chrono::steady_clock::now() - started);
    return;
  } catch (const std::exception& e) {
    try {
      spdlog::error("mount: {} failed with an exception: {}", op, e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      spdlog::error("mount: {} failed with an exception", op);
    } catch (...) {
    }
  }
  fuse_reply_err(req, EIO);
}

bool name_too_long(const char* name) { return std::strlen(name) > fs::kMaxNameLength; }

fs::OpenFlags open_flags(int flags) {
  fs::OpenFlags out;
  out.write = (flags & O_ACCMODE) != O_RDONLY;
  out.truncate = (flags & O_TRUNC) != 0;
  out.append = (flags & O_APPEND) != 0;
  out.exclusive = (flags & O_EXCL) != 0;
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One reusable read buffer per libfuse worker thread.
std::span<uint8_t> read_buffer(size_t size) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return {buffer.data(), size};
}

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = [](void* userdata, fuse_conn_info* conn) {
    try {
      static_cast<FuseAdapter*>(userdata)->init(conn);
    } catch (...) {
      spdlog::error("mount: init failed with an exception");
    }
  };
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    serve(req, "lookup", [&] { adapter_of(req).lookup(req, parent, name); });
  };
  ops.forget = [](fuse_req_t req, fuse_ino_t ino, uint64_t count) {
    try {
      adapter_of(req).forget(ino, count);
    } catch (...) {
      spdlog::error("mount: forget failed with an exception");
    }
    fuse_reply_none(req);
  };
  ops.forget_multi = [](fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    try {
      for (size_t i = 0; i < count; ++i) adapter_of(req).forget(forgets[i].ino, forgets[i].nlookup);
    } catch (...) {
      spdlog::error("mount: forget failed with an exception");
    }
    fuse_reply_none(req);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    serve(req, "getattr", [&] { adapter_of(req).getattr(req, ino); });
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                   fuse_file_info* fi) {
    serve(req, "setattr", [&] { adapter_of(req).setattr(req, ino, attr, to_set, fi); });
  };
  ops.readlink = [](fuse_req_t req, fuse_ino_t ino) {
    serve(req, "readlink", [&] { adapter_of(req).readlink(req, ino); });
  };
  ops.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
    serve(req, "mknod", [&] { adapter_of(req).mknod(req, parent, name, mode); });
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    serve(req, "mkdir", [&] { adapter_of(req).mkdir(req, parent, name, mode); });
  };
  ops.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    serve(req, "unlink", [&] { adapter_of(req).unlink(req, parent, name); });
  };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    serve(req, "rmdir", [&] { adapter_of(req).rmdir(req, parent, name); });
  };
  ops.symlink = [](fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
    serve(req, "symlink", [&] { adapter_of(req).symlink(req, target, parent, name); });
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                  const char* new_name, unsigned flags) {
    serve(req, "rename",
          [&] { adapter_of(req).rename(req, parent, name, new_parent, new_name, flags); });
  };
  // Hard links: the tree has one name per file.
  ops.link = [](fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
    fuse_reply_err(req, EPERM);
  };
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    serve(req, "open", [&] { adapter_of(req).open(req, ino, fi); });
  };
  ops.create = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                  fuse_file_info* fi) {
    serve(req, "create", [&] { adapter_of(req).create(req, parent, name, mode, fi); });
  };
  ops.read = [](fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    serve(req, "read", [&] { adapter_of(req).read(req, size, offset, fi); });
  };
  ops.write = [](fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t offset,
                 fuse_file_info* fi) {
    serve(req, "write", [&] { adapter_of(req).write(req, data, size, offset, fi); });
  };
  ops.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    serve(req, "flush", [&] { adapter_of(req).flush(req, fi); });
  };
  ops.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    serve(req, "release", [&] { adapter_of(req).release(req, fi); });
  };
  ops.fsync = [](fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
    serve(req, "fsync", [&] { adapter_of(req).fsync(req, fi); });
  };
  ops.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    serve(req, "opendir", [&] { adapter_of(req).opendir(req, ino, fi); });
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
    serve(req, "readdir", [&] { adapter_of(req).readdir(req, ino, size, offset, fi, false); });
  };
  ops.readdirplus = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                       fuse_file_info* fi) {
    serve(req, "readdirplus", [&] { adapter_of(req).readdir(req, ino, size, offset, fi, true); });
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    serve(req, "releasedir", [&] { adapter_of(req).releasedir(req, fi); });
  };
  // Directories have nothing to sync: their changes are published when made.
  ops.fsyncdir = [](fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); };
  ops.statfs = [](fuse_req_t req, fuse_ino_t) {
    serve(req, "statfs", [&] { adapter_of(req).statfs(req); });
  };
  ops.access = [](fuse_req_t req, fuse_ino_t ino, int mask) {
    serve(req, "access", [&] { adapter_of(req).access(req, ino, mask); });
  };
  // Extended attributes are not supported. ENOSYS tells the kernel so once; it then fails every
  // xattr call with EOPNOTSUPP (= ENOTSUP) itself, and stops asking for security.capability
  // on every write.
  ops.getxattr = [](fuse_req_t req, fuse_ino_t, const char*, size_t) {
    fuse_reply_err(req, ENOSYS);
  };
  ops.listxattr = [](fuse_req_t req, fuse_ino_t, size_t) { fuse_reply_err(req, ENOSYS); };
  ops.setxattr = [](fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
    fuse_reply_err(req, ENOSYS);
  };
  ops.removexattr = [](fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, ENOSYS); };
  return ops;
}

}  // namespace

FuseAdapter::FuseAdapter(fs::FileSystem& fs, const MountOptions& options, Owner owner)
    : on_operation_(options.on_operation),
      fs_(fs),
      entry_timeout_(options.entry_timeout),
      attr_timeout_(options.attr_timeout),
      owner_(owner) {}

FuseAdapter::~FuseAdapter() = default;

const fuse_lowlevel_ops& FuseAdapter::operations() {
  static const fuse_lowlevel_ops ops = make_operations();
  return ops;
}

void FuseAdapter::set_init_listener(std::function<void()> listener) {
  std::lock_guard lock(mutex_);
  init_listener_ = std::move(listener);
}

void FuseAdapter::release_leftovers() {
  std::unordered_set<fs::HandleId> files;
  {
    std::lock_guard lock(mutex_);
    files.swap(open_files_);
    dirs_.clear();
  }
  for (fs::HandleId handle : files) {
    if (auto status = fs_.release(handle); !status) {
      spdlog::warn("mount: releasing handle {} at unmount: {}", handle, status.error().message());
    }
  }
}

void FuseAdapter::init(fuse_conn_info* conn) {
  // Wanted where the kernel offers them (libfuse sets most of these by default already).
  const unsigned wanted = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
                          FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_AUTO_INVAL_DATA |
                          FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_ASYNC_DIO;
  conn->want |= wanted & conn->capable;
  // Not wanted: the writeback cache would delay writes past close() (close-to-open across
  // nodes needs write-through); NFS export needs inode numbers that survive restarts; the
  // kernel, not the FileSystem, clears set-id bits on write (HANDLE_KILLPRIV off); no ACLs;
  // splice buys nothing when every reply comes from a memory buffer.
  conn->want &=
      ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_HANDLE_KILLPRIV |
        FUSE_CAP_POSIX_ACL | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  std::function<void()> listener;
  {
    std::lock_guard lock(mutex_);
    listener = init_listener_;
  }
  if (listener) listener();
}

fuse_entry_param FuseAdapter::entry_for(const fs::Attr& attr) const {
  fuse_entry_param entry{};
  entry.ino = attr.ino;
  entry.generation = 0;
  entry.attr = to_stat(attr, owner_);
  entry.attr_timeout = attr_timeout_;
  entry.entry_timeout = entry_timeout_;
  return entry;
}

void FuseAdapter::reply_entry(fuse_req_t req, fs::Ino parent, const fs::Attr& attr) {
  remember_parent(parent, attr);
  const fuse_entry_param entry = entry_for(attr);
  if (fuse_reply_entry(req, &entry) != 0) fs_.forget(attr.ino, 1);
}

void FuseAdapter::reply_error(fuse_req_t req, const char* op, const core::Error& error) {
  const int err = errno_for(error);
  if (err != ENOENT && err != EEXIST) {
    spdlog::debug("mount: {}: {} ({})", op, error.message(), std::strerror(err));
  }
  fuse_reply_err(req, err);
}

void FuseAdapter::reply_status(fuse_req_t req, const char* op, const core::Status& status) {
  if (!status) return reply_error(req, op, status.error());
  fuse_reply_err(req, 0);
}

void FuseAdapter::track_handle(fs::HandleId handle) {
  std::lock_guard lock(mutex_);
  open_files_.insert(handle);
}

bool FuseAdapter::untrack_handle(fs::HandleId handle) {
  std::lock_guard lock(mutex_);
  return open_files_.erase(handle) > 0;
}

std::shared_ptr<FuseAdapter::DirHandle> FuseAdapter::dir_handle(const fuse_file_info* fi) {
  std::lock_guard lock(mutex_);
  auto it = dirs_.find(fi->fh);
  return it == dirs_.end() ? nullptr : it->second;
}

void FuseAdapter::remember_parent(fs::Ino parent, const fs::Attr& attr) {
  if (attr.type != fs::FileType::kDirectory) return;
  std::lock_guard lock(mutex_);
  parents_[attr.ino] = parent;
}

fs::Ino FuseAdapter::parent_of(fs::Ino dir) {
  if (dir == fs::kRootIno) return fs::kRootIno;
  std::lock_guard lock(mutex_);
  auto it = parents_.find(dir);
  return it == parents_.end() ? fs::kRootIno : it->second;
}

void FuseAdapter::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto attr = fs_.lookup(parent, name);
  if (!attr) return reply_error(req, "lookup", attr.error());
  reply_entry(req, parent, *attr);
}

void FuseAdapter::forget(fuse_ino_t ino, uint64_t count) { fs_.forget(ino, count); }

void FuseAdapter::getattr(fuse_req_t req, fuse_ino_t ino) {
  auto attr = fs_.getattr(ino);
  if (!attr) return reply_error(req, "getattr", attr.error());
  const struct stat st = to_stat(*attr, owner_);
  fuse_reply_attr(req, &st, attr_timeout_);
}

void FuseAdapter::setattr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr, int to_set,
                          fuse_file_info* fi) {
  // Every entry belongs to the mount's owner: chown/chgrp to anyone else is refused.
  if ((to_set & FUSE_SET_ATTR_UID) != 0 && attr->st_uid != owner_.uid) {
    return (void)fuse_reply_err(req, EPERM);
  }
  if ((to_set & FUSE_SET_ATTR_GID) != 0 && attr->st_gid != owner_.gid) {
    return (void)fuse_reply_err(req, EPERM);
  }
  fs::SetAttr changes;
  if ((to_set & FUSE_SET_ATTR_MODE) != 0) changes.mode = attr->st_mode & 07777;
  if ((to_set & FUSE_SET_ATTR_SIZE) != 0) {
    if (attr->st_size < 0) return (void)fuse_reply_err(req, EINVAL);
    changes.size = static_cast<uint64_t>(attr->st_size);
  }
  if ((to_set & FUSE_SET_ATTR_MTIME_NOW) != 0) {
    changes.mtime_ns = now_ns();
  } else if ((to_set & FUSE_SET_ATTR_MTIME) != 0) {
    changes.mtime_ns = timespec_to_ns(attr->st_mtim);
  }
  // atime is not kept (it reads as mtime); ctime follows the FileSystem.
  core::Result<fs::Attr> result =
      changes.mode || changes.size || changes.mtime_ns
          ? fs_.setattr(ino, changes,
                        fi != nullptr ? std::optional<fs::HandleId>(fi->fh) : std::nullopt)
          : fs_.getattr(ino);
  if (!result) return reply_error(req, "setattr", result.error());
  const struct stat st = to_stat(*result, owner_);
  fuse_reply_attr(req, &st, attr_timeout_);
}

void FuseAdapter::readlink(fuse_req_t req, fuse_ino_t ino) {
  auto target = fs_.readlink(ino);
  if (!target) return reply_error(req, "readlink", target.error());
  fuse_reply_readlink(req, target->c_str());
}

void FuseAdapter::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  // Device nodes, FIFOs and sockets cannot be shared between machines.
  if (!S_ISREG(mode)) return (void)fuse_reply_err(req, EPERM);
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  fs::OpenFlags flags;
  flags.exclusive = true;
  auto created = fs_.create(parent, name, mode & 07777, flags);
  if (!created) return reply_error(req, "mknod", created.error());
  auto& [attr, opened] = *created;
  if (auto status = fs_.release(opened.handle); !status) {
    spdlog::debug("mount: mknod: releasing the new file: {}", status.error().message());
  }
  reply_entry(req, parent, attr);
}

void FuseAdapter::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto attr = fs_.mkdir(parent, name, mode & 07777);
  if (!attr) return reply_error(req, "mkdir", attr.error());
  reply_entry(req, parent, *attr);
}

void FuseAdapter::unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  reply_status(req, "unlink", fs_.unlink(parent, name));
}

void FuseAdapter::rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  reply_status(req, "rmdir", fs_.rmdir(parent, name));
}

void FuseAdapter::symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  if (name_too_long(name) || std::strlen(target) > fs::kMaxSymlinkLength) {
    return (void)fuse_reply_err(req, ENAMETOOLONG);
  }
  auto attr = fs_.symlink(parent, name, target);
  if (!attr) return reply_error(req, "symlink", attr.error());
  reply_entry(req, parent, *attr);
}

void FuseAdapter::rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                         const char* new_name, unsigned flags) {
  fs::RenameMode mode;
  if (flags == 0) {
    mode = fs::RenameMode::kReplace;
  } else if (flags == RENAME_NOREPLACE) {
    mode = fs::RenameMode::kNoReplace;
  } else if (flags == RENAME_EXCHANGE) {
    mode = fs::RenameMode::kExchange;
  } else {
    return (void)fuse_reply_err(req, EINVAL);  // RENAME_WHITEOUT, combinations
  }
  if (name_too_long(name) || name_too_long(new_name)) {
    return (void)fuse_reply_err(req, ENAMETOOLONG);
  }
  reply_status(req, "rename", fs_.rename(parent, name, new_parent, new_name, mode));
}

void FuseAdapter::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto opened = fs_.open(ino, open_flags(fi->flags));
  if (!opened) return reply_error(req, "open", opened.error());
  fi->fh = opened->handle;
  fi->keep_cache = opened->keep_cache ? 1 : 0;
  fi->direct_io = 0;
  track_handle(opened->handle);
  if (fuse_reply_open(req, fi) != 0 && untrack_handle(opened->handle)) {
    (void)fs_.release(opened->handle);
  }
}

void FuseAdapter::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                         fuse_file_info* fi) {
  if (name_too_long(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto created = fs_.create(parent, name, mode & 07777, open_flags(fi->flags));
  if (!created) return reply_error(req, "create", created.error());
  const auto& [attr, opened] = *created;
  fi->fh = opened.handle;
  fi->keep_cache = opened.keep_cache ? 1 : 0;
  fi->direct_io = 0;
  track_handle(opened.handle);
  remember_parent(parent, attr);
  const fuse_entry_param entry = entry_for(attr);
  if (fuse_reply_create(req, &entry, fi) != 0) {
    if (untrack_handle(opened.handle)) (void)fs_.release(opened.handle);
    fs_.forget(attr.ino, 1);
  }
}

void FuseAdapter::read(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
  std::span<uint8_t> buffer = read_buffer(size);
  auto count = fs_.read(fi->fh, static_cast<uint64_t>(offset), buffer);
  if (!count) return reply_error(req, "read", count.error());
  fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), std::min(*count, size));
}

void FuseAdapter::write(fuse_req_t req, const char* data, size_t size, off_t offset,
                        fuse_file_info* fi) {
  if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
  auto count = fs_.write(fi->fh, static_cast<uint64_t>(offset),
                         {reinterpret_cast<const uint8_t*>(data), size});
  if (!count) return reply_error(req, "write", count.error());
  fuse_reply_write(req, *count);
}

void FuseAdapter::flush(fuse_req_t req, fuse_file_info* fi) {
  reply_status(req, "flush", fs_.flush(fi->fh));
}

void FuseAdapter::release(fuse_req_t req, fuse_file_info* fi) {
  if (!untrack_handle(fi->fh)) return (void)fuse_reply_err(req, 0);  // released at unmount
  reply_status(req, "release", fs_.release(fi->fh));
}

void FuseAdapter::fsync(fuse_req_t req, fuse_file_info* fi) {
  reply_status(req, "fsync", fs_.fsync(fi->fh));
}

void FuseAdapter::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto entries = fs_.readdir(ino);
  if (!entries) return reply_error(req, "opendir", entries.error());
  auto handle = std::make_shared<DirHandle>();
  handle->ino = ino;
  handle->entries = std::move(*entries);
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = next_dir_handle_++;
    dirs_.emplace(id, std::move(handle));
  }
  fi->fh = id;
  if (fuse_reply_open(req, fi) != 0) {
    std::lock_guard lock(mutex_);
    dirs_.erase(id);
  }
}

void FuseAdapter::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                          fuse_file_info* fi, bool plus) {
  std::shared_ptr<DirHandle> handle = dir_handle(fi);
  if (!handle || offset < 0) return (void)fuse_reply_err(req, EBADF);
  std::lock_guard lock(handle->mutex);
  if (offset == 0 && handle->read_once) {  // rewinddir(): a fresh snapshot
    auto entries = fs_.readdir(ino);
    if (!entries) return reply_error(req, plus ? "readdirplus" : "readdir", entries.error());
    handle->entries = std::move(*entries);
  }
  handle->read_once = true;

  std::vector<char> buffer(size);
  size_t used = 0;
  std::vector<fs::Ino> looked_up;  // lookups to give back if the reply does not arrive
  const size_t total = handle->entries.size() + 2;
  for (size_t index = static_cast<size_t>(offset); index < total; ++index) {
    fs::Attr attr;
    const char* name;
    if (index < 2) {
      name = index == 0 ? "." : "..";
      attr.ino = index == 0 ? ino : parent_of(ino);
      attr.type = fs::FileType::kDirectory;
    } else {
      const fs::DirEntry& entry = handle->entries[index - 2];
      name = entry.name.c_str();
      attr = entry.attr;
    }
    const off_t next = static_cast<off_t>(index + 1);
    char* out = buffer.data() + used;
    const size_t room = size - used;
    size_t needed;
    if (!plus) {
      struct stat st {};
      st.st_ino = attr.ino;
      st.st_mode = type_bits(attr.type);
      needed = fuse_add_direntry(req, out, room, name, &st, next);
      if (needed > room) break;
    } else {
      needed = fuse_add_direntry_plus(req, nullptr, 0, name, nullptr, 0);
      if (needed > room) break;
      fuse_entry_param entry{};
      if (index < 2) {
        // The kernel counts no lookup for "." and ".." and ignores their attributes.
        entry.ino = attr.ino;
        entry.attr.st_ino = attr.ino;
        entry.attr.st_mode = S_IFDIR;
      } else {
        // Each other entry counts one lookup, so look it up; one that is gone since the
        // snapshot is still listed, but with no inode the kernel would keep (ino 0).
        auto current = fs_.lookup(ino, name);
        if (current) {
          looked_up.push_back(current->ino);
          remember_parent(ino, *current);
          entry = entry_for(*current);
        } else {
          entry.attr = to_stat(attr, owner_);
        }
      }
      fuse_add_direntry_plus(req, out, room, name, &entry, next);
    }
    used += needed;
  }
  if (fuse_reply_buf(req, buffer.data(), used) != 0) {
    for (fs::Ino looked : looked_up) fs_.forget(looked, 1);
  }
}

void FuseAdapter::releasedir(fuse_req_t req, fuse_file_info* fi) {
  {
    std::lock_guard lock(mutex_);
    dirs_.erase(fi->fh);
  }
  fuse_reply_err(req, 0);
}

void FuseAdapter::statfs(fuse_req_t req) {
  auto stats = fs_.statfs();
  if (!stats) return reply_error(req, "statfs", stats.error());
  const uint64_t block = std::max<uint64_t>(stats->block_size, 1);
  struct statvfs st {};
  st.f_bsize = block;
  st.f_frsize = block;
  st.f_blocks = stats->total_bytes / block;
  st.f_bfree = stats->free_bytes / block;
  st.f_bavail = st.f_bfree;
  // There is no inode table: a new entry needs about one free block, so that is the estimate.
  st.f_ffree = st.f_bfree;
  st.f_favail = st.f_bfree;
  st.f_files = stats->files + st.f_ffree;
  st.f_namemax = fs::kMaxNameLength;
  fuse_reply_statfs(req, &st);
}

void FuseAdapter::access(fuse_req_t req, fuse_ino_t ino, int mask) {
  auto attr = fs_.getattr(ino);
  if (!attr) return reply_error(req, "access", attr.error());
  const fuse_ctx* context = fuse_req_ctx(req);
  Caller caller{context->uid, context->gid == owner_.gid};
  if (!caller.in_owner_group && context->uid != 0 && context->uid != owner_.uid) {
    gid_t groups[64];
    const int count = fuse_req_getgroups(req, 64, groups);
    for (int i = 0; i < std::min(count, 64); ++i) caller.in_owner_group |= groups[i] == owner_.gid;
  }
  fuse_reply_err(req, check_access(*attr, owner_, caller, mask));
}

}  // namespace synapse::mount
