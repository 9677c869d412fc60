// The namespace operations of the shared tree: mkdir, rmdir, unlink, rename, symlink,
// readlink, statfs.
#include "shared_impl.h"

namespace synapse::fs {

using core::ErrorCode;
using core::make_error;

core::Result<Ino> SharedFs::add_entry(Ino parent, const std::string& name, Entry entry) {
  SYNAPSE_RETURN_IF_ERROR(check_writable_dir(parent));
  if (reserved_at_root(parent, name)) return make_error(ErrorCode::kAlreadyExists, name);
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* existing, find(parent, name));
  if (existing) return make_error(ErrorCode::kAlreadyExists, name + " exists");
  entry.mtime_ns = now_ns();
  const FileType type = type_of(entry.kind);
  SYNAPSE_RETURN_IF_ERROR(put_record(inodes_[parent].dirs, name, std::move(entry), {}));
  const Ino ino = ino_for(parent, name, NodeKind::kShared, type);
  ++inodes_[ino].lookups;
  return ino;
}

core::Result<Attr> SharedFs::mkdir(Ino parent, std::string_view name_view, uint32_t mode) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  const std::string name(name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  Lock lock(mu_);
  DirId id;
  rng_.fill(id);
  Entry entry;
  entry.kind = EntryKind::kDirectory;
  entry.dirs = {id};
  entry.mode = mode & 07777;
  dirs_[id].validated = clock_.now();  // new: nobody else can have written there yet
  SYNAPSE_ASSIGN_OR_RETURN(const Ino ino, add_entry(parent, name, std::move(entry)));
  auto attr = getattr_locked(ino);
  lock.unlock();
  tell_kernel(parent, name);
  return attr;
}

core::Status SharedFs::rmdir(Ino parent, std::string_view name_view) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  const std::string name(name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  std::vector<DirId> child;
  {
    Lock lock(mu_);
    SYNAPSE_RETURN_IF_ERROR(check_writable_dir(parent));
    SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(parent, name));
    if (!resolved) return make_error(ErrorCode::kNotFound, name + " does not exist");
    if (resolved->entry.kind != EntryKind::kDirectory) {
      return make_error(ErrorCode::kNotDirectory, name + " is not a directory");
    }
    child = resolved->entry.dirs;
  }
  refresh(child, /*force=*/true);  // emptiness is judged on fresh layers
  Lock lock(mu_);
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(parent, name));
  if (!resolved || resolved->entry.kind != EntryKind::kDirectory) {
    return make_error(ErrorCode::kNotFound, name + " does not exist");
  }
  if (!view_of(resolved->entry.dirs).empty()) {
    return make_error(ErrorCode::kNotEmpty, name + " is not empty");
  }
  SYNAPSE_RETURN_IF_ERROR(put_tombstone(inodes_[parent].dirs, name, resolved->versions));
  detach(parent, name);
  lock.unlock();
  tell_kernel(parent, name);
  return core::ok();
}

core::Status SharedFs::unlink(Ino parent, std::string_view name_view) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  const std::string name(name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  Lock lock(mu_);
  SYNAPSE_RETURN_IF_ERROR(check_writable_dir(parent));
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(parent, name));
  if (!resolved) return make_error(ErrorCode::kNotFound, name + " does not exist");
  if (resolved->entry.kind == EntryKind::kDirectory) {
    return make_error(ErrorCode::kIsDirectory, name + " is a directory");
  }
  SYNAPSE_RETURN_IF_ERROR(put_tombstone(inodes_[parent].dirs, name, resolved->versions));
  detach(parent, name);
  lock.unlock();
  tell_kernel(parent, name);
  return core::ok();
}

core::Status SharedFs::rename(Ino parent, std::string_view name_view, Ino new_parent,
                              std::string_view new_name_view, RenameMode mode) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  SYNAPSE_RETURN_IF_ERROR(check_name(new_name_view));
  const std::string name(name_view), new_name(new_name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto from_dirs, dirs_of(parent));
  SYNAPSE_ASSIGN_OR_RETURN(auto to_dirs, dirs_of(new_parent));
  refresh(from_dirs);
  refresh(to_dirs);
  // Records name their content, which the renaming node must hold: fetch it first.
  for (int attempt = 0;; ++attempt) {
    std::vector<std::pair<crypto::Cid, WriterId>> needed;
    {
      Lock lock(mu_);
      SYNAPSE_RETURN_IF_ERROR(check_writable_dir(parent));
      SYNAPSE_RETURN_IF_ERROR(check_writable_dir(new_parent));
      if (reserved_at_root(new_parent, new_name)) {
        return make_error(ErrorCode::kPermissionDenied, new_name + " is reserved");
      }
      SYNAPSE_ASSIGN_OR_RETURN(const Resolved* from, find(parent, name));
      if (!from) return make_error(ErrorCode::kNotFound, name + " does not exist");
      SYNAPSE_ASSIGN_OR_RETURN(const Resolved* to, find(new_parent, new_name));
      for (const Resolved* r : {from, to}) {
        if (r && r->entry.content && !complete_.count(*r->entry.content)) {
          needed.emplace_back(*r->entry.content, r->entry.version.writer);
        }
      }
      if (needed.empty() || attempt > 0) break;
    }
    for (const auto& [cid, writer] : needed) SYNAPSE_RETURN_IF_ERROR(ensure_local(cid, writer));
  }
  Lock lock(mu_);
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* from_ptr, find(parent, name));
  if (!from_ptr) return make_error(ErrorCode::kNotFound, name + " does not exist");
  const Resolved from = *from_ptr;
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* to_ptr, find(new_parent, new_name));
  const std::optional<Resolved> to = to_ptr ? std::optional(*to_ptr) : std::nullopt;
  if (parent == new_parent && name == new_name) return core::ok();
  const bool from_dir = from.entry.kind == EntryKind::kDirectory;
  if (mode == RenameMode::kNoReplace && to) return make_error(ErrorCode::kAlreadyExists, new_name);
  if (mode == RenameMode::kExchange && !to) return make_error(ErrorCode::kNotFound, new_name);
  if (to && mode != RenameMode::kExchange) {
    const bool to_dir = to->entry.kind == EntryKind::kDirectory;
    if (from_dir && !to_dir) return make_error(ErrorCode::kNotDirectory, new_name);
    if (!from_dir && to_dir) return make_error(ErrorCode::kIsDirectory, new_name);
    if (to_dir && !view_of(to->entry.dirs).empty()) {
      return make_error(ErrorCode::kNotEmpty, new_name + " is not empty");
    }
  }
  // A directory cannot move below itself.
  for (const auto* moving : {&from, to ? &*to : nullptr}) {
    if (!moving || moving->entry.kind != EntryKind::kDirectory) continue;
    const Ino other = moving == &from ? new_parent : parent;
    for (Ino at = other; at != kRootIno && at != 0; at = inodes_[at].parent) {
      if (inodes_[at].dirs == moving->entry.dirs) {
        return make_error(ErrorCode::kInvalidArgument, "cannot move a directory below itself");
      }
    }
  }
  const std::vector<DirId> src = inodes_[parent].dirs, dst = inodes_[new_parent].dirs;
  if (mode == RenameMode::kExchange) {
    SYNAPSE_RETURN_IF_ERROR(put_record(dst, new_name, from.entry, to->versions));
    SYNAPSE_RETURN_IF_ERROR(put_record(src, name, to->entry, from.versions));
  } else {
    std::vector<Version> replaced = from.versions;
    if (to) replaced.insert(replaced.end(), to->versions.begin(), to->versions.end());
    SYNAPSE_RETURN_IF_ERROR(put_record(dst, new_name, from.entry, replaced));
    SYNAPSE_RETURN_IF_ERROR(put_tombstone(src, name, from.versions));
  }
  // Inodes follow their entries.
  auto from_ino = by_name_.find({parent, name});
  const std::optional<Ino> moved =
      from_ino == by_name_.end() ? std::nullopt : std::optional(from_ino->second);
  if (moved) by_name_.erase(from_ino);
  auto to_ino = by_name_.find({new_parent, new_name});
  const std::optional<Ino> displaced =
      to_ino == by_name_.end() ? std::nullopt : std::optional(to_ino->second);
  if (displaced) by_name_.erase(to_ino);
  if (moved) {
    inodes_[*moved].parent = new_parent;
    inodes_[*moved].name = new_name;
    by_name_[{new_parent, new_name}] = *moved;
  }
  if (displaced) {
    Inode& other = inodes_[*displaced];
    if (mode == RenameMode::kExchange) {
      other.parent = parent;
      other.name = name;
      by_name_[{parent, name}] = *displaced;
    } else {
      other.parent = 0;
      drop_if_unused(*displaced);
    }
  }
  const auto dir_path = observer_ ? path_of(new_parent) : std::nullopt;
  lock.unlock();
  tell_kernel(parent, name);
  tell_kernel(new_parent, new_name);
  if (dir_path) {
    observer_(CommitNotice{dir_path->empty() ? new_name : *dir_path + "/" + new_name, false,
                           CallerScope::current()});
  }
  return core::ok();
}

core::Result<Attr> SharedFs::symlink(Ino parent, std::string_view name_view,
                                     std::string_view target) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  if (target.empty() || target.size() > kMaxSymlinkLength) {
    return make_error(target.empty() ? ErrorCode::kInvalidArgument : ErrorCode::kNameTooLong,
                      "bad symlink target");
  }
  const std::string name(name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  Lock lock(mu_);
  Entry entry;
  entry.kind = EntryKind::kSymlink;
  entry.target = std::string(target);
  entry.mode = 0777;
  SYNAPSE_ASSIGN_OR_RETURN(const Ino ino, add_entry(parent, name, std::move(entry)));
  auto attr = getattr_locked(ino);
  lock.unlock();
  tell_kernel(parent, name);
  return attr;
}

core::Result<std::string> SharedFs::readlink(Ino ino) {
  Lock lock(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
  if (it->second.type != FileType::kSymlink || it->second.parent == 0) {
    return make_error(ErrorCode::kInvalidArgument, "not a symlink");
  }
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(it->second.parent, it->second.name));
  if (!resolved || resolved->entry.kind != EntryKind::kSymlink) {
    return make_error(ErrorCode::kNotFound, "symlink no longer exists");
  }
  return resolved->entry.target;
}

core::Result<FsStats> SharedFs::statfs() {
  FsStats stats = backend_.stats();
  Lock lock(mu_);
  stats.files = inodes_.size();
  return stats;
}

}  // namespace synapse::fs
