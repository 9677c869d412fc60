// Internals of the shared file system, split over shared_file_system.cc (inodes, handles, the
// data path), namespace_ops.cc (mkdir, rename, ...), directories.cc (layers, revalidation,
// views, records, publishing), block_cache.cc and special_trees.cc (.cid/ and .peers/).
//
// Locking: `mu_` guards every member below it. An OpenFile's own mutex serialises the data
// path of one file; it is taken before `mu_`, never while holding it. Nothing waits for the
// network while holding either lock except a commit, which holds its file's lock (so a close
// does not race a write on the same file).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "own_state.h"
#include "staged_file.h"
#include "synapse/fs/resolve.h"
#include "synapse/fs/shared_file_system.h"

namespace synapse::fs {

// The content of one open file, shared by every handle open on its inode.
struct OpenFile {
  std::mutex mu;  // the data path
  std::unique_ptr<StagedFile> staged;
  std::optional<crypto::Cid> base;  // the committed content staged is based on
  WriterId base_writer{};
  // Mirrors for getattr, which runs under mu_ and must not take `mu`.
  std::atomic<uint64_t> size{0};
  std::atomic<int64_t> mtime_ns{0};
  std::atomic<uint32_t> mode{0644};
  std::atomic<bool> dirty{false};  // content or attributes not committed yet
  // Under the file system's mu_: the content the file shows (its base), and a newer content the
  // record shows now (written elsewhere while the file is open here). A handle that only reads
  // moves to it at its next read unless something writes the file here, so that `tail -f` of
  // a file another node appends to sees what it gains.
  struct Newer {
    std::optional<crypto::Cid> content;
    WriterId writer{};
    uint64_t size = 0;
  };
  std::optional<crypto::Cid> shown;
  std::optional<Newer> newer;
};

enum class NodeKind : uint8_t { kShared, kCidRoot, kCidEntry, kPeersRoot, kPeersFile };

struct Inode {
  Ino parent = 0;  // 0: unlinked (or replaced) while still open or looked up
  std::string name;
  NodeKind kind = NodeKind::kShared;
  FileType type = FileType::kRegular;
  std::vector<DirId> dirs;         // a shared directory's IDs, as last resolved
  std::optional<crypto::Cid> cid;  // a .cid/ entry
  uint64_t lookups = 0;
  size_t handles = 0;
  std::shared_ptr<OpenFile> open;
  Attr last;  // attributes last reported, for inodes no longer in the tree
  // What the kernel's page cache holds: the content at the last open.
  std::optional<std::pair<std::optional<crypto::Cid>, uint64_t>> cached_content;
};

struct Handle {
  Ino ino = 0;
  OpenFlags flags;
  std::shared_ptr<OpenFile> file;  // null for .peers/ files
  core::Bytes text;                // .peers/ file contents, captured at open
};

struct Foreign {
  LayerRef ref;
  std::shared_ptr<const Layer> layer;
};

struct DirState {
  Layer own;
  std::optional<crypto::Cid> own_root;  // published
  uint64_t own_seq = 0;
  bool dirty = false;
  core::MonoTime dirty_since{};
  std::map<WriterId, Foreign> foreign;
  std::optional<core::MonoTime> validated;
  uint64_t generation = 0;
};

class SharedFs final : public SharedFileSystem {
 public:
  SharedFs(blockstore::BlockStore& store, Backend& backend, core::Env& env,
           const core::Clock& clock, core::Rng& rng, SharedOptions options,
           std::unique_ptr<OwnState> own_state);
  core::Status load(OwnState::Contents contents);

  // FileSystem
  core::Result<Attr> lookup(Ino parent, std::string_view name) override;
  void forget(Ino ino, uint64_t count) override;
  core::Result<Attr> getattr(Ino ino) override;
  core::Result<Attr> setattr(Ino ino, const SetAttr& changes,
                             std::optional<HandleId> handle) override;
  core::Result<std::vector<DirEntry>> readdir(Ino dir) override;
  core::Result<OpenResult> open(Ino ino, OpenFlags flags) override;
  core::Result<std::pair<Attr, OpenResult>> create(Ino parent, std::string_view name, uint32_t mode,
                                                   OpenFlags flags) override;
  core::Result<size_t> read(HandleId handle, uint64_t offset, std::span<uint8_t> out) override;
  core::Result<size_t> write(HandleId handle, uint64_t offset,
                             std::span<const uint8_t> data) override;
  core::Status flush(HandleId handle) override;
  core::Status fsync(HandleId handle) override;
  core::Status release(HandleId handle) override;
  core::Result<Attr> mkdir(Ino parent, std::string_view name, uint32_t mode) override;
  core::Status rmdir(Ino parent, std::string_view name) override;
  core::Status unlink(Ino parent, std::string_view name) override;
  core::Status rename(Ino parent, std::string_view name, Ino new_parent, std::string_view new_name,
                      RenameMode mode) override;
  core::Result<Attr> symlink(Ino parent, std::string_view name, std::string_view target) override;
  core::Result<std::string> readlink(Ino ino) override;
  core::Result<FsStats> statfs() override;
  core::Result<ContentInfo> content_info(Ino ino) override;

  // SharedFileSystem
  void set_commit_observer(std::function<void(const CommitNotice&)> observer) override {
    observer_ = std::move(observer);
  }
  void set_kernel_cache(KernelCache* cache) override { kernel_ = cache; }
  void tick() override;
  core::Status publish_now() override;
  CacheStats cache_stats() const override;
  void republish_all() override;

 private:
  using Lock = std::unique_lock<std::mutex>;

  // --- directories.cc ---
  // Brings the layers of `dirs` up to date if older than revalidate_after (or always, with
  // `force`). Takes mu_ itself; call without it.
  void refresh(const std::vector<DirId>& dirs, bool force = false);
  // The directory IDs of inode `dir` (kNotDirectory, kNotFound), for refresh().
  core::Result<std::vector<DirId>> dirs_of(Ino dir);
  std::vector<const Layer*> layers_of(const std::vector<DirId>& dirs);
  const DirView& view_of(const std::vector<DirId>& dirs);
  // What `name` shows in directory inode `dir`; nullptr if nothing.
  core::Result<const Resolved*> find(Ino dir, const std::string& name);
  // Writes a record into this node's layer at `name` in `dirs`, replacing `replaces` and the
  // history of this node's own record there. Pins entry.content (which must be stored
  // completely) and unpins what this node's previous record there held.
  core::Status put_record(const std::vector<DirId>& dirs, const std::string& name, Entry entry,
                          const std::vector<Version>& replaces);
  core::Status put_tombstone(const std::vector<DirId>& dirs, const std::string& name,
                             const std::vector<Version>& replaces);
  core::Status publish_due(bool everything);
  // Sets this node's record of `name` in directory ID `id` (nullopt: erases it), keeping the
  // cached views that were up to date so without a full resolution.
  void set_own_record(const DirId& id, const std::string& name, std::optional<Entry> entry);
  Version next_version();

  // --- block_cache.cc ---
  // A root fetched from elsewhere is stored (unpinned) with about `bytes` of blocks; under mu_.
  void note_cached(const crypto::Cid& root, uint64_t bytes);
  void touch_cached(const crypto::Cid& root);
  // Evicts least recently used cached roots beyond cache_bytes (takes mu_).
  void evict_cache();

  // --- special_trees.cc ---
  // Lookups and listings in the read-only trees; they take mu_ themselves (a lookup by CID
  // may fetch).
  core::Result<Attr> lookup_special(Ino parent, const std::string& name);
  core::Result<std::vector<DirEntry>> readdir_special(Ino dir);
  // Under mu_.
  Attr special_attr(Ino ino, Inode& inode);
  // The type and size of the UnixFS object at `cid`, which is stored (under mu_ or not).
  core::Result<std::pair<FileType, uint64_t>> cid_shape(const crypto::Cid& cid);

  // --- shared_file_system.cc ---
  Ino ino_for(Ino parent, const std::string& name, NodeKind kind, FileType type);
  Attr attr_for(Ino ino, const Resolved& resolved);
  Attr attr_of(Ino ino);
  core::Result<Attr> getattr_locked(Ino ino);
  void drop_if_unused(Ino ino);
  void detach(Ino parent, const std::string& name);
  // Makes `content` local (fetching it from `writer` and the providers); `size` is its file
  // size, for the cache's accounting.
  core::Status ensure_local(const std::optional<crypto::Cid>& content, const WriterId& writer,
                            uint64_t size = 0);
  core::Status make_readable(const std::optional<crypto::Cid>& content, const WriterId& writer,
                             uint64_t size);
  core::Result<std::shared_ptr<OpenFile>> open_file(Ino ino, bool truncate);
  core::Status commit(Ino ino, OpenFile& file);
  // Moves a file open for reading through `h` to the newer content its record shows, if any
  // and nothing writes it here (file.mu held by the caller).
  void follow_newer(const Handle& h);
  core::Result<Handle*> handle(HandleId id);
  // Registers an open handle; `counted`: open_file() already counted it on its inode.
  HandleId add_handle(Handle handle, bool counted = false);
  core::Status check_name(std::string_view name) const;
  // Tells the observer (if any) that `ino` changed, and the kernel when the change came from
  // outside its requests; `ignore` is the handle the change came through. Takes mu_ itself.
  void notify(Ino ino, std::optional<HandleId> ignore);
  // Tells the kernel cache that `name` in `parent` (and `ino`'s content, if given) changed,
  // when the calling thread serves no kernel request. Without mu_.
  void tell_kernel(Ino parent, std::string_view name, std::optional<Ino> ino = std::nullopt);
  // The tree path of an inode in the shared tree ("" for the root, nullopt when detached);
  // under mu_.
  std::optional<std::string> path_of(Ino ino) const;
  int64_t now_ns() { return static_cast<int64_t>(backend_.wall_ms()) * 1'000'000; }

  // --- namespace_ops.cc ---
  // Writes the record of a new entry `name` in `parent` (under mu_) and counts one lookup on
  // its inode; kAlreadyExists if the name shows anything.
  core::Result<Ino> add_entry(Ino parent, const std::string& name, Entry entry);
  core::Status check_writable_dir(Ino parent);

  blockstore::BlockStore& store_;
  Backend& backend_;
  core::Env& env_;
  const core::Clock& clock_;
  SharedOptions options_;
  WriterId self_;
  std::mutex publish_mu_;  // one publication at a time
  std::function<void(const CommitNotice&)> observer_;
  std::atomic<KernelCache*> kernel_{nullptr};

  mutable std::mutex mu_;
  core::Rng& rng_;
  std::unique_ptr<OwnState> own_state_;
  HlcClock hlc_;
  std::map<DirId, DirState> dirs_;
  struct CachedView {
    std::vector<uint64_t> generations;  // of its directory IDs when it was last brought up to date
    Resolver resolver;
  };
  std::map<std::vector<DirId>, CachedView> views_;
  std::unordered_map<Ino, Inode> inodes_;
  std::map<std::pair<Ino, std::string>, Ino> by_name_;
  Ino next_ino_ = kRootIno + 1;
  std::unordered_map<HandleId, Handle> handles_;
  HandleId next_handle_ = 1;
  std::set<crypto::Cid> complete_;  // roots known to be stored completely
  struct CachedRoot {
    uint64_t bytes = 0;
    uint64_t last_use = 0;
  };
  std::map<crypto::Cid, CachedRoot> cached_;  // fetched content, not pinned by this node
  uint64_t cached_bytes_ = 0;
  uint64_t use_clock_ = 0;
  uint64_t cache_hits_ = 0;  // CacheStats
  uint64_t cache_misses_ = 0;
};

// Names the root shows besides the shared tree.
inline constexpr std::string_view kCidDirName = ".cid";
inline constexpr std::string_view kPeersDirName = ".peers";

inline bool reserved_at_root(Ino parent, std::string_view name) {
  return parent == kRootIno && (name == kCidDirName || name == kPeersDirName);
}

inline FileType type_of(EntryKind kind) {
  switch (kind) {
    case EntryKind::kDirectory:
      return FileType::kDirectory;
    case EntryKind::kSymlink:
      return FileType::kSymlink;
    default:
      return FileType::kRegular;
  }
}

}  // namespace synapse::fs
