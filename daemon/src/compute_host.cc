// The libuv side of jobs (compute_host.h): the node's coordinator and worker on the loop, their
// messages over the exchange, adverts in the DHT, the spool, takeover scans, and the job files
// on a KeyedExecutor. This is an adapter: it reads the wall clock, the host's resources and the
// account database.
#include "compute_host.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "keyed_executor.h"
#include "synapse/compute/coordinator.h"
#include "synapse/compute/host.h"
#include "synapse/compute/job_files.h"
#include "synapse/compute/layout.h"
#include "synapse/compute/worker.h"
#include "synapse/core/guarded.h"
#include "synapse/core/units.h"
#include "synapse/crypto/hash.h"
#include "synapse/crypto/system_rng.h"
#include "synapse/dht/node_runtime.h"

namespace synapse::daemon {
namespace {

using compute::Message;
using core::ErrorCode;
using core::make_error;
using nlohmann::json;
using namespace std::chrono_literals;

// How long `synapse job submit` waits for its submission to be taken.
constexpr core::Duration kSubmitWait = 30s;
// Job records changed again within this delay are written once.
constexpr core::Duration kPersistDelay = 100ms;
// A full takeover scan runs at least this often (and whenever a node goes away).
constexpr core::Duration kScanInterval = 60s;
// Content samples per job for locality.
constexpr size_t kLocalitySamples = 32;
constexpr size_t kFileThreads = 2;
constexpr size_t kMaxReadLength = 1 << 20;

uint64_t to_ms(core::Duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(d).count()));
}

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string user_name(std::optional<uint32_t> uid) {
  const uid_t id = uid ? *uid : ::getuid();
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[1024];
  if (::getpwuid_r(id, &entry, buffer, sizeof(buffer), &found) == 0 && found) return found->pw_name;
  return "uid" + std::to_string(id);
}

// A runner for nodes that run no jobs (no sandbox works here, or [jobs] enabled = false).
class NoRunner final : public compute::SandboxRunner {
 public:
  std::vector<compute::RuntimeKind> runtimes() const override { return {}; }
  core::Result<SandboxId> start(compute::SandboxSpec, Done) override {
    return make_error(ErrorCode::kUnsupported, "this node runs no jobs");
  }
  void cancel(SandboxId) override {}
  std::optional<compute::ResourceUsage> usage(SandboxId) const override { return std::nullopt; }
  size_t running() const override { return 0; }
  void close(std::function<void()> done) override { done(); }
};

bool valid_log_name(const std::string& file) {
  static const std::set<std::string> kReadable = {"stdout",    "stderr",      "events.log", "state",
                                                  "exit_code", "status.json", "spec.toml"};
  if (kReadable.count(file)) return true;
  // tasks/<i>/<file>
  const std::string prefix = std::string(compute::layout::kTasksDir) + "/";
  if (file.rfind(prefix, 0) != 0) return false;
  const size_t slash = file.find('/', prefix.size());
  if (slash == std::string::npos || slash == prefix.size()) return false;
  const std::string index = file.substr(prefix.size(), slash - prefix.size());
  if (!std::all_of(index.begin(), index.end(), ::isdigit)) return false;
  const std::string rest = file.substr(slash + 1);
  return rest == "stdout" || rest == "stderr" || rest == "state" || rest == "exit_code";
}

// True for well-formed UTF-8 (JSON strings must be).
bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<uint8_t>(text[i]);
    const size_t length = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xe  ? 3
                          : (c >> 3) == 0x1e ? 4
                                             : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<uint8_t>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += length;
  }
  return true;
}

// Makes the jobs' folder (mode 0711: the job account passes through it to its own folders,
// nobody lists it), refusing one that another account owns or that is a symlink.
core::Status make_state_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  struct stat st {};
  if (error || ::lstat(dir.c_str(), &st) != 0) {
    return make_error(ErrorCode::kIo, "cannot create " + dir.string() +
                                          (error ? ": " + error.message() : std::string()));
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::kPermissionDenied,
                      dir.string() + " is not a folder of this node's account");
  }
  if (::chmod(dir.c_str(), 0711) != 0) {
    return make_error(ErrorCode::kIo, "chmod " + dir.string() + ": " + std::strerror(errno));
  }
  // Attempt folders left by a node that did not stop cleanly: nothing runs in them any more.
  std::filesystem::remove_all(dir / "run", error);
  for (const char* sub : {"run", "images"}) {
    std::filesystem::create_directories(dir / sub, error);
    if (error || ::chmod((dir / sub).c_str(), 0711) != 0) {
      return make_error(ErrorCode::kIo, "cannot create " + (dir / sub).string());
    }
  }
  return core::ok();
}

class Host final : public ComputeHost, public compute::CoordinatorIo, public compute::WorkerIo {
 public:
  Host(uv_loop_t* loop, ComputeHostOptions options, const crypto::NodeIdentity& identity,
       dht::NodeRuntime& runtime, exchange::Exchange& exchange, fs::SharedFileSystem& fs,
       blockstore::BlockStore& store, std::function<uint64_t()> next_sequence)
      : loop_(loop),
        options_(std::move(options)),
        identity_(identity),
        self_(identity.node_id()),
        runtime_(runtime),
        exchange_(exchange),
        fs_(fs),
        store_(store),
        next_sequence_(std::move(next_sequence)),
        tree_(fs),
        executor_(kFileThreads) {}

  ~Host() override {
    fs_.set_commit_observer(nullptr);  // the mount is stopped: no notice comes any more
    executor_.stop();
  }

  core::Status init() {
    SYNAPSE_RETURN_IF_ERROR(make_state_dir(options_.state_dir));
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (::geteuid() == 0) {
      struct passwd entry {};
      struct passwd* found = nullptr;
      char buffer[1024];
      if (::getpwnam_r(options_.user.c_str(), &entry, buffer, sizeof(buffer), &found) != 0 ||
          !found) {
        return make_error(ErrorCode::kInvalidArgument,
                          "[jobs] user: no account named " + options_.user);
      }
      uid = found->pw_uid;
      gid = found->pw_gid;
    }
    compute::JobFilesOptions files;
    files.state_dir = options_.state_dir;
    files.mount = options_.mount;
    files.job_uid = uid;
    files.job_gid = gid;
    files.publish = [this] { (void)fs_.publish_now(); };
    files_ = std::make_unique<compute::JobFiles>(tree_, core::Env::posix(), files);

    auto host = compute::probe_host();
    if (!host) return tl::unexpected(host.error());
    host_ = *host;
    if (options_.run_jobs) {
      compute::SandboxRunnerOptions runner;
      runner.bwrap = options_.bwrap;
      auto created = compute::create_sandbox_runner(loop_, runner);
      if (created) {
        runner_ = std::move(*created);
      } else {
        spdlog::warn("jobs: this node runs none: {}", created.error().message());
      }
    }
    if (!runner_) runner_ = std::make_unique<NoRunner>();

    compute::WorkerOptions worker;
    worker.accepts_jobs = options_.run_jobs && !runner_->runtimes().empty();
    worker.cpus = options_.cpus.value_or(host_.cpus);
    const uint64_t reserve = std::min(host_.memory_bytes / 10, uint64_t{2} << 30);
    worker.memory = options_.memory.value_or(host_.memory_bytes - reserve);
    for (const compute::GpuInfo& gpu : host_.gpus) worker.gpus.push_back(gpu.index);
    worker.labels = options_.labels;
    worker.name = options_.name;
    worker.allow = options_.allow;
    worker.runtimes = runner_->runtimes();
    worker.mounted = options_.mount.has_value();
    worker.queue_depth = options_.queue_depth != 0
                             ? options_.queue_depth
                             : static_cast<uint32_t>(2 * std::max(1.0, worker.cpus));
    worker.uid = uid;
    worker.gid = gid;
    worker.heartbeat_interval = options_.heartbeat_interval;
    worker_ = std::make_unique<compute::Worker>(self_, worker, *this, *runner_);

    self_principal_ = compute::Principal{self_, {}, {}};
    if (options_.certificate) {
      self_principal_.name = options_.certificate->name;
      self_principal_.roles = options_.certificate->roles;
    }
    compute::CoordinatorOptions coordinator;
    coordinator.worker_lease = options_.worker_lease;
    coordinator_ =
        std::make_unique<compute::Coordinator>(self_, self_principal_, coordinator, *this);

    uv_async_init(loop_, &async_, [](uv_async_t* async) {
      core::guarded("jobs posted work", [&] { static_cast<Host*>(async->data)->run_posted(); });
    });
    async_.data = this;
    for (uv_timer_t* timer : {&engine_timer_, &advert_timer_, &scan_timer_, &persist_timer_}) {
      uv_timer_init(loop_, timer);
      timer->data = this;
    }
    fs_.set_commit_observer([this](const fs::CommitNotice& notice) {
      if (notice.path.rfind(compute::layout::kSpool, 0) != 0) return;
      post([this, notice] { on_notice(notice); });
    });
    spdlog::info("jobs: {} CPUs, {} for jobs{}{}", worker.cpus, core::format_size(worker.memory),
                 worker.gpus.empty() ? "" : ", " + std::to_string(worker.gpus.size()) + " GPUs",
                 worker.accepts_jobs ? "" : " (runs none here)");
    return core::ok();
  }

  // ---- ComputeHost ----

  void start() override {
    if (started_) return;
    started_ = true;
    // The spool must exist for `cp x.toml /synapse/jobs/`: the first node of a swarm with a
    // mount makes it (nodes that start together may each make one: the folders merge). Nodes
    // without a mount leave the tree alone (`synapse job submit` makes it when needed).
    if (options_.mount)
      executor_.add("spool", [this] {
        auto exists = tree_.exists(compute::layout::kSpool);
        if (exists && *exists) return;
        if (auto made = tree_.make_dirs(compute::layout::kSpool); !made) {
          spdlog::warn("jobs: cannot make the spool folder: {}", made.error().message());
        }
      });
    advertise();
    uv_timer_start(
        &advert_timer_,
        [](uv_timer_t* timer) {
          core::guarded("jobs advert timer", [&] { static_cast<Host*>(timer->data)->advertise(); });
        },
        to_ms(options_.advert_interval), to_ms(options_.advert_interval));
    uv_timer_start(
        &scan_timer_,
        [](uv_timer_t* timer) {
          core::guarded("jobs scan timer", [&] { static_cast<Host*>(timer->data)->scan(false); });
        },
        to_ms(kScanInterval), to_ms(kScanInterval));
    scan(/*first=*/true);
  }

  void on_call(const exchange::Caller& from, core::Bytes body,
               exchange::CallReplyFn reply) override {
    if (closing_) return reply(make_error(ErrorCode::kFailedPrecondition, "stopping"));
    auto message = compute::decode_message(body);
    if (!message) return reply(tl::unexpected(message.error()));
    dispatch(principal_of(from), std::move(*message), [reply = std::move(reply)](Message answer) {
      reply(compute::encode_message(answer));
    });
  }

  bool handle(const ControlRequest& request, Reply& reply) override {
    const std::string& method = request.method;
    if (method == "job.submit") {
      submit(request.params, std::move(reply));
    } else if (method == "jobs") {
      list(std::move(reply));
    } else if (method == "job.status") {
      job_status(request.params, std::move(reply));
    } else if (method == "job.read") {
      job_read(request.params, std::move(reply));
    } else if (method == "job.cancel") {
      job_cancel(request.params, std::move(reply));
    } else {
      return false;
    }
    return true;
  }

  json status_json() const override {
    const compute::Load load = worker_->load();
    return {{"runs_jobs", worker_->options().accepts_jobs},
            {"cpus", worker_->options().cpus},
            {"memory", worker_->options().memory},
            {"gpus", worker_->options().gpus.size()},
            {"runtimes", runtime_names()},
            {"running", load.running},
            {"waiting", load.waiting},
            {"cpus_free", load.cpus_free},
            {"coordinating", coordinator_->active_jobs()},
            {"nodes_advertising", adverts_.size()},
            {"by_state", jobs_by_state()},
            {"ended", ended_jobs()},
            {"sandbox", sandbox_json(worker_->stats())}};
  }

  std::map<crypto::NodeId, double> clock_offsets() const override {
    std::map<crypto::NodeId, double> out;
    for (const auto& [id, known] : adverts_) {
      if (id == self_ || known.offsets_ms.empty()) continue;
      const int64_t best =
          *std::min_element(known.offsets_ms.begin(), known.offsets_ms.end(),
                            [](int64_t a, int64_t b) { return std::abs(a) < std::abs(b); });
      out[id] = static_cast<double>(best) / 1000.0;
    }
    return out;
  }

  void set_policy(std::vector<std::string> labels, std::vector<std::string> allow) override {
    worker_->set_policy(std::move(labels), std::move(allow));
    advertise();  // at once rather than at the next round
  }

  std::vector<std::pair<crypto::NodeId, compute::NodeAdvert>> adverts() const override {
    std::vector<std::pair<crypto::NodeId, compute::NodeAdvert>> out;
    for (const auto& [id, known] : adverts_) out.emplace_back(id, known.advert);
    return out;
  }

  void close(std::function<void()> done) override {
    closing_ = true;
    close_done_ = std::move(done);
    worker_->stop();
    // The file threads may be waiting for the loop (through the file system): they are joined
    // on a thread of their own, which wakes the loop when they are gone.
    executor_.request_stop();
    joiner_ = std::thread([this] {
      executor_.join();
      joined_ = true;
      std::lock_guard lock(posted_mu_);
      uv_async_send(&async_);
    });
    runner_->close([this] {
      runner_closed_ = true;
      maybe_close_handles();
    });
  }

 private:
  struct KnownAdvert {
    compute::NodeAdvert advert;
    core::MonoTime heard{};
    int missed = 0;  // advert rounds it was missing from
    // Our wall clock minus the advert's when a new advert was heard, the latest few: adverts
    // are at most an advert interval old when read, so the one nearest zero is the best
    // estimate of how far the node's clock is behind ours.
    std::deque<int64_t> offsets_ms;
  };

  static json sandbox_json(const compute::WorkerStats& stats) {
    return {{"started", stats.started},
            {"succeeded", stats.succeeded},
            {"exited_nonzero", stats.exited_nonzero},
            {"signaled", stats.signaled},
            {"timed_out", stats.timed_out},
            {"out_of_memory", stats.out_of_memory},
            {"cancelled", stats.cancelled},
            {"prepare_failed", stats.prepare_failed},
            {"no_runtime", stats.no_runtime},
            {"start_failed", stats.start_failed}};
  }

  json jobs_by_state() const {
    json out = json::object();
    for (size_t i = 0; i < compute::kTaskStates; ++i) {
      out[std::string(compute::state_name(static_cast<compute::TaskState>(i)))] = 0;
    }
    for (const compute::JobSummary& job : coordinator_->jobs()) {
      auto& count = out[std::string(compute::state_name(job.record.state))];
      count = count.get<uint64_t>() + 1;
    }
    return out;
  }

  json ended_jobs() const {
    json out = json::object();
    const auto& ended = coordinator_->ended_jobs();
    for (size_t i = 0; i < ended.size(); ++i) {
      const auto state = static_cast<compute::TaskState>(i);
      if (compute::is_terminal(state)) out[std::string(compute::state_name(state))] = ended[i];
    }
    return out;
  }

  struct Pending {
    compute::JobRecord record;
    std::vector<std::string> events;
    bool written_once = false;
    bool queued = false;
  };

  // ---- Plumbing ----

  // Runs `work` on the loop; from any thread. Dropped once the handles are closing.
  void post(std::function<void()> work) {
    std::lock_guard lock(posted_mu_);
    if (async_closed_) return;
    posted_.push_back(std::move(work));
    uv_async_send(&async_);
  }

  void run_posted() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(posted_mu_);
      work.swap(posted_);
    }
    for (auto& item : work) {
      if (!closing_) item();
    }
    rearm();
    if (closing_) maybe_close_handles();
  }

  // Runs blocking file work for `key` on the executor, then `back` on the loop.
  template <typename T>
  void on_files(const std::string& key, std::function<T()> work, std::function<void(T)> back) {
    executor_.add(key, [this, work = std::move(work), back = std::move(back)]() mutable {
      T value = work();
      post(
          [value = std::move(value), back = std::move(back)]() mutable { back(std::move(value)); });
    });
  }

  void on_files(const std::string& key, std::function<void()> work) {
    executor_.add(key, std::move(work));
  }

  void rearm() {
    if (closing_) return;
    const core::MonoTime next = std::min(coordinator_->next_timer(), worker_->next_timer());
    if (next == core::MonoTime::max()) {
      uv_timer_stop(&engine_timer_);
      return;
    }
    uv_timer_start(
        &engine_timer_,
        [](uv_timer_t* timer) {
          core::guarded("jobs timer", [&] {
            auto* self = static_cast<Host*>(timer->data);
            const core::MonoTime now = self->runtime_.now();
            self->coordinator_->on_timer(now);
            self->worker_->on_timer(now);
            self->rearm();
          });
        },
        to_ms(next - runtime_.now()), 0);
  }

  void maybe_close_handles() {
    if (!runner_closed_ || !joined_ || handles_closing_) return;
    handles_closing_ = true;
    if (joiner_.joinable()) joiner_.join();
    remove_leftovers();
    {
      std::lock_guard lock(posted_mu_);
      async_closed_ = true;
    }
    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&engine_timer_),
                                reinterpret_cast<uv_handle_t*>(&advert_timer_),
                                reinterpret_cast<uv_handle_t*>(&scan_timer_),
                                reinterpret_cast<uv_handle_t*>(&persist_timer_),
                                reinterpret_cast<uv_handle_t*>(&async_)}) {
      uv_close(handle, [](uv_handle_t* handle) {
        core::guarded("jobs close", [&] {
          auto* self = static_cast<Host*>(handle->data);
          if (++self->closed_handles_ == 5 && self->close_done_) self->close_done_();
        });
      });
    }
  }

  // What a clean stop leaves of the jobs' folder: nothing runs any more, so the attempts'
  // folders go; the whole folder too when it caches no image and is the default one.
  void remove_leftovers() {
    std::error_code error;
    std::filesystem::remove_all(options_.state_dir / "run", error);
    if (!options_.remove_state_dir_when_empty) return;
    if (std::filesystem::is_empty(options_.state_dir / "images", error) && !error) {
      std::filesystem::remove_all(options_.state_dir, error);
    }
  }

  compute::Principal principal_of(const exchange::Caller& caller) {
    compute::Principal principal{caller.peer.id, {}, {}};
    if (caller.certificate && options_.verify_certificate) {
      if (auto certificate = options_.verify_certificate(caller.peer.id, caller.certificate)) {
        principal.name = certificate->name;
        principal.roles = certificate->roles;
      }
    }
    return principal;
  }

  void dispatch(const compute::Principal& from, Message message,
                std::function<void(Message)> reply) {
    const core::MonoTime now = runtime_.now();
    if (std::holds_alternative<compute::Offer>(message) ||
        std::holds_alternative<compute::Cancel>(message) ||
        std::holds_alternative<compute::Probe>(message)) {
      worker_->on_message(from, std::move(message), std::move(reply), now);
    } else {
      coordinator_->on_message(from.node, std::move(message), std::move(reply), now);
    }
    rearm();
  }

  std::optional<exchange::PeerRef> peer_ref(const crypto::NodeId& id) const {
    for (const dht::Contact& contact : runtime_.node().routing_table().contacts()) {
      if (contact.id != id) continue;
      if (auto endpoint = dht::to_endpoint(contact.address))
        return exchange::PeerRef{id, *endpoint};
    }
    return std::nullopt;
  }

  std::vector<std::string> runtime_names() const {
    std::vector<std::string> names;
    for (compute::RuntimeKind kind : runner_->runtimes()) {
      names.emplace_back(compute::runtime_kind_name(kind));
    }
    return names;
  }

  // ---- CoordinatorIo and WorkerIo ----

  int64_t wall_ms() override { return wall_now_ms(); }

  void send(const crypto::NodeId& to, Message message, core::Duration timeout,
            std::function<void(core::Result<Message>)> done) override {
    auto finish = [this, done = std::move(done)](core::Result<Message> result) {
      done(std::move(result));
      rearm();
    };
    if (to == self_) {
      // To this node's own coordinator or worker: as if it came over the network, later.
      post([this, message = std::move(message), finish = std::move(finish)]() mutable {
        dispatch(self_principal_, std::move(message), [this, finish](Message reply) {
          post([finish, reply = std::move(reply)]() mutable { finish(std::move(reply)); });
        });
      });
      return;
    }
    auto call = [this, timeout, finish](const exchange::PeerRef& peer, core::Bytes body) {
      exchange_.call(peer, compute::kComputeService, std::move(body), timeout,
                     [finish](core::Result<core::Bytes> reply) {
                       if (!reply) return finish(tl::unexpected(reply.error()));
                       finish(compute::decode_message(*reply));
                     });
    };
    core::Bytes body = compute::encode_message(message);
    if (auto peer = peer_ref(to)) return call(*peer, std::move(body));
    // Not in the routing table: look the node up.
    runtime_.run(
        [this, to, call, finish, body = std::move(body)](dht::Node& node, core::MonoTime now) {
          node.find_node(to, now, [to, call, finish, body](dht::LookupResult result) {
            for (const dht::Contact& contact : result.closest) {
              if (contact.id != to) continue;
              if (auto endpoint = dht::to_endpoint(contact.address)) {
                return call(exchange::PeerRef{to, *endpoint}, body);
              }
            }
            finish(make_error(ErrorCode::kIo, "node " + to.short_id() + " is not reachable"));
          });
        });
  }

  void persist(const compute::JobRecord& record, std::vector<std::string> events) override {
    Pending& pending = persisting_[record.name];
    pending.record = record;
    pending.events.insert(pending.events.end(), std::make_move_iterator(events.begin()),
                          std::make_move_iterator(events.end()));
    // The first record and the last go out at once; changes in between are batched.
    if (!pending.written_once || compute::is_terminal(record.state)) {
      return write_pending(record.name);
    }
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&persist_timer_))) {
      uv_timer_start(
          &persist_timer_,
          [](uv_timer_t* timer) {
            core::guarded("jobs persist timer", [&] {
              auto* self = static_cast<Host*>(timer->data);
              std::vector<std::string> names;
              for (const auto& [name, pending] : self->persisting_) names.push_back(name);
              for (const std::string& name : names) self->write_pending(name);
            });
          },
          to_ms(kPersistDelay), 0);
    }
  }

  void write_pending(const std::string& name) {
    auto it = persisting_.find(name);
    if (it == persisting_.end()) return;
    compute::JobRecord record = std::move(it->second.record);
    std::vector<std::string> events = std::move(it->second.events);
    const bool terminal = compute::is_terminal(record.state);
    if (terminal) {
      persisting_.erase(it);
      known_terminal_.insert(name);
    } else {
      it->second.written_once = true;
      it->second.events.clear();
      // Keep the entry (without a record to write) so that later changes are batched.
      it->second.record = compute::JobRecord{};
      it->second.record.name = name;
    }
    on_files(name, [this, record = std::move(record), events = std::move(events)] {
      if (auto written = files_->write_record(record, events); !written) {
        spdlog::warn("jobs: writing {}: {}", record.name, written.error().message());
      }
    });
  }

  void locate_inputs(
      const compute::JobRecord& record, const compute::JobSpec& spec,
      std::function<void(std::map<crypto::NodeId, uint64_t>, uint64_t)> done) override {
    using Contents = core::Result<std::vector<std::pair<crypto::Cid, uint64_t>>>;
    on_files<Contents>(
        record.name, [this, spec] { return files_->input_contents(spec, kLocalitySamples); },
        [this, done = std::move(done)](Contents contents) {
          if (!contents || contents->empty()) {
            done({}, 0);
            return rearm();
          }
          struct Tally {
            std::map<crypto::NodeId, uint64_t> held;
            uint64_t total = 0;
            size_t waiting = 0;
          };
          auto tally = std::make_shared<Tally>();
          tally->waiting = contents->size();
          for (const auto& [cid, size] : *contents) {
            tally->total += size;
            if (auto has = store_.has(cid); has && *has) tally->held[self_] += size;
            runtime_.run(
                [this, tally, done, cid = cid, size = size](dht::Node& node, core::MonoTime now) {
                  node.get_providers(dht::provider_key(cid), now,
                                     [this, tally, done, size](dht::ProvidersResult result) {
                                       for (const dht::Contact& provider : result.providers) {
                                         if (provider.id != self_) tally->held[provider.id] += size;
                                       }
                                       if (--tally->waiting == 0) {
                                         done(tally->held, tally->total);
                                         rearm();
                                       }
                                     });
                });
          }
        });
  }

  void commit_outputs(const compute::JobRecord& record, const compute::JobSpec& spec, uint32_t task,
                      const std::string& staged, std::function<void(core::Status)> done) override {
    on_files<core::Status>(
        record.name,
        [this, record, spec, task, staged] {
          return files_->commit_outputs(record, spec, task, staged);
        },
        [this, done = std::move(done)](core::Status status) {
          done(std::move(status));
          rearm();
        });
  }

  void discard_staged(const std::string& staged) override {
    on_files(job_of(staged), [this, staged] { (void)files_->remove(staged); });
  }

  void prepare(const compute::AttemptRef& attempt, const compute::JobSpec& spec, bool array,
               std::function<void(core::Result<compute::SandboxSpec>)> done) override {
    using Prepared = core::Result<compute::SandboxSpec>;
    on_files<Prepared>(
        compute::sandbox_name(attempt),
        [this, attempt, spec, array] { return files_->prepare(attempt, spec, array); },
        [this, done = std::move(done)](Prepared prepared) {
          done(std::move(prepared));
          rearm();
        });
  }

  void ship_logs(const compute::AttemptRef& attempt, bool array) override {
    on_files(compute::sandbox_name(attempt), [this, attempt, array] {
      if (auto shipped = files_->ship_logs(attempt, array); !shipped) {
        spdlog::debug("jobs: shipping logs of {}: {}", attempt.key.job, shipped.error().message());
      }
    });
  }

  void finish(const compute::AttemptRef& attempt, const compute::JobSpec& spec, bool array,
              bool stage, std::function<void(core::Result<std::string>)> done) override {
    using Staged = core::Result<std::string>;
    on_files<Staged>(
        compute::sandbox_name(attempt),
        [this, attempt, spec, array, stage] { return files_->finish(attempt, spec, array, stage); },
        [this, done = std::move(done)](Staged staged) {
          done(std::move(staged));
          rearm();
        });
  }

  void cleanup(const compute::AttemptRef& attempt) override {
    on_files(compute::sandbox_name(attempt), [this, attempt] { files_->cleanup(attempt); });
  }

  static std::string job_of(const std::string& path) {
    // "jobs/<name>/..." -> "<name>"
    const size_t start = compute::layout::kSpool.size() + 1;
    const size_t end = path.find('/', start);
    return path.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }

  // ---- The spool ----

  void on_notice(const fs::CommitNotice& notice) {
    const std::string& path = notice.path;
    const std::string spool = std::string(compute::layout::kSpool) + "/";
    if (path.rfind(spool, 0) != 0) return;
    const std::string rest = path.substr(spool.size());
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) {
      if (compute::layout::is_submission(rest) && !notice.open_for_writing) {
        take(path, notice.uid);
      }
      return;
    }
    if (rest.substr(slash + 1) == compute::layout::kCtlFile) check_cancel(rest.substr(0, slash));
  }

  void take(const std::string& path, std::optional<uint32_t> uid) {
    if (!taking_.insert(path).second) return;
    compute::JobRecord record;
    record.instance = rng_next();
    record.user = user_name(uid);
    record.submitter = self_;
    record.coordinator = self_;
    record.submitted_ms = wall_now_ms();
    on_files<std::pair<compute::Intake, compute::JobRecord>>(
        "spool",
        [this, path, record]() mutable {
          compute::Intake intake = files_->take_submission(path, record);
          return std::pair{std::move(intake), std::move(record)};
        },
        [this, path](std::pair<compute::Intake, compute::JobRecord> taken) {
          taking_.erase(path);
          auto& [intake, record] = taken;
          json result;
          if (intake.outcome == compute::Intake::Outcome::kAccepted) {
            spdlog::info("jobs: {} submitted by {} ({} task{})", intake.name, record.user,
                         intake.spec.task_count(), intake.spec.task_count() == 1 ? "" : "s");
            compute::Submission submission{intake.name, record.instance, record.user,
                                           std::move(intake.spec), std::move(intake.spec_text)};
            if (auto submitted = coordinator_->submit(std::move(submission), runtime_.now());
                !submitted) {
              spdlog::warn("jobs: {}: {}", intake.name, submitted.error().message());
            }
            result = {{"name", intake.name}, {"state", "queued"}};
          } else if (intake.outcome == compute::Intake::Outcome::kRejected) {
            spdlog::info("jobs: {} rejected: {}", intake.name, record.reason);
            known_terminal_.insert(intake.name);
            json errors = json::array();
            for (const compute::SpecError& error : intake.errors)
              errors.push_back(error.to_string());
            result = {{"name", intake.name}, {"state", "rejected"}, {"errors", errors}};
          }
          auto waiter = submit_waiters_.find(path);
          if (waiter != submit_waiters_.end()) {
            Reply reply = std::move(waiter->second);
            submit_waiters_.erase(waiter);
            if (result.is_null()) {
              reply(make_error(ErrorCode::kNotFound, "the submission was taken elsewhere"));
            } else {
              reply(result);
            }
          }
          rearm();
        });
  }

  uint64_t rng_next() {
    uint64_t value = 0;
    rng_.fill(std::span(reinterpret_cast<uint8_t*>(&value), sizeof(value)));
    return value;
  }

  void check_cancel(const std::string& name) {
    using Asked = std::pair<bool, core::Result<compute::JobRecord>>;
    on_files<Asked>(
        name,
        [this, name] {
          auto asked = files_->cancel_asked(name);
          if (!asked || !*asked) return Asked{false, make_error(ErrorCode::kNotFound, "")};
          return Asked{true, files_->read_record(name)};
        },
        [this, name](Asked asked) {
          if (!asked.first) return;
          const std::string reason = "cancelled through its ctl file";
          if (coordinator_->holds(name)) {
            (void)coordinator_->cancel(name, reason, runtime_.now());
          } else if (asked.second && !compute::is_terminal(asked.second->state)) {
            send(asked.second->coordinator,
                 compute::CancelJob{name, asked.second->instance, reason}, 5s,
                 [name](core::Result<Message> reply) {
                   if (!reply) {
                     spdlog::warn("jobs: cannot reach the coordinator of {}: {}", name,
                                  reply.error().message());
                   }
                 });
          }
          rearm();
        });
  }

  // ---- Adverts ----

  compute::NodeAdvert own_advert() {
    compute::NodeAdvert advert;
    const compute::WorkerOptions& worker = worker_->options();
    advert.name = options_.name;
    advert.cpus = static_cast<uint32_t>(std::ceil(worker.cpus));
    advert.memory = worker.memory;
    struct statvfs vfs {};
    if (::statvfs(options_.state_dir.c_str(), &vfs) == 0) {
      advert.disk_free = uint64_t{vfs.f_bavail} * vfs.f_frsize;
    }
    advert.gpus = host_.gpus;
    advert.runtimes = runner_->runtimes();
    advert.labels = worker.labels;
    advert.load = worker_->load();
    compute::HostProbeOptions probe;
    probe.nvidia_smi.clear();
    if (auto now = compute::probe_host(probe)) advert.load1 = now->load1;
    advert.accepts_jobs = worker.accepts_jobs;
    advert.mounted = worker.mounted;
    advert.allow = worker.allow;
    advert.queue_depth = worker.queue_depth;
    advert.wall_ms = wall_now_ms() + options_.advert_clock_offset.count();
    return advert;
  }

  void advertise() {
    if (closing_) return;
    own_ = own_advert();
    const uint32_t ttl = static_cast<uint32_t>(std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(options_.node_lease).count()));
    auto value =
        dht::SignedValue::sign(identity_, compute::advert_key(compute::advert_shard_of(self_)),
                               next_sequence_(), ttl, compute::encode_advert(own_));
    if (!value) {
      spdlog::error("jobs: cannot sign the advert: {}", value.error().message());
      return;
    }
    auto round = std::make_shared<std::pair<size_t, std::vector<dht::SignedValue>>>();
    runtime_.run([this, value = std::move(*value), round](dht::Node& node, core::MonoTime now) {
      node.put(
          value, now, [](dht::PutResult) {}, /*republish=*/false);
      for (size_t shard = 0; shard < compute::kAdvertShards; ++shard) {
        node.get(compute::advert_key(shard), now, [this, round](dht::GetResult result) {
          for (dht::SignedValue& value : result.values) round->second.push_back(std::move(value));
          if (++round->first == compute::kAdvertShards) on_adverts(round->second);
        });
      }
    });
  }

  void on_adverts(const std::vector<dht::SignedValue>& values) {
    if (closing_) return;
    const core::MonoTime now = runtime_.now();
    std::set<crypto::NodeId> seen{self_};
    adverts_[self_] = KnownAdvert{own_, now, 0};
    for (const dht::SignedValue& value : values) {
      const crypto::NodeId writer = value.writer_id();
      if (writer == self_) continue;
      auto advert = compute::decode_advert(value.data);
      if (!advert) continue;
      KnownAdvert& known = adverts_[writer];
      if (known.offsets_ms.empty() || known.advert.wall_ms != advert->wall_ms) {
        known.offsets_ms.push_back(wall_now_ms() - advert->wall_ms);
        if (known.offsets_ms.size() > 8) known.offsets_ms.pop_front();
      }
      known.advert = *advert;
      known.heard = now;
      known.missed = 0;
      seen.insert(writer);
    }
    // A node missing from two rounds in a row is gone (one miss may be a lookup's luck).
    bool gone = false;
    for (auto it = adverts_.begin(); it != adverts_.end();) {
      if (!seen.count(it->first) && ++it->second.missed >= 2) {
        spdlog::info("jobs: node {} stopped advertising", it->first.short_id());
        it = adverts_.erase(it);
        gone = true;
        continue;
      }
      ++it;
    }
    std::vector<compute::NodeView> views;
    for (const auto& [id, known] : adverts_) {
      compute::NodeView view;
      view.id = id;
      view.advert = known.advert;
      view.load = id == self_ ? worker_->load() : known.advert.load;
      views.push_back(std::move(view));
    }
    coordinator_->on_nodes(std::move(views), now);
    if (gone) scan(false);
    rearm();
  }

  std::vector<crypto::NodeId> live() const {
    std::vector<crypto::NodeId> out;
    for (const auto& [id, known] : adverts_) out.push_back(id);
    return out;
  }

  // ---- Takeover ----

  // Reads the records of jobs that have not ended and the submissions left in the spool. The
  // first scan after a start resumes this node's own jobs and takes its own leftovers.
  void scan(bool first) {
    if (closing_ || scanning_) return;
    scanning_ = true;
    struct Found {
      std::vector<std::pair<compute::JobRecord, std::string>> jobs;  // with the spec text
      std::vector<std::string> terminal;
      std::vector<std::pair<std::string, crypto::NodeId>> submissions;
      std::vector<std::pair<std::string, crypto::NodeId>> coordinators;  // of jobs not ended
    };
    std::set<crypto::NodeId> alive;
    for (const auto& [id, known] : adverts_) alive.insert(id);
    // Jobs that ended never change again, and a job's coordinator changes only when it is
    // taken over: a job whose coordinator (as last read) still advertises is not read again.
    std::set<std::string> skip = known_terminal_;
    for (const auto& [name, coordinator] : coordinator_of_) {
      if ((coordinator != self_ && alive.count(coordinator)) || coordinator_->holds(name)) {
        skip.insert(name);
      }
    }
    on_files<Found>(
        "scan",
        [this, skip, alive] {
          Found found;
          if (auto names = files_->job_names()) {
            for (const std::string& name : *names) {
              if (skip.count(name)) continue;
              auto record = files_->read_record(name);
              if (!record) {
                spdlog::warn("jobs: cannot read the record of {}: {}", name,
                             record.error().message());
                continue;
              }
              if (compute::is_terminal(record->state)) {
                found.terminal.push_back(name);
                continue;
              }
              found.coordinators.emplace_back(name, record->coordinator);
              if (alive.count(record->coordinator) && record->coordinator != self_) continue;
              auto spec = files_->read_spec(name);
              if (!spec) {
                spdlog::warn("jobs: cannot read the spec of {}: {}", name, spec.error().message());
                continue;
              }
              found.jobs.emplace_back(std::move(*record), std::move(*spec));
            }
          }
          if (auto submissions = files_->submissions()) {
            for (const std::string& path : *submissions) {
              if (auto writer = files_->writer_of(path))
                found.submissions.emplace_back(path, *writer);
            }
          }
          return found;
        },
        [this, first](Found found) {
          scanning_ = false;
          for (const std::string& name : found.terminal) {
            known_terminal_.insert(name);
            coordinator_of_.erase(name);
          }
          for (const auto& [name, coordinator] : found.coordinators)
            coordinator_of_[name] = coordinator;
          const std::vector<crypto::NodeId> now_live = live();
          for (auto& [record, spec_text] : found.jobs) {
            if (coordinator_->holds(record.name)) continue;
            const bool own = record.coordinator == self_;
            if (!(own && first) && !compute::should_adopt(record, self_, now_live)) continue;
            auto spec = compute::parse_spec(spec_text, record.name);
            if (!spec) continue;
            spdlog::info("jobs: {} {}", own ? "resuming" : "taking over", record.name);
            (void)coordinator_->adopt(std::move(record), std::move(*spec), std::move(spec_text),
                                      runtime_.now());
          }
          for (const auto& [path, writer] : found.submissions) {
            const bool alive =
                std::find(now_live.begin(), now_live.end(), writer) != now_live.end();
            const auto key = crypto::NodeId(crypto::sha256(core::as_bytes(path)));
            if ((writer == self_ && first) ||
                (!alive && compute::closest_node(key, now_live) == self_)) {
              take(path, std::nullopt);
            }
          }
          rearm();
        });
  }

  // ---- Control methods ----

  static core::Result<std::string> string_param(const json& params, const char* name) {
    auto it = params.find(name);
    if (it == params.end() || !it->is_string()) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("missing string parameter \"") + name + "\"");
    }
    return it->get<std::string>();
  }

  void submit(const json& params, Reply reply) {
    auto spec = string_param(params, "spec");
    if (!spec) return reply(tl::unexpected(spec.error()));
    std::string file = params.value("file", std::string("job.toml"));
    file = fs::split_path(file).second;
    if (!compute::layout::is_submission(file)) file += ".toml";
    if (!compute::layout::is_submission(file) || file.size() > 200) {
      return reply(make_error(ErrorCode::kInvalidArgument, "bad file name " + file));
    }
    if (spec->size() > compute::kMaxSpecBytes) {
      return reply(make_error(ErrorCode::kInvalidArgument, "the spec is larger than 64 KiB"));
    }
    const std::string hidden = std::string(compute::layout::kSpool) + "/.submitting-" +
                               std::to_string(rng_next()) + ".toml";
    using Placed = core::Result<std::string>;
    on_files<Placed>(
        "submit",
        [this, hidden, file, text = *spec]() -> Placed {
          SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(compute::layout::kSpool));
          SYNAPSE_RETURN_IF_ERROR(tree_.write(hidden, core::as_bytes(text)));
          // Renamed into place under a free name: the rename is the submission.
          const std::string stem = file.substr(0, file.size() - 5);
          for (int n = 1; n < 1000; ++n) {
            const std::string path = std::string(compute::layout::kSpool) + "/" +
                                     (n == 1 ? stem : stem + "-" + std::to_string(n)) + ".toml";
            auto moved = tree_.rename(hidden, path, fs::RenameMode::kNoReplace);
            if (moved) return path;
            if (moved.error().code() != ErrorCode::kAlreadyExists) {
              return tl::unexpected(moved.error());
            }
          }
          return make_error(ErrorCode::kAlreadyExists, "no free submission name");
        },
        [this, reply = std::move(reply)](Placed placed) mutable {
          if (!placed) return reply(tl::unexpected(placed.error()));
          // The rename's notice is on its way to take(); wait for it.
          submit_waiters_[*placed] = std::move(reply);
          uv_timer_t* timer = new uv_timer_t;
          uv_timer_init(loop_, timer);
          timer->data = new std::pair<Host*, std::string>(this, *placed);
          uv_timer_start(
              timer,
              [](uv_timer_t* timer) {
                core::guarded("jobs submit wait", [&] {
                  auto* context = static_cast<std::pair<Host*, std::string>*>(timer->data);
                  Host* self = context->first;
                  auto it = self->submit_waiters_.find(context->second);
                  if (it != self->submit_waiters_.end()) {
                    Reply waiting = std::move(it->second);
                    self->submit_waiters_.erase(it);
                    waiting(make_error(ErrorCode::kIo, "the submission was not taken in time"));
                  }
                  delete context;
                  uv_close(reinterpret_cast<uv_handle_t*>(timer), [](uv_handle_t* handle) {
                    delete reinterpret_cast<uv_timer_t*>(handle);
                  });
                });
              },
              to_ms(kSubmitWait), 0);
        });
  }

  void list(Reply reply) {
    using Listed = core::Result<json>;
    on_files<Listed>(
        "list",
        [this]() -> Listed {
          SYNAPSE_ASSIGN_OR_RETURN(const auto names, files_->job_names());
          json jobs = json::array();
          for (const std::string& name : names) {
            auto record = files_->read_record(name);
            if (!record) {
              jobs.push_back({{"name", name}, {"state", "unknown"}});
              continue;
            }
            jobs.push_back(summary(*record));
          }
          return json{{"jobs", jobs}};
        },
        [reply = std::move(reply)](Listed listed) { reply(std::move(listed)); });
  }

  static json summary(const compute::JobRecord& record) {
    std::string node;
    size_t running = 0, done = 0;
    for (const compute::TaskRecord& task : record.tasks) {
      if (!task.attempts.empty()) node = task.attempts.back().node.short_id();
      running += task.state == compute::TaskState::kRunning;
      done += compute::is_terminal(task.state);
    }
    std::string reason = record.reason;
    if (reason.empty() && record.tasks.size() == 1) reason = record.tasks[0].reason;
    return {{"name", record.name},
            {"state", compute::state_name(record.state)},
            {"user", record.user},
            {"node", record.tasks.size() > 1 ? std::to_string(running) + " running" : node},
            {"coordinator", record.coordinator.short_id()},
            {"tasks", record.tasks.size()},
            {"tasks_done", done},
            {"submitted_at_ms", record.submitted_ms},
            {"started_at_ms", record.started_ms},
            {"ended_at_ms", record.ended_ms},
            {"reason", reason}};
  }

  void job_status(const json& params, Reply reply) {
    auto name = string_param(params, "name");
    if (!name) return reply(tl::unexpected(name.error()));
    if (!compute::valid_job_name(*name)) {
      return reply(make_error(ErrorCode::kInvalidArgument, "not a job name: " + *name));
    }
    using Read = core::Result<json>;
    on_files<Read>(
        *name,
        [this, name = *name]() -> Read {
          auto text = tree_.read(
              fs::join_path(compute::layout::job_folder(name), compute::layout::kStatusFile),
              size_t{64} << 20);
          if (!text) {
            if (text.error().code() == ErrorCode::kNotFound) {
              return make_error(ErrorCode::kNotFound, "no job " + name);
            }
            return tl::unexpected(text.error());
          }
          try {
            return json::parse(*text);
          } catch (const std::exception& e) {
            return make_error(ErrorCode::kCorrupt, "status.json of " + name + ": " + e.what());
          }
        },
        [reply = std::move(reply)](Read read) { reply(std::move(read)); });
  }

  void job_read(const json& params, Reply reply) {
    auto name = string_param(params, "name");
    auto file = string_param(params, "file");
    if (!name || !file) return reply(tl::unexpected(!name ? name.error() : file.error()));
    if (!compute::valid_job_name(*name) || !valid_log_name(*file)) {
      return reply(
          make_error(ErrorCode::kInvalidArgument, "cannot read " + *file + " of " + *name));
    }
    const uint64_t offset = params.value("offset", uint64_t{0});
    const size_t length = std::min<size_t>(params.value("length", kMaxReadLength), kMaxReadLength);
    using Read = core::Result<json>;
    on_files<Read>(
        *name,
        [this, name = *name, file = *file, offset, length]() -> Read {
          const std::string path = fs::join_path(compute::layout::job_folder(name), file);
          auto attr = tree_.stat(path);
          if (!attr) {
            if (attr.error().code() == ErrorCode::kNotFound) {
              return json{{"data", ""}, {"size", 0}, {"exists", false}};
            }
            return tl::unexpected(attr.error());
          }
          SYNAPSE_ASSIGN_OR_RETURN(std::string data, tree_.read_range(path, offset, length));
          json out = {{"size", attr->size}, {"exists", true}};
          // JSON strings are UTF-8: other bytes (binary output, a character cut at the end of
          // the range) travel as hex.
          if (valid_utf8(data)) {
            out["data"] = data;
          } else {
            out["hex"] = core::to_hex(core::as_bytes(data));
          }
          return out;
        },
        [reply = std::move(reply)](Read read) { reply(std::move(read)); });
  }

  void job_cancel(const json& params, Reply reply) {
    auto name = string_param(params, "name");
    if (!name) return reply(tl::unexpected(name.error()));
    if (!compute::valid_job_name(*name)) {
      return reply(make_error(ErrorCode::kInvalidArgument, "not a job name: " + *name));
    }
    on_files<core::Status>(
        *name, [this, name = *name] { return files_->ask_cancel(name); },
        [reply = std::move(reply)](core::Status status) {
          if (!status) return reply(tl::unexpected(status.error()));
          reply(json::object());
        });
  }

  uv_loop_t* loop_;
  ComputeHostOptions options_;
  const crypto::NodeIdentity& identity_;
  crypto::NodeId self_;
  dht::NodeRuntime& runtime_;
  exchange::Exchange& exchange_;
  fs::SharedFileSystem& fs_;
  blockstore::BlockStore& store_;
  std::function<uint64_t()> next_sequence_;
  fs::Tree tree_;
  crypto::SystemRng rng_;
  compute::HostResources host_;
  std::unique_ptr<compute::JobFiles> files_;
  std::unique_ptr<compute::SandboxRunner> runner_;
  std::unique_ptr<compute::Worker> worker_;
  std::unique_ptr<compute::Coordinator> coordinator_;
  compute::Principal self_principal_;
  KeyedExecutor executor_;

  uv_async_t async_{};
  uv_timer_t engine_timer_{};
  uv_timer_t advert_timer_{};
  uv_timer_t scan_timer_{};
  uv_timer_t persist_timer_{};
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
  bool async_closed_ = false;  // under posted_mu_

  compute::NodeAdvert own_;
  std::map<crypto::NodeId, KnownAdvert> adverts_;
  std::map<std::string, Pending> persisting_;
  std::set<std::string> known_terminal_;
  std::map<std::string, crypto::NodeId> coordinator_of_;  // jobs not ended, as last scanned
  std::set<std::string> taking_;
  std::map<std::string, Reply> submit_waiters_;
  bool started_ = false;
  bool scanning_ = false;

  bool closing_ = false;
  bool runner_closed_ = false;
  std::atomic<bool> joined_{false};
  bool handles_closing_ = false;
  int closed_handles_ = 0;
  std::thread joiner_;
  std::function<void()> close_done_;
};

}  // namespace

core::Result<std::unique_ptr<ComputeHost>> ComputeHost::create(
    uv_loop_t* loop, ComputeHostOptions options, const crypto::NodeIdentity& identity,
    dht::NodeRuntime& runtime, exchange::Exchange& exchange, fs::SharedFileSystem& fs,
    blockstore::BlockStore& store, std::function<uint64_t()> next_sequence) {
  auto host = std::make_unique<Host>(loop, std::move(options), identity, runtime, exchange, fs,
                                     store, std::move(next_sequence));
  SYNAPSE_RETURN_IF_ERROR(host->init());
  return std::unique_ptr<ComputeHost>(std::move(host));
}

}  // namespace synapse::daemon
