// The running node (daemon.h): wires the transport, the Kademlia node, LAN discovery and the
// control socket together on one libuv loop. This is an adapter: it reads the real clock,
// takes the process-wide lock file and installs signal handlers.
#include "synapse/daemon/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <map>
#include <mutex>

#include "compute_host.h"
#include "control_server.h"
#include "daemon_methods.h"
#include "data_service.h"
#include "fs_host.h"
#include "http_server.h"
#include "metrics.h"
#include "status_page.h"
#include "synapse/compute/messages.h"
#include "synapse/core/guarded.h"
#include "synapse/crypto/cid.h"
#include "synapse/crypto/hash.h"
#include "synapse/crypto/system_rng.h"
#include "synapse/daemon/peer_cache.h"
#include "synapse/dht/node_runtime.h"
#include "synapse/dht/transport.h"

namespace synapse::daemon {

using core::ErrorCode;
using nlohmann::json;
using namespace std::chrono_literals;

dht::Key dht_key_from_text(std::string_view text) {
  if (text.size() == 64) {
    if (auto key = crypto::NodeId::parse(text)) return *key;
  }
  if (auto cid = crypto::Cid::parse(text)) return dht::provider_key(*cid);
  return dht::Key(
      crypto::sha256(core::ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
}

namespace {

// With only LAN discovery to join by, how long requests and readiness wait for a first peer:
// beacons go out at once and again after 0.5, 1 and 2 s, so a LAN's nodes have been heard by
// then.
constexpr core::Duration kDiscoverySettle = 3s;
// How often one discovered peer that is not in the routing table is greeted again.
constexpr core::Duration kGreetInterval = 30s;

bool is_loopback(const dht::Endpoint& endpoint) {
  const auto& address = endpoint.address_bytes();
  if (!endpoint.is_ipv6()) return address[0] == 127;
  return std::all_of(address.begin(), address.end() - 1, [](uint8_t b) { return b == 0; }) &&
         address[15] == 1;
}

// spdlog flag %* : the syslog priority prefix journald reads from a service's stderr.
class JournalPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    static constexpr std::string_view kPrefixes[] = {"<7>", "<7>", "<6>", "<4>",
                                                     "<3>", "<2>", "<6>"};
    const std::string_view prefix = kPrefixes[static_cast<size_t>(message.level) % 7];
    out.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

void set_log_format(bool journal, const std::string& short_id) {
  if (!journal) {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [" + short_id + "] %v");
    return;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<JournalPriority>('*').set_pattern("%*[" + short_id + "] %v");
  spdlog::set_formatter(std::move(formatter));
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How long the status page's jobs list keeps being refreshed after it was last asked for, and
// how often: the list reads every job folder, so it is not read for nobody, nor every second.
constexpr int64_t kJobsWantedMs = 30'000;
constexpr int64_t kJobsRefreshMs = 5'000;

class Daemon final : public DaemonState {
 public:
  Daemon(uv_loop_t* loop, DaemonOptions options, std::function<void(const ReadyInfo&)> on_ready)
      : loop_(loop), options_(std::move(options)), on_ready_(std::move(on_ready)) {}

  ~Daemon() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  core::Status start() {
    SYNAPSE_RETURN_IF_ERROR(take_lock());
    started_ = clock_.now();
    SYNAPSE_ASSIGN_OR_RETURN(store_,
                             blockstore::open_lmdb_store(options_.store_folder(), options_.store));
    set_log_format(options_.journal_log, options_.identity.node_id().short_id());

    dht::TransportOptions transport_options;
    transport_options.identity = &options_.identity;
    transport_options.swarm_key = &options_.swarm_key;
    transport_options.certificate = options_.certificate;
    transport_options.admit = options_.admit;
    transport_options.bind = options_.listen;
    SYNAPSE_ASSIGN_OR_RETURN(
        transport_, dht::Transport::create(loop_, std::move(transport_options), rng_, clock_));
    runtime_ = dht::NodeRuntime::create(loop_, *transport_, options_.node, rng_, clock_);
    open_handles_ = 2;  // transport and runtime

    exchange::ExchangeOptions exchange_options;
    exchange_options.max_upload_rate = options_.max_upload_rate;
    exchange_options.corrupt_served_blocks = options_.corrupt_served_blocks;
    exchange_options.holds = [this](const crypto::Cid& root) { return data_->holds(root); };
    exchange_options.on_store_request = [this](const exchange::PeerRef& from,
                                               const exchange::StoreRequest& request) {
      return data_->on_store_request(from, request);
    };
    exchange_options.on_call = [this](const exchange::Caller& from, uint32_t service,
                                      core::Bytes body, exchange::CallReplyFn reply) {
      if (service != compute::kComputeService || !compute_host_) {
        return reply(core::make_error(ErrorCode::kUnsupported, "no such service here"));
      }
      compute_host_->on_call(from, std::move(body), std::move(reply));
    };
    SYNAPSE_ASSIGN_OR_RETURN(exchange_, exchange::Exchange::create(loop_, *transport_, *store_,
                                                                   clock_, exchange_options));
    ++open_handles_;
    if (options_.corrupt_served_blocks) spdlog::warn("fault injection: serving corrupt blocks");
    if (options_.jobs.advert_clock_offset.count() != 0) {
      spdlog::warn("fault injection: adverts carry a clock {} ms off",
                   options_.jobs.advert_clock_offset.count());
    }
    data_ =
        std::make_unique<DataService>(DataOptions{options_.replication, options_.repair_interval},
                                      *store_, *exchange_, *runtime_, rng_);
    auto fs_host = FsHost::create(
        loop_,
        FsHostOptions{options_.home / "fs", options_.mount, options_.store.sync,
                      options_.store.capacity, options_.fs_cache_size, options_.fsync_timeout,
                      [metrics = metrics_.get()](const char* op, std::chrono::nanoseconds took) {
                        metrics->observe_fuse(op, took);
                      }},
        options_.identity, *store_, *runtime_, *exchange_, *data_);
    if (!fs_host) {
      shutdown();
      return tl::unexpected(fs_host.error());
    }
    fs_host_ = std::move(*fs_host);
    ++open_handles_;

    ComputeHostOptions jobs;
    jobs.state_dir = options_.jobs.work_dir;
    if (jobs.state_dir.empty()) {
      jobs.remove_state_dir_when_empty = ::geteuid() == 0;
      jobs.state_dir = ::geteuid() == 0
                           ? std::filesystem::path("/var/tmp") /
                                 ("synapse-jobs-" + options_.identity.node_id().short_id())
                           : options_.home / "jobs";
    }
    jobs.mount = options_.mount;
    jobs.run_jobs = options_.jobs.enabled;
    jobs.cpus = options_.jobs.cpus;
    jobs.memory = options_.jobs.memory;
    jobs.labels = options_.jobs.labels;
    jobs.allow = options_.jobs.allow;
    jobs.user = options_.jobs.user;
    jobs.queue_depth = options_.jobs.queue_depth;
    jobs.name = options_.jobs.name;
    jobs.verify_certificate = options_.jobs.verify_certificate;
    jobs.advert_clock_offset = options_.jobs.advert_clock_offset;
    if (options_.certificate) {
      if (auto certificate = crypto::Certificate::decode(*options_.certificate)) {
        jobs.certificate = *certificate;
      }
    }
    auto compute_host = ComputeHost::create(loop_, std::move(jobs), options_.identity, *runtime_,
                                            *exchange_, fs_host_->shared_file_system(), *store_,
                                            [this] { return next_sequence(); });
    if (!compute_host) {
      shutdown();
      return tl::unexpected(compute_host.error());
    }
    compute_host_ = std::move(*compute_host);
    ++open_handles_;
    fs_host_->set_peer_details([this](const crypto::NodeId& id) {
      for (const auto& [node, advert] : compute_host_->adverts()) {
        if (node == id) return compute::advert_text(advert);
      }
      return std::string();
    });

    std::error_code ignored;
    std::filesystem::remove(options_.control_socket(), ignored);  // stale: we hold the lock
    auto control =
        ControlServer::create(loop_, options_.control_socket(),
                              [this](const ControlRequest& request, ControlServer::Reply reply) {
                                handle_request(*this, request, std::move(reply));
                              });
    if (!control) {
      shutdown();
      return tl::unexpected(control.error());
    }
    control_ = std::move(*control);
    ++open_handles_;

    if (options_.discovery) {
      // A node listening on loopback only can be reached by nodes on this host only: beacon
      // there, not on the LAN (where the beacon's source address would be unreachable).
      if (options_.discovery_options.interfaces.empty() && is_loopback(options_.listen)) {
        options_.discovery_options.interfaces = {"lo"};
      }
      dht::Beacon self{transport_->node_id(), transport_->local_endpoint().port()};
      auto discovery = dht::LanDiscovery::create(
          loop_, options_.discovery_options, options_.swarm_key, self, rng_,
          [this](const dht::Beacon& beacon, const dht::Endpoint& endpoint) {
            on_discovered(beacon, endpoint);
          });
      if (!discovery) {
        spdlog::warn("LAN discovery is off: {}", discovery.error().message());
      } else {
        discovery_ = std::move(*discovery);
        ++open_handles_;
      }
    }

    if (options_.http_listen) start_http();
    uv_signal_init(loop_, &sighup_);
    sighup_.data = this;
    uv_signal_start(
        &sighup_,
        [](uv_signal_t* handle, int) {
          core::guarded("SIGHUP", [&] { static_cast<Daemon*>(handle->data)->reload(); });
        },
        SIGHUP);
    ++open_handles_;
    for (int signal : {SIGINT, SIGTERM}) {
      uv_signal_t& handle = signal == SIGINT ? sigint_ : sigterm_;
      uv_signal_init(loop_, &handle);
      handle.data = this;
      uv_signal_start(
          &handle,
          [](uv_signal_t* handle, int signum) {
            core::guarded("signal", [&] {
              auto* self = static_cast<Daemon*>(handle->data);
              if (self->shutting_down_) {
                spdlog::warn("second signal during shutdown: exiting now");
                ::_exit(1);
              }
              spdlog::info("{}: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
              self->shutdown();
            });
          },
          signal);
      ++open_handles_;
    }
    uv_timer_init(loop_, &save_timer_);
    save_timer_.data = this;
    const uint64_t save_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.save_peers_interval)
            .count());
    uv_timer_start(
        &save_timer_,
        [](uv_timer_t* timer) {
          core::guarded("peers save timer",
                        [&] { static_cast<Daemon*>(timer->data)->save_peers(); });
        },
        save_ms, save_ms);
    uv_timer_init(loop_, &join_timer_);
    join_timer_.data = this;
    uv_timer_init(loop_, &data_timer_);
    data_timer_.data = this;
    uv_timer_start(
        &data_timer_,
        [](uv_timer_t* timer) {
          core::guarded("data timer", [&] {
            auto* self = static_cast<Daemon*>(timer->data);
            if (self->join_wait_over()) self->data_->tick(self->clock_.now());
          });
        },
        1000, 1000);
    uv_timer_init(loop_, &fs_timer_);
    fs_timer_.data = this;
    uv_timer_start(
        &fs_timer_,
        [](uv_timer_t* timer) {
          core::guarded("fs timer",
                        [&] { static_cast<Daemon*>(timer->data)->fs_host_->loop_tick(); });
        },
        200, 200);
    uv_timer_init(loop_, &snapshot_timer_);
    snapshot_timer_.data = this;
    if (http_) {
      uv_timer_start(
          &snapshot_timer_,
          [](uv_timer_t* timer) {
            core::guarded("status snapshot timer",
                          [&] { static_cast<Daemon*>(timer->data)->refresh_snapshot(); });
          },
          0, 1000);
    }
    open_handles_ += 5;
    loop_handles_ = true;

    spdlog::info("node {} listening on {} (udp+tcp), control socket {}",
                 transport_->node_id().to_hex(), transport_->local_endpoint().to_string(),
                 options_.control_socket().string());
    if (discovery_) {
      std::string names;
      for (const std::string& name : discovery_->interfaces()) names += " " + name;
      spdlog::info("LAN discovery on {} via{}", options_.discovery_options.group.to_string(),
                   names);
    }
    join();
    return core::ok();
  }

  // ---- DaemonState (daemon_methods.h) ----
  const DaemonOptions& options() const override { return options_; }
  dht::Transport& transport() override { return *transport_; }
  dht::NodeRuntime& runtime() override { return *runtime_; }
  const dht::LanDiscovery* discovery() const override { return discovery_.get(); }
  blockstore::BlockStore& store() override { return *store_; }
  exchange::Exchange& exchange() override { return *exchange_; }
  DataService& data() override { return *data_; }
  ComputeHost* compute() override { return compute_host_.get(); }
  FsHost& fs_host() override { return *fs_host_; }
  std::optional<dht::Endpoint> http_endpoint() const override {
    if (!http_) return std::nullopt;
    return http_->endpoint();
  }
  std::string http_error() const override { return http_error_; }
  core::Duration uptime() const override { return clock_.now() - started_; }
  bool joined() const override { return settled() && runtime_->node().routing_table().size() > 0; }

  uint64_t next_sequence() override {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto micros =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
    last_sequence_ = std::max(last_sequence_ + 1, micros);
    return last_sequence_;
  }

  void when_joined(std::function<void()> work) override {
    if (join_wait_over()) {
      work();
      return;
    }
    waiting_.push_back(std::move(work));
    watch_join();
  }

  core::Status failure() const { return failure_; }

  void shutdown() override {
    if (shutting_down_) return;
    shutting_down_ = true;
    if (runtime_) save_peers();
    waiting_.clear();
    http_.reset();  // stops serving; no handler runs after this
    auto closed = [this] { handle_closed(); };
    // Jobs first (they use the file system), then the file system: its calls wait on the
    // exchange and the DHT.
    if (compute_host_) compute_host_->close(closed);
    if (fs_host_) fs_host_->close(closed);
    if (exchange_) exchange_->close(closed);  // its streams close before the transport
    if (runtime_) {
      // The transport closes after the runtime has detached from it.
      runtime_->close([this] {
        handle_closed();
        transport_->close([this] { handle_closed(); });
      });
    } else if (transport_) {
      transport_->close(closed);
    }
    if (control_) control_->close(closed);
    if (discovery_) discovery_->close(closed);
    if (loop_handles_) {
      for (uv_handle_t* handle :
           {reinterpret_cast<uv_handle_t*>(&sigint_), reinterpret_cast<uv_handle_t*>(&sigterm_),
            reinterpret_cast<uv_handle_t*>(&sighup_),
            reinterpret_cast<uv_handle_t*>(&snapshot_timer_),
            reinterpret_cast<uv_handle_t*>(&save_timer_),
            reinterpret_cast<uv_handle_t*>(&join_timer_),
            reinterpret_cast<uv_handle_t*>(&data_timer_),
            reinterpret_cast<uv_handle_t*>(&fs_timer_)}) {
        if (!uv_is_closing(handle)) {
          uv_close(handle, [](uv_handle_t* handle) {
            static_cast<Daemon*>(handle->data)->handle_closed();
          });
        }
      }
    }
  }

 private:
  void start_http() {
    auto http = HttpServer::start(*options_.http_listen,
                                  [this](std::string_view path) { return serve_http(path); });
    if (!http) {
      http_error_ = "metrics and status page not served: " + http.error().message() +
                    " (set http.listen to a free port, or http.enabled = false)";
      spdlog::warn("{}", http_error_);
      return;
    }
    http_ = std::move(*http);
    spdlog::info("metrics and status page on http://{}/", http_->endpoint().to_string());
  }

  // On civetweb's threads: reads only the snapshot (and the thread-safe metrics).
  HttpResponse serve_http(std::string_view path) {
    constexpr const char* kJson = "application/json";
    if (path == "/" || path == "/index.html") {
      return {200, "text/html; charset=utf-8", std::string(status_page_html())};
    }
    if (path == "/metrics") {
      return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_->render()};
    }
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    std::lock_guard lock(snapshot_mu_);
    if (path == "/api/status") return {200, kJson, status_text_};
    if (path == "/api/peers") return {200, kJson, peers_text_};
    if (path == "/api/jobs") {
      jobs_wanted_until_ms_ = steady_ms() + kJobsWantedMs;
      return {200, kJson, jobs_text_};
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  // Every second while the HTTP server runs: what its handlers serve.
  void refresh_snapshot() {
    if (shutting_down_) return;
    json status = status_of(*this);
    std::string status_text = status.dump();
    std::string peers_text = peers_of(*this).dump();
    metrics_->update(std::move(status));
    {
      std::lock_guard lock(snapshot_mu_);
      status_text_ = std::move(status_text);
      peers_text_ = std::move(peers_text);
    }
    const int64_t now_ms = steady_ms();
    if (jobs_refreshing_ || now_ms > jobs_wanted_until_ms_ || !compute_host_ ||
        now_ms - jobs_refreshed_ms_ < kJobsRefreshMs) {
      return;
    }
    jobs_refreshing_ = true;
    jobs_refreshed_ms_ = now_ms;
    ComputeHost::Reply reply = [this](core::Result<json> jobs) {
      jobs_refreshing_ = false;
      if (!jobs) return;
      std::lock_guard lock(snapshot_mu_);
      jobs_text_ = jobs->dump();
    };
    compute_host_->handle(ControlRequest{nullptr, "jobs", json::object()}, reply);
  }

  void reload() {
    if (!options_.reload) {
      spdlog::info("SIGHUP: nothing to reload");
      return;
    }
    auto reloaded = options_.reload();
    if (!reloaded) {
      spdlog::warn("SIGHUP: keeping the running settings: {}", reloaded.error().message());
      return;
    }
    spdlog::set_level(spdlog::level::from_str(reloaded->log_level));
    if (compute_host_) compute_host_->set_policy(reloaded->job_labels, reloaded->job_allow);
    spdlog::info("SIGHUP: config reloaded (log level {}, {} job labels, {} allow entries)",
                 reloaded->log_level, reloaded->job_labels.size(), reloaded->job_allow.size());
  }

  core::Status take_lock() {
    lock_fd_ = ::open(options_.lock_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      return core::make_error(
          ErrorCode::kIo, "cannot open " + options_.lock_file().string() + ": " + strerror(errno));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return core::make_error(ErrorCode::kAlreadyExists, "a node is already running with home " +
                                                             options_.home.string() +
                                                             " (stop it with `synapse down`)");
    }
    return core::ok();
  }

  void join() {
    std::vector<dht::PeerAddress> seeds;
    for (const dht::Endpoint& endpoint : options_.bootstrap) {
      seeds.push_back(dht::to_peer_address(endpoint));
    }
    auto saved = load_peer_cache(core::Env::posix(), options_.peers_file());
    if (!saved) {
      spdlog::warn("ignoring saved peers: {}", saved.error().message());
    } else {
      for (const SavedPeer& peer : *saved) {
        if (peer.id != transport_->node_id()) seeds.push_back(dht::to_peer_address(peer.address));
      }
    }
    const core::MonoTime now = clock_.now();
    if (seeds.empty()) {
      // Nobody to join through but LAN discovery (or a first node): give beacons a moment.
      join_done_ = true;
      settle_deadline_ = now + (discovery_ ? kDiscoverySettle : core::Duration::zero());
    } else {
      settle_deadline_ = now + options_.join_wait;
      spdlog::info("joining through {} bootstrap and {} saved peers", options_.bootstrap.size(),
                   seeds.size() - options_.bootstrap.size());
      runtime_->run([this, seeds](dht::Node& node, core::MonoTime now) {
        node.bootstrap(seeds, now, [this](size_t table_size) {
          join_done_ = true;
          if (table_size == 0) {
            spdlog::warn("join: no bootstrap or saved peer answered");
          } else {
            spdlog::info("joined: {} peers in the routing table", table_size);
          }
          check_join();
        });
      });
    }
    watch_join();
  }

  // Settled: the first join finished and no join is running; with only discovery to join by,
  // also a peer found.
  bool settled() const {
    const dht::Node& node = runtime_->node();
    if (!join_done_ || node.joining()) return false;
    return node.routing_table().size() > 0 || !discovery_;
  }

  // Requests and readiness stop waiting once the join settled or its time is up.
  bool join_wait_over() const { return settled() || clock_.now() >= settle_deadline_; }

  // While something waits for the join, checks every 10 ms (the join is a few round trips).
  void watch_join() {
    if (shutting_down_ || uv_is_active(reinterpret_cast<uv_handle_t*>(&join_timer_))) return;
    uv_timer_start(
        &join_timer_,
        [](uv_timer_t* timer) {
          core::guarded("join timer", [&] { static_cast<Daemon*>(timer->data)->check_join(); });
        },
        10, 10);
  }

  void check_join() {
    if (shutting_down_) return;
    if (!join_wait_over()) return;
    uv_timer_stop(&join_timer_);
    if (!ready_reported_) {
      ready_reported_ = true;
      data_->start(clock_.now());
      if (auto started = fs_host_->start(); !started) {
        spdlog::error("{}", started.error().message());
        failure_ = started;
        shutdown();
        return;
      }
      compute_host_->start();
      if (on_ready_) {
        on_ready_(ReadyInfo{static_cast<int>(::getpid()), transport_->node_id(),
                            transport_->local_endpoint(), options_.control_socket(),
                            runtime_->node().routing_table().size(), http_endpoint()});
      }
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& work : waiting) work();
  }

  void on_discovered(const dht::Beacon& beacon, const dht::Endpoint& endpoint) {
    if (shutting_down_ || runtime_->node().routing_table().contains(beacon.node_id)) return;
    const core::MonoTime now = clock_.now();
    auto [it, inserted] = greeted_.try_emplace(beacon.node_id, now);
    if (!inserted && now - it->second < kGreetInterval) return;
    it->second = now;
    if (greeted_.size() > 4096) greeted_.clear();
    spdlog::debug("discovered {} at {}", beacon.node_id.short_id(), endpoint.to_string());
    runtime_->run([&](dht::Node& node, core::MonoTime now) {
      node.greet(dht::to_peer_address(endpoint), now);
    });
    watch_join();
  }

  void save_peers() {
    std::vector<SavedPeer> peers;
    for (const dht::Contact& contact : runtime_->node().routing_table().contacts()) {
      if (auto endpoint = dht::to_endpoint(contact.address)) {
        peers.push_back({contact.id, *endpoint});
      }
    }
    if (peers.empty()) return;  // keep what an earlier run knew
    if (auto status = save_peer_cache(core::Env::posix(), options_.peers_file(), peers); !status) {
      spdlog::warn("saving peers: {}", status.error().message());
    }
  }

  void handle_closed() {
    if (--open_handles_ == 0) spdlog::info("stopped");
  }

  uv_loop_t* loop_;
  DaemonOptions options_;
  std::function<void(const ReadyInfo&)> on_ready_;
  core::SteadyClock clock_;
  crypto::SystemRng rng_;
  int lock_fd_ = -1;
  core::MonoTime started_{};

  std::unique_ptr<blockstore::BlockStore> store_;
  std::unique_ptr<dht::Transport> transport_;
  std::unique_ptr<dht::NodeRuntime> runtime_;
  std::unique_ptr<exchange::Exchange> exchange_;
  std::unique_ptr<DataService> data_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<dht::LanDiscovery> discovery_;
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  uv_signal_t sighup_{};
  uv_timer_t snapshot_timer_{};  // refresh_snapshot() every second while serving HTTP
  uv_timer_t save_timer_{};
  uv_timer_t join_timer_{};
  uv_timer_t data_timer_{};
  uv_timer_t fs_timer_{};  // FsHost::loop_tick five times a second
  // Before fs_host_: the mount's threads observe into it until the mount has stopped.
  std::unique_ptr<Metrics> metrics_ = std::make_unique<Metrics>();
  std::unique_ptr<FsHost> fs_host_;
  std::unique_ptr<ComputeHost> compute_host_;  // after fs_host_: destroyed before it
  core::Status failure_ =
      core::ok();  // why the node stopped on its own, if it did  // DataService::tick every second
  size_t open_handles_ = 0;
  bool loop_handles_ = false;  // the signal and timer handles exist

  bool join_done_ = false;
  core::MonoTime settle_deadline_{};
  bool ready_reported_ = false;
  std::vector<std::function<void()>> waiting_;
  std::map<crypto::NodeId, core::MonoTime> greeted_;
  uint64_t last_sequence_ = 0;
  bool shutting_down_ = false;

  // The HTTP server and what its handlers serve (refresh_snapshot()); after the hosts, so it
  // is destroyed (and stops) before them.
  std::unique_ptr<HttpServer> http_;
  std::string http_error_;
  std::mutex snapshot_mu_;
  std::string status_text_ = "{}";
  std::string peers_text_ = R"({"peers":[]})";
  std::string jobs_text_ = R"({"jobs":[]})";
  std::atomic<int64_t> jobs_wanted_until_ms_{0};
  bool jobs_refreshing_ = false;
  int64_t jobs_refreshed_ms_ = 0;  // steady_ms() of the last jobs refresh
};

}  // namespace

core::Status run_daemon(DaemonOptions options, std::function<void(const ReadyInfo&)> on_ready) {
  // Blocks (up to 2 MiB) are allocated and freed at a high rate while fetching and serving:
  // serve them from the heap instead of a fresh mmap (and page faults) each, which glibc does
  // for allocations over its threshold.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  uv_loop_t loop;
  if (int status = uv_loop_init(&loop); status != 0) {
    return core::make_error(ErrorCode::kIo, std::string("uv_loop_init: ") + uv_strerror(status));
  }
  core::Status result = core::ok();
  {
    Daemon daemon(&loop, std::move(options), std::move(on_ready));
    result = daemon.start();
    uv_run(&loop, UV_RUN_DEFAULT);  // until every handle is closed (after shutdown())
    if (result) result = daemon.failure();
  }
  if (uv_loop_close(&loop) != 0) spdlog::warn("libuv loop closed with handles left open");
  return result;
}

}  // namespace synapse::daemon
