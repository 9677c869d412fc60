// A standalone shared file system: one node, no network (the host side of open_standalone:
// reads the system clock, statvfs and runs the publishing thread).
#include "synapse/fs/standalone.h"

#include <sys/statvfs.h>

#include <chrono>
#include <condition_variable>
#include <thread>

#include "synapse/blockstore/lmdb_store.h"
#include "synapse/crypto/system_rng.h"
#include "synapse/fs/shared_file_system.h"

namespace synapse::fs {

namespace {

// Everything is local: no other writers, nothing to fetch, replication is this node alone.
class LocalBackend final : public Backend {
 public:
  LocalBackend(blockstore::BlockStore& store, std::filesystem::path dir)
      : store_(store), dir_(std::move(dir)) {}

  WriterId self() const override { return WriterId{}; }
  uint64_t wall_ms() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
  core::Result<std::vector<LayerRef>> layers(const DirId&, core::Duration) override {
    return std::vector<LayerRef>{};
  }
  void publish(const DirId&, const LayerRef&) override {}
  core::Status fetch(const crypto::Cid& root, const WriterId&, core::Duration) override {
    SYNAPSE_ASSIGN_OR_RETURN(const bool has, store_.has(root));
    if (!has) return core::make_error(core::ErrorCode::kIo, "no peer holds " + root.to_string());
    return core::ok();
  }
  void added(const crypto::Cid&) override {}
  void removed(const crypto::Cid&) override {}
  core::Status wait_replicated(const crypto::Cid&, core::Duration) override { return core::ok(); }
  FsStats stats() override {
    FsStats stats;
    struct statvfs vfs {};
    if (::statvfs(dir_.c_str(), &vfs) == 0) {
      stats.total_bytes = uint64_t{vfs.f_blocks} * vfs.f_frsize;
      stats.free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
    }
    return stats;
  }
  std::vector<std::pair<std::string, std::string>> peer_files() override { return {}; }

 private:
  blockstore::BlockStore& store_;
  std::filesystem::path dir_;
};

// Owns the store, the backend and the publishing thread of a standalone file system.
class Standalone final : public FileSystem {
 public:
  static core::Result<std::unique_ptr<FileSystem>> open(const std::filesystem::path& dir) {
    auto self = std::unique_ptr<Standalone>(new Standalone());
    blockstore::LmdbOptions store_options;
    store_options.sync = false;
    SYNAPSE_ASSIGN_OR_RETURN(self->store_,
                             blockstore::open_lmdb_store(dir / "blocks", store_options));
    self->backend_ = std::make_unique<LocalBackend>(*self->store_, dir);
    SharedOptions options;
    options.state_dir = dir / "fs";
    options.sync = false;
    SYNAPSE_ASSIGN_OR_RETURN(
        self->fs_, open_shared_file_system(*self->store_, *self->backend_, core::Env::posix(),
                                           self->clock_, self->rng_, options));
    self->publisher_ = std::thread([raw = self.get()] { raw->publish_loop(); });
    return std::unique_ptr<FileSystem>(std::move(self));
  }

  ~Standalone() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (publisher_.joinable()) publisher_.join();
    if (fs_) (void)fs_->publish_now();
  }

  core::Result<Attr> lookup(Ino p, std::string_view n) override { return fs_->lookup(p, n); }
  void forget(Ino i, uint64_t c) override { fs_->forget(i, c); }
  core::Result<Attr> getattr(Ino i) override { return fs_->getattr(i); }
  core::Result<Attr> setattr(Ino i, const SetAttr& c, std::optional<HandleId> h) override {
    return fs_->setattr(i, c, h);
  }
  core::Result<std::vector<DirEntry>> readdir(Ino d) override { return fs_->readdir(d); }
  core::Result<OpenResult> open(Ino i, OpenFlags f) override { return fs_->open(i, f); }
  core::Result<std::pair<Attr, OpenResult>> create(Ino p, std::string_view n, uint32_t m,
                                                   OpenFlags f) override {
    return fs_->create(p, n, m, f);
  }
  core::Result<size_t> read(HandleId h, uint64_t o, std::span<uint8_t> out) override {
    return fs_->read(h, o, out);
  }
  core::Result<size_t> write(HandleId h, uint64_t o, std::span<const uint8_t> d) override {
    return fs_->write(h, o, d);
  }
  core::Status flush(HandleId h) override { return fs_->flush(h); }
  core::Status fsync(HandleId h) override { return fs_->fsync(h); }
  core::Status release(HandleId h) override { return fs_->release(h); }
  core::Result<Attr> mkdir(Ino p, std::string_view n, uint32_t m) override {
    return fs_->mkdir(p, n, m);
  }
  core::Status rmdir(Ino p, std::string_view n) override { return fs_->rmdir(p, n); }
  core::Status unlink(Ino p, std::string_view n) override { return fs_->unlink(p, n); }
  core::Status rename(Ino p, std::string_view n, Ino np, std::string_view nn,
                      RenameMode m) override {
    return fs_->rename(p, n, np, nn, m);
  }
  core::Result<Attr> symlink(Ino p, std::string_view n, std::string_view t) override {
    return fs_->symlink(p, n, t);
  }
  core::Result<std::string> readlink(Ino i) override { return fs_->readlink(i); }
  core::Result<FsStats> statfs() override { return fs_->statfs(); }

 private:
  Standalone() = default;

  void publish_loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(50));
      lock.unlock();
      fs_->tick();
      lock.lock();
    }
  }

  core::SteadyClock clock_;
  crypto::SystemRng rng_;
  std::unique_ptr<blockstore::BlockStore> store_;
  std::unique_ptr<LocalBackend> backend_;
  std::unique_ptr<SharedFileSystem> fs_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread publisher_;
};

}  // namespace

core::Result<std::unique_ptr<FileSystem>> open_standalone(const std::filesystem::path& dir) {
  return Standalone::open(dir);
}

}  // namespace synapse::fs
