// The libuv side of the shared file system: the Backend served from the loop, the publishing
// thread and the mount.
#include "fs_host.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "synapse/core/guarded.h"
#include "synapse/crypto/system_rng.h"
#include "synapse/fs/shared_file_system.h"
#include "synapse/mount/mount.h"

namespace synapse::daemon {

namespace {

using core::ErrorCode;
using core::make_error;
using namespace std::chrono_literals;

constexpr uint8_t kLayerValueVersion = 1;
constexpr core::Duration kPollInterval = 100ms;
// How often a directory record that reached no node is stored again.
constexpr core::Duration kRetryPublish = 2s;

dht::Key dir_key(const fs::DirId& dir) { return dht::Key(dir); }

// A result that a loop callback hands to a waiting thread.
template <typename T>
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<T> value;
  void set(T v) {
    {
      std::lock_guard lock(mu);
      if (!value) value = std::move(v);
    }
    cv.notify_all();
  }
};

class Host;

class LoopBackend final : public fs::Backend {
 public:
  explicit LoopBackend(Host& host) : host_(host) {}
  fs::WriterId self() const override;
  uint64_t wall_ms() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
  core::Result<std::vector<fs::LayerRef>> layers(const fs::DirId& dir,
                                                 core::Duration timeout) override;
  void publish(const fs::DirId& dir, const fs::LayerRef& layer) override;
  core::Status fetch(const crypto::Cid& root, const fs::WriterId& hint,
                     core::Duration stall_timeout) override;
  void prefetch(const crypto::Cid& root, const fs::WriterId& hint) override;
  bool fetching(const crypto::Cid& root) override;
  void added(const crypto::Cid&) override { pins_changed_ = true; }
  void removed(const crypto::Cid&) override { pins_changed_ = true; }
  core::Status wait_replicated(const crypto::Cid& root, core::Duration timeout) override;
  fs::FsStats stats() override;
  std::vector<std::pair<std::string, std::string>> peer_files() override {
    std::lock_guard lock(peers_mu_);
    return peers_;
  }

  std::atomic<bool> pins_changed_{false};
  std::mutex peers_mu_;
  std::vector<std::pair<std::string, std::string>> peers_;

 private:
  // One fetch per root at a time, shared by prefetch() and every fetch() of it.
  struct Flight {
    Waiter<core::Status> done;
    std::atomic<exchange::Exchange::FetchId> id{0};
    std::atomic<uint64_t> progressed{0};
  };
  // The running fetch of `root`, or a new one; null when the node is stopping.
  std::shared_ptr<Flight> start_fetch(const crypto::Cid& root, const fs::WriterId& hint);

  Host& host_;
  std::mutex flights_mu_;
  std::map<crypto::Cid, std::shared_ptr<Flight>> flights_;
};

class Host final : public FsHost {
 public:
  Host(uv_loop_t* loop, FsHostOptions options, const crypto::NodeIdentity& identity,
       blockstore::BlockStore& store, dht::NodeRuntime& runtime, exchange::Exchange& exchange,
       DataService& data)
      : loop_(loop),
        options_(std::move(options)),
        identity_(identity),
        store_(store),
        runtime_(runtime),
        exchange_(exchange),
        data_(data),
        backend_(*this) {}

  core::Status init() {
    fs::SharedOptions fs_options;
    fs_options.state_dir = options_.state_dir;
    fs_options.sync = options_.sync;
    fs_options.cache_bytes = options_.cache_bytes;
    fs_options.fsync_timeout = options_.fsync_timeout;
    auto opened =
        fs::open_shared_file_system(store_, backend_, core::Env::posix(), clock_, rng_, fs_options);
    if (!opened) return tl::unexpected(opened.error());
    fs_ = std::move(*opened);
    // Only once nothing can fail: the handle must be closed (close()) before this is destroyed.
    uv_async_init(loop_, &async_, [](uv_async_t* async) {
      core::guarded("fs calls", [&] { static_cast<Host*>(async->data)->run_posted(); });
    });
    async_.data = this;
    publisher_ = std::thread([this] { publish_loop(); });
    return core::ok();
  }

  core::Status start() override {
    fs_->republish_all();
    if (!options_.mount) return core::ok();
    SYNAPSE_RETURN_IF_ERROR(mount::clean_stale_mount(*options_.mount));
    mount::MountOptions mount_options;
    mount_options.on_operation = options_.on_fuse_operation;
    mount_options.dir = *options_.mount;
    SYNAPSE_ASSIGN_OR_RETURN(mount_, mount::Mount::start(*fs_, mount_options));
    spdlog::info("shared folder mounted at {}", options_.mount->string());
    return core::ok();
  }

  // Stores a directory record; one that reached no node (alone, or cut off) is stored again
  // from loop_tick() until a node takes it or a newer one replaces it.
  void put_layer(const fs::DirId& dir, const dht::SignedValue& value, bool republish = true) {
    unstored_.insert_or_assign(dir, UnstoredLayer{value, runtime_.now()});
    runtime_.run([this, dir, value, republish](dht::Node& node, core::MonoTime now) {
      node.put(
          value, now,
          [this, dir, seq = value.seq](dht::PutResult result) {
            auto it = unstored_.find(dir);
            if (it == unstored_.end() || it->second.value.seq != seq) return;
            if (result.status && result.acked > 0) unstored_.erase(it);
          },
          republish);
    });
  }

  void loop_tick() override {
    if (backend_.pins_changed_.exchange(false)) data_.pins_changed(runtime_.now());
    std::vector<std::pair<fs::DirId, dht::SignedValue>> due;
    for (const auto& [dir, unstored] : unstored_) {
      if (runtime_.now() - unstored.tried >= kRetryPublish) due.emplace_back(dir, unstored.value);
    }
    for (const auto& [dir, value] : due) put_layer(dir, value, /*republish=*/false);
    std::vector<std::pair<std::string, std::string>> peers;
    const dht::RoutingTable& table = runtime_.node().routing_table();
    for (int b = 0; b < table.bucket_count(); ++b) {
      for (const auto& entry : table.bucket(b)) {
        const auto endpoint = dht::to_endpoint(entry.contact.address);
        std::string text = "id " + entry.contact.id.to_hex() + "\n";
        text += "address " + (endpoint ? endpoint->to_string() : std::string("?")) + "\n";
        text += "last_seen_seconds_ago " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(runtime_.now() -
                                                                                entry.last_seen)
                                   .count()) +
                "\n";
        if (peer_details_) text += peer_details_(entry.contact.id);
        peers.emplace_back(entry.contact.id.short_id(), std::move(text));
      }
    }
    std::lock_guard lock(backend_.peers_mu_);
    backend_.peers_ = std::move(peers);
  }

  void close(std::function<void()> done) override {
    closing_ = true;
    // The mount's workers may be waiting for this loop: they give up within kPollInterval
    // now that closing_ is set, so stopping the mount here cannot deadlock.
    if (mount_) mount_->stop();
    {
      std::lock_guard lock(publish_mu_);
      stop_publisher_ = true;
    }
    publish_wake_.notify_all();
    if (publisher_.joinable()) publisher_.join();
    if (fs_) (void)fs_->publish_now();
    close_done_ = std::move(done);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* handle) {
      auto* self = static_cast<Host*>(handle->data);
      core::guarded("fs host close", [&] {
        if (self->close_done_) self->close_done_();
      });
    });
  }

  fs::FileSystem& file_system() override { return *fs_; }
  fs::SharedFileSystem& shared_file_system() override { return *fs_; }
  void set_peer_details(std::function<std::string(const crypto::NodeId&)> details) override {
    peer_details_ = std::move(details);
  }

  // Runs `work` on the loop thread; false when the node is stopping.
  bool post(std::function<void()> work) {
    if (closing_) return false;
    {
      std::lock_guard lock(posted_mu_);
      posted_.push_back(std::move(work));
    }
    uv_async_send(&async_);
    return true;
  }

  // Waits for `waiter` up to `timeout`, giving up early when the node stops.
  template <typename T>
  std::optional<T> wait(Waiter<T>& waiter, core::Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(waiter.mu);
    while (!waiter.value) {
      if (closing_ || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      waiter.cv.wait_for(lock, kPollInterval);
    }
    return waiter.value;
  }

  void run_posted() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(posted_mu_);
      work.swap(posted_);
    }
    for (auto& item : work) item();
  }

  void publish_loop() {
    std::unique_lock lock(publish_mu_);
    while (!stop_publisher_) {
      publish_wake_.wait_for(lock, 50ms);
      lock.unlock();
      fs_->tick();
      lock.lock();
    }
  }

  // Everything is public to LoopBackend, this file's other half.
  uv_loop_t* loop_;
  FsHostOptions options_;
  const crypto::NodeIdentity& identity_;
  blockstore::BlockStore& store_;
  dht::NodeRuntime& runtime_;
  exchange::Exchange& exchange_;
  DataService& data_;
  LoopBackend backend_;
  std::atomic<bool> closing_{false};
  core::SteadyClock clock_;
  crypto::SystemRng rng_;
  std::unique_ptr<fs::SharedFileSystem> fs_;
  std::unique_ptr<mount::Mount> mount_;
  uv_async_t async_{};
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
  std::thread publisher_;
  std::mutex publish_mu_;
  std::condition_variable publish_wake_;
  bool stop_publisher_ = false;
  std::function<void()> close_done_;
  struct UnstoredLayer {
    dht::SignedValue value;
    core::MonoTime tried;
  };
  std::map<fs::DirId, UnstoredLayer> unstored_;  // loop thread only
  std::function<std::string(const crypto::NodeId&)> peer_details_;
};

fs::WriterId LoopBackend::self() const {
  fs::WriterId id;
  const auto& node = host_.identity_.node_id();
  std::copy(node.bytes().begin(), node.bytes().end(), id.begin());
  return id;
}

core::Result<std::vector<fs::LayerRef>> LoopBackend::layers(const fs::DirId& dir,
                                                            core::Duration timeout) {
  auto waiter = std::make_shared<Waiter<std::vector<dht::SignedValue>>>();
  const bool posted = host_.post([this, dir, waiter] {
    host_.runtime_.run([dir, waiter](dht::Node& node, core::MonoTime now) {
      node.get(dir_key(dir), now,
               [waiter](dht::GetResult result) { waiter->set(std::move(result.values)); });
    });
  });
  if (!posted) return make_error(ErrorCode::kIo, "the node is stopping");
  auto values = host_.wait(*waiter, timeout);
  if (!values) return make_error(ErrorCode::kIo, "directory lookup timed out");
  std::vector<fs::LayerRef> out;
  for (const dht::SignedValue& value : *values) {
    if (value.data.size() < 2 || value.data[0] != kLayerValueVersion) continue;
    auto cid = crypto::Cid::from_bytes(core::ByteView(value.data).subspan(1));
    if (!cid) continue;
    fs::WriterId writer;
    const auto id = value.writer_id();
    std::copy(id.bytes().begin(), id.bytes().end(), writer.begin());
    out.push_back(fs::LayerRef{writer, *cid, value.seq});
  }
  return out;
}

void LoopBackend::publish(const fs::DirId& dir, const fs::LayerRef& layer) {
  core::Bytes data{kLayerValueVersion};
  const core::Bytes cid = layer.layer.to_bytes();
  data.insert(data.end(), cid.begin(), cid.end());
  auto value = dht::SignedValue::sign(host_.identity_, dir_key(dir), layer.seq,
                                      dht::kMaxRecordTtlSeconds, std::move(data));
  if (!value) {
    spdlog::error("cannot sign a directory record: {}", value.error().message());
    return;
  }
  host_.post([this, dir, value = std::move(*value)] { host_.put_layer(dir, value); });
}

std::shared_ptr<LoopBackend::Flight> LoopBackend::start_fetch(const crypto::Cid& root,
                                                              const fs::WriterId& hint) {
  std::lock_guard lock(flights_mu_);
  if (auto it = flights_.find(root); it != flights_.end()) return it->second;
  auto flight = std::make_shared<Flight>();
  const crypto::NodeId hint_id = crypto::NodeId(hint);
  const bool hinted = std::any_of(hint.begin(), hint.end(), [](uint8_t b) { return b != 0; });
  const bool posted = host_.post([this, root, hint_id, hinted, flight] {
    flight->id = host_.data_.fetch_for_fs(
        root, hinted ? std::optional(hint_id) : std::nullopt,
        [this, root, flight](core::Status status, const exchange::FetchProgress&) {
          {
            std::lock_guard lock(flights_mu_);
            if (auto it = flights_.find(root); it != flights_.end() && it->second == flight) {
              flights_.erase(it);
            }
          }
          flight->done.set(status);
        });
  });
  if (!posted) return nullptr;
  flights_.emplace(root, flight);
  return flight;
}

void LoopBackend::prefetch(const crypto::Cid& root, const fs::WriterId& hint) {
  (void)start_fetch(root, hint);
}

bool LoopBackend::fetching(const crypto::Cid& root) {
  std::lock_guard lock(flights_mu_);
  return flights_.count(root) > 0;
}

core::Status LoopBackend::fetch(const crypto::Cid& root, const fs::WriterId& hint,
                                core::Duration stall_timeout) {
  auto flight = start_fetch(root, hint);
  if (!flight) return make_error(ErrorCode::kIo, "the node is stopping");
  // Gives up when nothing arrived for stall_timeout (a big file may take longer in total).
  uint64_t last = 0;
  auto last_change = std::chrono::steady_clock::now();
  while (true) {
    if (auto done = host_.wait(flight->done, 500ms)) return *done;
    if (host_.closing_) return make_error(ErrorCode::kIo, "the node is stopping");
    host_.post([this, flight] {
      if (const auto* progress = host_.exchange_.progress(flight->id)) {
        flight->progressed = progress->fetched_bytes + progress->local_bytes;
      }
    });
    const uint64_t now_bytes = flight->progressed;
    if (now_bytes != last) {
      last = now_bytes;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change > stall_timeout) {
      host_.post([this, flight] { host_.exchange_.cancel(flight->id); });
      return make_error(ErrorCode::kIo, "no peer delivered " + root.to_string() + " in time");
    }
  }
}

core::Status LoopBackend::wait_replicated(const crypto::Cid& root, core::Duration timeout) {
  pins_changed_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto waiter = std::make_shared<Waiter<bool>>();
    const bool posted = host_.post([this, root, waiter] {
      auto state = host_.data_.replication_of(root);
      waiter->set(state && state->first >= state->second);
    });
    if (!posted) break;
    auto reached = host_.wait(*waiter, 5s);
    if (reached && *reached) return core::ok();
    std::this_thread::sleep_for(250ms);  // polling the loop's view, not synchronising
  }
  return make_error(ErrorCode::kIo, root.to_string() + " did not reach its replication target");
}

fs::FsStats LoopBackend::stats() {
  fs::FsStats stats;
  struct statvfs vfs {};
  if (::statvfs(host_.options_.state_dir.c_str(), &vfs) == 0) {
    stats.total_bytes = uint64_t{vfs.f_blocks} * vfs.f_frsize;
    stats.free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
  }
  if (host_.options_.store_capacity > 0) {
    stats.total_bytes = std::min(stats.total_bytes, host_.options_.store_capacity);
    if (auto store = host_.store_.stats()) {
      const uint64_t used = store->bytes;
      stats.free_bytes =
          std::min(stats.free_bytes, stats.total_bytes - std::min(stats.total_bytes, used));
    }
  }
  return stats;
}

}  // namespace

core::Result<std::unique_ptr<FsHost>> FsHost::create(uv_loop_t* loop, FsHostOptions options,
                                                     const crypto::NodeIdentity& identity,
                                                     blockstore::BlockStore& store,
                                                     dht::NodeRuntime& runtime,
                                                     exchange::Exchange& exchange,
                                                     DataService& data) {
  auto host =
      std::make_unique<Host>(loop, std::move(options), identity, store, runtime, exchange, data);
  SYNAPSE_RETURN_IF_ERROR(host->init());
  return std::unique_ptr<FsHost>(std::move(host));
}

}  // namespace synapse::daemon
