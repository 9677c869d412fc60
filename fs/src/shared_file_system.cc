// The FileSystem operations of the shared tree: inodes, handles, the write and read paths
// (the namespace operations are in namespace_ops.cc).
#include <algorithm>
#include <thread>

#include "shared_impl.h"

namespace synapse::fs {

using core::ErrorCode;
using core::make_error;

namespace {

// Files up to this size are committed from memory on the calling thread.
constexpr uint64_t kImportInMemory = 4 << 20;
// Files from elsewhere at least this large are read while they arrive, polling the store for
// the block a read needs this often.
constexpr uint64_t kReadWhileFetchingBytes = 8 << 20;
constexpr core::Duration kFetchPoll = std::chrono::milliseconds(1);

std::vector<Version> versions_of(const Resolved* resolved) {
  return resolved ? resolved->versions : std::vector<Version>{};
}

}  // namespace

SharedFs::SharedFs(blockstore::BlockStore& store, Backend& backend, core::Env& env,
                   const core::Clock& clock, core::Rng& rng, SharedOptions options,
                   std::unique_ptr<OwnState> own_state)
    : store_(store),
      backend_(backend),
      env_(env),
      clock_(clock),
      options_(std::move(options)),
      self_(backend.self()),
      rng_(rng),
      own_state_(std::move(own_state)) {
  Inode root;
  root.parent = kRootIno;
  root.type = FileType::kDirectory;
  root.dirs = {root_dir_id()};
  root.lookups = 1;
  inodes_.emplace(kRootIno, std::move(root));
}

core::Result<std::unique_ptr<SharedFileSystem>> open_shared_file_system(
    blockstore::BlockStore& store, Backend& backend, core::Env& env, const core::Clock& clock,
    core::Rng& rng, SharedOptions options) {
  SYNAPSE_RETURN_IF_ERROR(options.import.validate());
  SYNAPSE_RETURN_IF_ERROR(env.create_dirs(options.state_dir / "scratch", 0700));
  SYNAPSE_ASSIGN_OR_RETURN(auto opened, OwnState::open(env, options.state_dir, options.sync));
  auto fs = std::make_unique<SharedFs>(store, backend, env, clock, rng, std::move(options),
                                       std::move(opened.first));
  SYNAPSE_RETURN_IF_ERROR(fs->load(std::move(opened.second)));
  return std::unique_ptr<SharedFileSystem>(std::move(fs));
}

// ---- inodes ----

Ino SharedFs::ino_for(Ino parent, const std::string& name, NodeKind kind, FileType type) {
  auto [it, inserted] = by_name_.try_emplace({parent, name}, 0);
  if (!inserted) {
    Inode& inode = inodes_[it->second];
    if (inode.type == type && inode.kind == kind) return it->second;
    // The name now holds something of another type: a new inode.
    inode.parent = 0;
    drop_if_unused(it->second);
  }
  const Ino ino = next_ino_++;
  it->second = ino;
  Inode inode;
  inode.parent = parent;
  inode.name = name;
  inode.kind = kind;
  inode.type = type;
  inodes_.emplace(ino, std::move(inode));
  return ino;
}

void SharedFs::drop_if_unused(Ino ino) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end() || ino == kRootIno) return;
  if (it->second.lookups > 0 || it->second.handles > 0) return;
  auto named = by_name_.find({it->second.parent, it->second.name});
  if (named != by_name_.end() && named->second == ino) by_name_.erase(named);
  const bool directory = it->second.type == FileType::kDirectory;
  inodes_.erase(it);
  if (!directory) return;
  // Entries a readdir listed (no lookup counted on them) go with their folder; a name looked
  // up again later gets a new inode under the folder's new one.
  std::vector<Ino> children;
  for (auto child = by_name_.lower_bound({ino, std::string()});
       child != by_name_.end() && child->first.first == ino; ++child) {
    children.push_back(child->second);
  }
  for (Ino child : children) {
    auto entry = inodes_.find(child);
    if (entry == inodes_.end()) continue;
    if (entry->second.lookups > 0 || entry->second.handles > 0) {
      entry->second.last = attr_of(child);
      entry->second.parent = 0;  // still held: keeps working detached, like a removed file
      by_name_.erase({ino, entry->second.name});
      continue;
    }
    drop_if_unused(child);
  }
}

void SharedFs::detach(Ino parent, const std::string& name) {
  auto it = by_name_.find({parent, name});
  if (it == by_name_.end()) return;
  const Ino ino = it->second;
  by_name_.erase(it);
  Inode& inode = inodes_[ino];
  inode.last = attr_of(ino);
  inode.parent = 0;
  drop_if_unused(ino);
}

Attr SharedFs::attr_for(Ino ino, const Resolved& resolved) {
  const Entry& entry = resolved.entry;
  Attr attr;
  attr.ino = ino;
  attr.type = type_of(entry.kind);
  attr.mode = entry.mode;
  attr.size = entry.kind == EntryKind::kSymlink ? entry.target.size() : entry.size;
  attr.nlink = entry.kind == EntryKind::kDirectory ? 2 : 1;
  attr.mtime_ns = entry.mtime_ns;
  attr.ctime_ns = static_cast<int64_t>(entry.version.hlc.wall_ms()) * 1'000'000;
  auto it = inodes_.find(ino);
  if (it != inodes_.end()) {
    if (entry.kind == EntryKind::kDirectory) it->second.dirs = entry.dirs;
    if (const auto& file = it->second.open; file && file->dirty) {
      attr.size = file->size;
      attr.mtime_ns = file->mtime_ns;
      attr.mode = file->mode;
    } else if (file && entry.kind == EntryKind::kFile && entry.content != file->shown) {
      file->newer = OpenFile::Newer{entry.content, entry.version.writer, entry.size};
    }
    it->second.last = attr;
  }
  return attr;
}

// Attributes of an inode from what is cached, without revalidating (under mu_).
Attr SharedFs::attr_of(Ino ino) {
  auto result = getattr_locked(ino);
  return result ? *result : inodes_[ino].last;
}

core::Result<Attr> SharedFs::getattr_locked(Ino ino) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
  Inode& inode = it->second;
  if (ino == kRootIno) {
    Attr attr;
    attr.ino = kRootIno;
    attr.type = FileType::kDirectory;
    attr.mode = 0755;
    attr.nlink = 2;
    return attr;
  }
  if (inode.kind != NodeKind::kShared) return special_attr(ino, inode);
  if (inode.parent == 0) {
    Attr attr = inode.last;
    if (const auto& file = inode.open; file) {
      attr.size = file->size;
      attr.mtime_ns = file->mtime_ns;
      attr.mode = file->mode;
    }
    return attr;
  }
  const std::string name = inode.name;
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(inode.parent, name));
  if (!resolved || type_of(resolved->entry.kind) != inode.type) {
    if (inode.open) return inode.last;  // an open file keeps working after it is replaced
    return make_error(ErrorCode::kNotFound, name + " no longer exists");
  }
  return attr_for(ino, *resolved);
}

core::Status SharedFs::check_name(std::string_view name) const {
  if (name.size() > kMaxNameLength) {
    return make_error(ErrorCode::kNameTooLong, "name longer than 255 bytes");
  }
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "invalid name");
  }
  return core::ok();
}

core::Status SharedFs::check_writable_dir(Ino parent) {
  auto it = inodes_.find(parent);
  if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
  if (it->second.type != FileType::kDirectory) {
    return make_error(ErrorCode::kNotDirectory, "not a directory");
  }
  if (it->second.kind != NodeKind::kShared) {
    return make_error(ErrorCode::kPermissionDenied, "read-only tree");
  }
  if (it->second.parent == 0) return make_error(ErrorCode::kNotFound, "directory was removed");
  return core::ok();
}

core::Result<Attr> SharedFs::lookup(Ino parent, std::string_view name_view) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  const std::string name(name_view);
  bool special = false;
  {
    Lock lock(mu_);
    auto it = inodes_.find(parent);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    special = it->second.kind != NodeKind::kShared || reserved_at_root(parent, name);
  }
  if (special) {
    SYNAPSE_ASSIGN_OR_RETURN(Attr attr, lookup_special(parent, name));
    Lock lock(mu_);
    ++inodes_[attr.ino].lookups;
    return attr;
  }
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  Lock lock(mu_);
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(parent, name));
  if (!resolved) return make_error(ErrorCode::kNotFound, name + " does not exist");
  const Ino ino = ino_for(parent, name, NodeKind::kShared, type_of(resolved->entry.kind));
  ++inodes_[ino].lookups;
  return attr_for(ino, *resolved);
}

void SharedFs::forget(Ino ino, uint64_t count) {
  Lock lock(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end() || ino == kRootIno) return;
  it->second.lookups -= std::min(it->second.lookups, count);
  drop_if_unused(ino);
}

core::Result<Attr> SharedFs::getattr(Ino ino) {
  std::vector<DirId> parent_dirs;
  {
    Lock lock(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    if (it->second.kind == NodeKind::kShared && it->second.parent != 0 && ino != kRootIno) {
      parent_dirs = inodes_[it->second.parent].dirs;
    }
  }
  refresh(parent_dirs);
  Lock lock(mu_);
  return getattr_locked(ino);
}

core::Result<std::vector<DirEntry>> SharedFs::readdir(Ino dir) {
  bool special = false;
  {
    Lock lock(mu_);
    auto it = inodes_.find(dir);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    special = it->second.kind != NodeKind::kShared;
  }
  if (special) return readdir_special(dir);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(dir));
  refresh(dirs);
  Lock lock(mu_);
  auto it = inodes_.find(dir);
  if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
  if (it->second.parent == 0) return make_error(ErrorCode::kNotFound, "directory was removed");
  std::vector<DirEntry> out;
  if (dir == kRootIno) {
    for (std::string_view name : {kCidDirName, kPeersDirName}) {
      const Ino ino = ino_for(dir, std::string(name),
                              name == kCidDirName ? NodeKind::kCidRoot : NodeKind::kPeersRoot,
                              FileType::kDirectory);
      out.push_back({std::string(name), special_attr(ino, inodes_[ino])});
    }
  }
  const DirView view = view_of(it->second.dirs);  // a copy: attr_for may touch views_
  for (const auto& [name, resolved] : view) {
    if (reserved_at_root(dir, name)) continue;
    const Ino ino = ino_for(dir, name, NodeKind::kShared, type_of(resolved.entry.kind));
    out.push_back({name, attr_for(ino, resolved)});
  }
  return out;
}

// ---- handles and the data path ----

HandleId SharedFs::add_handle(Handle handle, bool counted) {
  const HandleId id = next_handle_++;
  if (!counted) ++inodes_[handle.ino].handles;
  handles_.emplace(id, std::move(handle));
  return id;
}

core::Result<Handle*> SharedFs::handle(HandleId id) {
  Lock lock(mu_);
  auto it = handles_.find(id);
  if (it == handles_.end()) return make_error(ErrorCode::kInvalidArgument, "unknown handle");
  return &it->second;  // stable: unordered_map nodes do not move
}

core::Status SharedFs::ensure_local(const std::optional<crypto::Cid>& content,
                                    const WriterId& writer, uint64_t size) {
  if (!content) return core::ok();
  {
    Lock lock(mu_);
    touch_cached(*content);
    if (complete_.count(*content)) {
      if (writer != self_) ++cache_hits_;
      return core::ok();
    }
    if (writer != self_) ++cache_misses_;
  }
  SYNAPSE_RETURN_IF_ERROR(backend_.fetch(*content, writer, options_.network_timeout));
  Lock lock(mu_);
  complete_.insert(*content);
  if (writer != self_) note_cached(*content, size);
  return core::ok();
}

// Small files are fetched whole before the open returns; a big one only needs its root here:
// the rest arrives in file order while it is read (read() waits for the blocks it needs).
core::Status SharedFs::make_readable(const std::optional<crypto::Cid>& content,
                                     const WriterId& writer, uint64_t size) {
  if (!content) return core::ok();
  bool complete = false;
  {
    Lock lock(mu_);
    complete = complete_.count(*content) > 0;
  }
  if (complete || size < kReadWhileFetchingBytes) return ensure_local(content, writer, size);
  {
    Lock lock(mu_);
    if (writer != self_) ++cache_misses_;
  }
  backend_.prefetch(*content, writer);
  const core::MonoTime deadline = clock_.now() + options_.network_timeout;
  while (clock_.now() < deadline && backend_.fetching(*content)) {
    if (auto has = store_.has(*content); has && *has) {
      Lock lock(mu_);
      note_cached(*content, size);
      return core::ok();
    }
    std::this_thread::sleep_for(kFetchPoll);
  }
  return ensure_local(content, writer, size);  // the fetch ended (or stalled): its verdict
}

// The shared state of an open file, created on the first open (fetching the content first).
// Counts the caller's handle on the inode in the same step, so that a release of the last
// other handle cannot drop the state in between.
core::Result<std::shared_ptr<OpenFile>> SharedFs::open_file(Ino ino, bool truncate) {
  const auto share = [](Inode& inode) {
    ++inode.handles;
    return inode.open;
  };
  std::vector<DirId> parent_dirs;
  {
    Lock lock(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    if (it->second.open) return share(it->second);
    if (it->second.parent != 0) parent_dirs = inodes_[it->second.parent].dirs;
  }
  refresh(parent_dirs);  // close-to-open: what other nodes closed before this open
  std::optional<crypto::Cid> content;
  WriterId writer{};
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  {
    Lock lock(mu_);
    Inode& inode = inodes_[ino];
    if (inode.open) return share(inode);
    if (inode.type == FileType::kDirectory) {
      return make_error(ErrorCode::kIsDirectory, "is a directory");
    }
    if (inode.parent == 0) return make_error(ErrorCode::kNotFound, "file was removed");
    SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(inode.parent, inode.name));
    if (!resolved) return make_error(ErrorCode::kNotFound, inode.name + " no longer exists");
    content = resolved->entry.content;
    writer = resolved->entry.version.writer;
    size = resolved->entry.size;
    mode = resolved->entry.mode;
    mtime_ns = resolved->entry.mtime_ns;
  }
  if (!truncate) SYNAPSE_RETURN_IF_ERROR(make_readable(content, writer, size));
  auto file = std::make_shared<OpenFile>();
  SYNAPSE_ASSIGN_OR_RETURN(file->staged,
                           StagedFile::open(store_, env_, options_.state_dir / "scratch",
                                            truncate ? std::nullopt : content, options_.import));
  file->base = truncate ? std::nullopt : content;
  file->shown = file->base;
  file->base_writer = writer;
  file->size = file->staged->size();
  file->mode = mode;
  file->mtime_ns = mtime_ns;
  if (truncate && content) {
    file->dirty = true;
    file->mtime_ns = now_ns();
  }
  Lock lock(mu_);
  Inode& inode = inodes_[ino];
  if (!inode.open) inode.open = std::move(file);  // unless another thread was first
  return share(inode);
}

core::Result<OpenResult> SharedFs::open(Ino ino, OpenFlags flags) {
  {
    Lock lock(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    Inode& inode = it->second;
    if (inode.kind != NodeKind::kShared) {
      if (flags.write || flags.truncate) {
        return make_error(ErrorCode::kPermissionDenied, "read-only tree");
      }
      if (inode.type == FileType::kDirectory) {
        return make_error(ErrorCode::kIsDirectory, "is a directory");
      }
    }
  }
  Handle handle{ino, flags, nullptr, {}};
  std::optional<crypto::Cid> cid_entry;
  {
    Lock lock(mu_);
    const Inode& inode = inodes_[ino];
    if (inode.kind == NodeKind::kPeersFile) {
      for (auto& [name, text] : backend_.peer_files()) {
        if (name == inode.name) handle.text.assign(text.begin(), text.end());
      }
      return OpenResult{add_handle(std::move(handle)), false};
    }
    if (inode.kind == NodeKind::kCidEntry) cid_entry = inode.cid;
  }
  if (cid_entry) {
    // Content by ID never changes: the kernel may keep what it cached.
    auto file = std::make_shared<OpenFile>();
    SYNAPSE_ASSIGN_OR_RETURN(
        file->staged,
        StagedFile::open(store_, env_, options_.state_dir / "scratch", cid_entry, options_.import));
    file->base = cid_entry;
    handle.file = std::move(file);
    Lock lock(mu_);
    return OpenResult{add_handle(std::move(handle)), true};
  }
  std::shared_ptr<OpenFile> file;
  SYNAPSE_ASSIGN_OR_RETURN(file, open_file(ino, flags.truncate && flags.write));
  if (flags.truncate && flags.write && file->size > 0) {
    std::lock_guard data(file->mu);
    auto truncated = file->staged->truncate(0);
    if (!truncated) {
      Lock lock(mu_);
      Inode& inode = inodes_[ino];
      if (--inode.handles == 0) inode.open.reset();
      drop_if_unused(ino);
      return tl::unexpected(truncated.error());
    }
    file->size = 0;
    file->dirty = true;
    file->mtime_ns = now_ns();
  }
  Lock lock(mu_);
  Inode& inode = inodes_[ino];
  const std::pair<std::optional<crypto::Cid>, uint64_t> now_content{file->base, file->size.load()};
  const bool keep_cache = !file->dirty && inode.cached_content == now_content;
  inode.cached_content = now_content;
  handle.file = file;
  return OpenResult{add_handle(std::move(handle), /*counted=*/true), keep_cache};
}

core::Result<std::pair<Attr, OpenResult>> SharedFs::create(Ino parent, std::string_view name_view,
                                                           uint32_t mode, OpenFlags flags) {
  SYNAPSE_RETURN_IF_ERROR(check_name(name_view));
  const std::string name(name_view);
  SYNAPSE_ASSIGN_OR_RETURN(auto dirs, dirs_of(parent));
  refresh(dirs);
  Ino ino = 0;
  {
    Lock lock(mu_);
    SYNAPSE_RETURN_IF_ERROR(check_writable_dir(parent));
    if (reserved_at_root(parent, name)) return make_error(ErrorCode::kAlreadyExists, name);
    SYNAPSE_ASSIGN_OR_RETURN(const Resolved* existing, find(parent, name));
    if (existing) {
      if (flags.exclusive) return make_error(ErrorCode::kAlreadyExists, name + " exists");
      if (existing->entry.kind == EntryKind::kDirectory) {
        return make_error(ErrorCode::kIsDirectory, name + " is a directory");
      }
      ino = ino_for(parent, name, NodeKind::kShared, type_of(existing->entry.kind));
      ++inodes_[ino].lookups;
    } else {
      Entry entry;
      entry.kind = EntryKind::kFile;
      entry.mode = mode & 07777;
      SYNAPSE_ASSIGN_OR_RETURN(ino, add_entry(parent, name, std::move(entry)));
    }
  }
  auto opened = open(ino, flags);
  tell_kernel(parent, name, ino);
  Lock lock(mu_);
  if (!opened) {
    inodes_[ino].lookups--;
    drop_if_unused(ino);
    return tl::unexpected(opened.error());
  }
  return std::pair{attr_of(ino), *opened};
}

core::Result<size_t> SharedFs::read(HandleId id, uint64_t offset, std::span<uint8_t> out) {
  SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(id));
  if (!h->file) {
    if (offset >= h->text.size()) return 0;
    const size_t n = std::min<size_t>(out.size(), h->text.size() - offset);
    std::copy_n(h->text.begin() + static_cast<ptrdiff_t>(offset), n, out.begin());
    return n;
  }
  std::lock_guard data(h->file->mu);
  if (!h->flags.write) follow_newer(*h);
  auto n = h->file->staged->read(offset, out);
  // A big file is read while it arrives: wait for the blocks this read needs.
  const core::MonoTime deadline = clock_.now() + options_.network_timeout;
  while (!n && n.error().code() == ErrorCode::kNotFound && h->file->base &&
         backend_.fetching(*h->file->base) && clock_.now() < deadline) {
    std::this_thread::sleep_for(kFetchPoll);
    n = h->file->staged->read(offset, out);
  }
  if (!n && n.error().code() == ErrorCode::kNotFound && h->file->base) {
    // A cached block was collected since the open: fetch the content again.
    {
      Lock lock(mu_);
      complete_.erase(*h->file->base);
    }
    SYNAPSE_RETURN_IF_ERROR(ensure_local(h->file->base, h->file->base_writer));
    n = h->file->staged->read(offset, out);
  }
  return n;
}

core::Result<size_t> SharedFs::write(HandleId id, uint64_t offset, std::span<const uint8_t> data) {
  SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(id));
  if (!h->flags.write || !h->file) {
    return make_error(ErrorCode::kInvalidArgument, "handle not open for writing");
  }
  OpenFile& file = *h->file;
  std::lock_guard lock(file.mu);
  if (h->flags.append) offset = file.staged->size();
  SYNAPSE_RETURN_IF_ERROR(file.staged->write(offset, data));
  file.size = file.staged->size();
  file.mtime_ns = now_ns();
  file.dirty = true;
  return data.size();
}

void SharedFs::follow_newer(const Handle& h) {
  OpenFile& file = *h.file;
  std::optional<OpenFile::Newer> newer;
  {
    Lock lock(mu_);
    if (!file.newer || file.dirty) return;
    for (const auto& [id, other] : handles_) {
      if (other.ino == h.ino && other.flags.write) return;  // POSIX within the node: it stays
    }
    newer = file.newer;
  }
  // On failure (the writer is gone, say) the handle keeps what it showed.
  if (!ensure_local(newer->content, newer->writer, newer->size)) return;
  if (!file.staged->rebase(newer->content)) return;
  file.base = newer->content;
  file.base_writer = newer->writer;
  file.size = file.staged->size();
  Lock lock(mu_);
  file.shown = newer->content;
  if (file.newer && file.newer->content == newer->content) file.newer.reset();
}

// Stores the staged content and writes its record (file.mu held by the caller).
core::Status SharedFs::commit(Ino ino, OpenFile& file) {
  if (!file.dirty) return core::ok();
  std::optional<crypto::Cid> root = file.base;
  const bool stored_here = file.staged->dirty();
  if (file.staged->streaming()) {
    // Written front to back: its chunks are stored already; only the DAG's top is left.
    SYNAPSE_ASSIGN_OR_RETURN(root, file.staged->finish_stream());
  } else if (file.staged->dirty()) {
    root.reset();
    const uint64_t size = file.staged->size();
    if (size > 0 && size <= kImportInMemory) {
      // Small files: hashed on this thread (starting the importer's threads costs more).
      core::Bytes bytes(size);
      SYNAPSE_RETURN_IF_ERROR(file.staged->read(0, bytes));
      SYNAPSE_ASSIGN_OR_RETURN(auto imported,
                               blockstore::import_bytes(store_, bytes, options_.import, true));
      root = imported.root;
    } else if (size > 0) {
      auto content = file.staged->content();
      SYNAPSE_ASSIGN_OR_RETURN(
          auto imported, blockstore::import_file(store_, *content, options_.import, true, {}, 2));
      root = imported.root;
    }
  }
  Entry entry;
  entry.kind = EntryKind::kFile;
  entry.content = root;
  entry.size = file.staged->size();
  entry.mode = file.mode;
  entry.mtime_ns = file.mtime_ns;
  core::Status written = core::ok();
  {
    Lock lock(mu_);
    Inode& inode = inodes_[ino];
    if (inode.parent != 0) {
      auto shown = find(inode.parent, inode.name);
      written = shown ? put_record(inodes_[inode.parent].dirs, inode.name, std::move(entry),
                                   versions_of(*shown))
                      : core::Status(tl::unexpected(shown.error()));
    }
    if (written) {
      inode.cached_content = std::pair{root, file.staged->size()};
      file.shown = root;
      file.newer.reset();
    }
  }
  // The import pinned the new content once more than the record needs.
  if (root && stored_here) (void)store_.unpin(*root);
  SYNAPSE_RETURN_IF_ERROR(written);
  SYNAPSE_RETURN_IF_ERROR(file.staged->rebase(root));
  file.base = root;
  file.base_writer = self_;
  file.dirty = false;
  return core::ok();
}

core::Status SharedFs::flush(HandleId id) {
  SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(id));
  if (!h->file || !h->flags.write) return core::ok();
  const Ino ino = h->ino;
  {
    std::lock_guard lock(h->file->mu);
    SYNAPSE_RETURN_IF_ERROR(commit(ino, *h->file));
  }
  notify(ino, id);
  return core::ok();
}

std::optional<std::string> SharedFs::path_of(Ino ino) const {
  std::string path;
  for (Ino at = ino; at != kRootIno;) {
    auto it = inodes_.find(at);
    if (it == inodes_.end() || it->second.parent == 0) return std::nullopt;
    path = path.empty() ? it->second.name : it->second.name + "/" + path;
    at = it->second.parent;
  }
  return path;
}

namespace {
thread_local std::optional<uint32_t> current_caller;
}  // namespace

CallerScope::CallerScope(uint32_t uid) : previous_(current_caller) { current_caller = uid; }
CallerScope::~CallerScope() { current_caller = previous_; }
std::optional<uint32_t> CallerScope::current() { return current_caller; }

void SharedFs::notify(Ino ino, std::optional<HandleId> ignore) {
  const bool from_kernel = CallerScope::current().has_value();
  if (!observer_ && (from_kernel || !kernel_)) return;
  CommitNotice notice;
  notice.uid = CallerScope::current();
  Ino parent = 0;
  std::string name;
  {
    Lock lock(mu_);
    auto path = path_of(ino);
    if (!path) return;
    notice.path = std::move(*path);
    parent = inodes_[ino].parent;
    name = inodes_[ino].name;
    for (const auto& [id, other] : handles_) {
      if (other.ino == ino && other.flags.write && id != ignore) notice.open_for_writing = true;
    }
  }
  tell_kernel(parent, name, ino);
  if (observer_) observer_(notice);
}

void SharedFs::tell_kernel(Ino parent, std::string_view name, std::optional<Ino> ino) {
  KernelCache* kernel = kernel_.load();
  if (kernel == nullptr || CallerScope::current()) return;
  if (parent != 0) kernel->forget_entry(parent, name);
  if (ino) kernel->forget_content(*ino);
}

core::Result<ContentInfo> SharedFs::content_info(Ino ino) {
  Lock lock(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
  if (it->second.type == FileType::kDirectory) {
    return make_error(ErrorCode::kIsDirectory, "is a directory");
  }
  if (it->second.kind == NodeKind::kCidEntry) {
    return ContentInfo{it->second.cid, {}, it->second.last.size};
  }
  if (it->second.kind != NodeKind::kShared || it->second.parent == 0) {
    return make_error(ErrorCode::kNotFound, "not in the shared tree");
  }
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(it->second.parent, it->second.name));
  if (!resolved || resolved->entry.kind != EntryKind::kFile) {
    return make_error(ErrorCode::kNotFound, it->second.name + " is not a file");
  }
  return ContentInfo{resolved->entry.content, resolved->entry.version.writer, resolved->entry.size};
}

core::Status SharedFs::fsync(HandleId id) {
  SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(id));
  if (!h->file) return core::ok();
  std::optional<crypto::Cid> root;
  {
    std::lock_guard lock(h->file->mu);
    SYNAPSE_RETURN_IF_ERROR(commit(h->ino, *h->file));
    root = h->file->base;
  }
  SYNAPSE_RETURN_IF_ERROR(publish_now());
  // The content and the directory layer that names it: with both replicated, the file
  // survives its writer.
  std::optional<crypto::Cid> layer;
  {
    Lock lock(mu_);
    const Inode& inode = inodes_[h->ino];
    if (inode.parent != 0 && !inodes_[inode.parent].dirs.empty()) {
      layer = dirs_[inodes_[inode.parent].dirs.front()].own_root;
    }
  }
  for (const auto& cid : {root, layer}) {
    if (cid) SYNAPSE_RETURN_IF_ERROR(backend_.wait_replicated(*cid, options_.fsync_timeout));
  }
  return core::ok();
}

core::Status SharedFs::release(HandleId id) {
  SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(id));
  core::Status committed = core::ok();
  if (h->file && h->flags.write) {
    std::lock_guard lock(h->file->mu);
    committed = commit(h->ino, *h->file);
  }
  const Ino ino = h->ino;
  const bool wrote = h->file && h->flags.write && committed;
  // Told before the handle goes: once the inode is unused its path is gone too.
  if (wrote) notify(ino, id);
  Lock lock(mu_);
  handles_.erase(id);
  Inode& inode = inodes_[ino];
  if (--inode.handles == 0) inode.open.reset();
  drop_if_unused(ino);
  return committed;
}

core::Result<Attr> SharedFs::setattr(Ino ino, const SetAttr& changes,
                                     std::optional<HandleId> handle_id) {
  FileType type;
  bool open_now = false;
  {
    Lock lock(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return make_error(ErrorCode::kNotFound, "stale inode");
    if (it->second.kind != NodeKind::kShared || ino == kRootIno) {
      return make_error(ErrorCode::kPermissionDenied, "read-only");
    }
    type = it->second.type;
    open_now = it->second.open != nullptr;
  }
  if (changes.size && type == FileType::kDirectory) {
    return make_error(ErrorCode::kIsDirectory, "is a directory");
  }
  if (type == FileType::kRegular && (changes.size || open_now)) {
    // Files change through their open state, shared with any open handle.
    std::optional<HandleId> temporary;
    if (!handle_id || !handle(*handle_id)) {
      SYNAPSE_ASSIGN_OR_RETURN(auto opened, open(ino, OpenFlags{.write = true}));
      temporary = opened.handle;
      handle_id = opened.handle;
    }
    auto changed = [&]() -> core::Status {
      SYNAPSE_ASSIGN_OR_RETURN(Handle * h, handle(*handle_id));
      std::lock_guard lock(h->file->mu);
      OpenFile& file = *h->file;
      if (changes.size) {
        SYNAPSE_RETURN_IF_ERROR(file.staged->truncate(*changes.size));
        file.size = *changes.size;
        file.mtime_ns = now_ns();
      }
      if (changes.mode) file.mode = *changes.mode & 07777;
      if (changes.mtime_ns) file.mtime_ns = *changes.mtime_ns;
      file.dirty = true;
      return commit(h->ino, file);
    }();
    if (temporary) (void)release(*temporary);
    SYNAPSE_RETURN_IF_ERROR(changed);
    tell_kernel(0, {}, ino);
    Lock lock(mu_);
    return getattr_locked(ino);
  }
  // Attributes alone: a new record naming the same content.
  Lock lock(mu_);
  Inode& inode = inodes_[ino];
  if (inode.parent == 0) return make_error(ErrorCode::kNotFound, "removed");
  SYNAPSE_ASSIGN_OR_RETURN(const Resolved* resolved, find(inode.parent, inode.name));
  if (!resolved) return make_error(ErrorCode::kNotFound, inode.name + " no longer exists");
  Entry entry = resolved->entry;
  if (changes.mode) entry.mode = *changes.mode & 07777;
  if (changes.mtime_ns) entry.mtime_ns = *changes.mtime_ns;
  SYNAPSE_RETURN_IF_ERROR(
      put_record(inodes_[inode.parent].dirs, inode.name, std::move(entry), resolved->versions));
  auto attr = getattr_locked(ino);
  lock.unlock();
  tell_kernel(0, {}, ino);
  return attr;
}

}  // namespace synapse::fs
