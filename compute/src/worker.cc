// The worker (worker.h): offers, the local queue, sandboxes, heartbeats, reports.
#include "synapse/compute/worker.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "synapse/core/units.h"

namespace synapse::compute {
namespace {

constexpr core::Duration kFirstReportRetry = 500ms;
constexpr core::Duration kMaxReportRetry = 10s;
// A start is reported within this delay (starts close together share one heartbeat).
constexpr core::Duration kStartedReport = 20ms;

using AttemptId = std::pair<TaskKey, uint32_t>;

AttemptId id_of(const AttemptRef& ref) { return {ref.key, ref.attempt}; }

}  // namespace

struct Worker::Impl {
  enum class Phase : uint8_t { kWaiting, kPreparing, kRunning, kFinishing, kReporting };
  struct Held {
    AttemptRef ref;
    crypto::NodeId coordinator;
    uint64_t epoch = 0;
    std::string user;
    JobSpec spec;
    bool array = false;
    Phase phase = Phase::kWaiting;
    std::optional<SandboxRunner::SandboxId> sandbox;
    bool reserved = false;
    std::vector<uint32_t> gpus;
    int64_t started_ms = 0;
    bool cancel = false;
    std::string cancel_reason;
    bool dropped = false;  // the coordinator no longer wants it: report nothing
    Usage usage;
    core::MonoTime next_log{};
    std::optional<Finished> report;
    core::MonoTime report_next{};
    core::MonoTime report_until{};
    core::Duration report_backoff = kFirstReportRetry;
    bool report_in_flight = false;
  };

  crypto::NodeId self;
  WorkerOptions options;
  WorkerStats stats;
  WorkerIo& io;
  SandboxRunner& runner;
  std::map<AttemptId, Held> held;
  // Waiting attempts per submitter ("user@coordinator"), served round-robin.
  std::map<std::string, std::deque<AttemptId>> queues;
  std::string last_queue;
  double cpus_used = 0;
  uint64_t memory_used = 0;
  std::set<uint32_t> gpus_used;
  core::MonoTime next_heartbeat{};
  core::MonoTime now{};
  bool stopped = false;
  // Cleared by ~Impl so that callbacks still queued on the loop find nothing to do.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(crypto::NodeId self, WorkerOptions options, WorkerIo& io, SandboxRunner& runner)
      : self(self), options(std::move(options)), io(io), runner(runner) {}
  ~Impl() { *alive = false; }

  // Runs `f` only if this worker still exists (for callbacks from io and the runner).
  template <typename F>
  auto guard(F f) {
    return [alive = std::weak_ptr<bool>(alive), f = std::move(f)](auto&&... args) mutable {
      if (auto live = alive.lock(); live && *live) f(std::forward<decltype(args)>(args)...);
    };
  }

  Load load() const {
    Load out;
    out.cpus_free = std::max(0.0, options.cpus - cpus_used);
    out.memory_free = options.memory > memory_used ? options.memory - memory_used : 0;
    out.gpus_free = static_cast<uint32_t>(options.gpus.size() - gpus_used.size());
    for (const auto& [id, h] : held) {
      if (h.phase == Phase::kWaiting) ++out.waiting;
      if (h.phase == Phase::kPreparing || h.phase == Phase::kRunning) ++out.running;
    }
    return out;
  }

  NodeView self_view() const {
    NodeView view;
    view.id = self;
    view.advert.name = options.name;
    view.advert.cpus = static_cast<uint32_t>(options.cpus + 0.999);
    view.advert.memory = options.memory;
    for (uint32_t gpu : options.gpus) view.advert.gpus.push_back(GpuInfo{gpu, {}, 0});
    view.advert.runtimes = options.runtimes;
    view.advert.labels = options.labels;
    view.advert.accepts_jobs = options.accepts_jobs;
    view.advert.mounted = options.mounted;
    view.advert.queue_depth = options.queue_depth;
    view.load = load();
    return view;
  }

  bool fits_now(const JobSpec& spec) const {
    const Resources& r = spec.resources;
    return cpus_used + r.cpus <= options.cpus + 1e-9 && memory_used + r.memory <= options.memory &&
           gpus_used.size() + r.gpus <= options.gpus.size();
  }

  // ---- Offers ----

  OfferReply on_offer(const Principal& from, const Offer& offer) {
    auto decline = [&](std::string reason) { return OfferReply{false, std::move(reason), load()}; };
    if (stopped || !options.accepts_jobs) return decline("this node does not run jobs");
    if (!policy_admits(options.allow, from)) {
      return decline("this node's policy does not admit " +
                     (from.name.empty() ? from.node.short_id() : from.name));
    }
    const AttemptId id{offer.key, offer.attempt};
    if (held.count(id)) return OfferReply{true, "", load()};  // a repeated offer
    // An older attempt of the same task is one its coordinator gave up on: drop it.
    std::vector<AttemptId> older;
    for (const auto& [other, h] : held) {
      if (other.first == offer.key && other.second < offer.attempt) older.push_back(other);
    }
    for (const AttemptId& other : older) {
      if (auto it = held.find(other); it != held.end()) drop(it->second);
    }
    auto spec = parse_spec(offer.spec_text, offer.key.job);
    if (!spec) return decline("its spec does not parse here: " + spec.error().front().to_string());
    const Principal coordinator = from;
    if (auto why = unfit_reason(*spec, self_view(), coordinator))
      return decline("this node " + *why);
    if (!fits_now(*spec) && load().waiting >= options.queue_depth) {
      return decline("busy: " + std::to_string(options.queue_depth) + " tasks already wait here");
    }
    Held h;
    h.ref = AttemptRef{offer.key, offer.attempt};
    h.coordinator = from.node;
    h.epoch = offer.epoch;
    h.user = offer.user;
    h.spec = std::move(*spec);
    h.array = offer.array;
    held.emplace(id, std::move(h));
    queues[offer.user + "@" + from.node.to_hex()].push_back(id);
    return OfferReply{true, "", load()};
  }

  bool waiting(const AttemptId& id) const {
    auto it = held.find(id);
    return it != held.end() && it->second.phase == Phase::kWaiting;
  }

  // Starts waiting attempts while they fit, one submitter after the other.
  void pump() {
    for (bool started = true; started && !stopped;) {
      started = false;
      std::vector<std::string> order;
      for (auto it = queues.upper_bound(last_queue); it != queues.end(); ++it) {
        order.push_back(it->first);
      }
      for (auto it = queues.begin(); it != queues.end() && it->first <= last_queue; ++it) {
        order.push_back(it->first);
      }
      for (const std::string& name : order) {
        auto& queue = queues[name];
        while (!queue.empty() && !waiting(queue.front())) queue.pop_front();
        if (queue.empty()) continue;
        Held& h = held.at(queue.front());
        if (!fits_now(h.spec)) continue;
        queue.pop_front();
        last_queue = name;
        start(h);
        started = true;
        break;
      }
    }
    for (auto it = queues.begin(); it != queues.end();) {
      it = it->second.empty() ? queues.erase(it) : std::next(it);
    }
  }

  void reserve(Held& h) {
    const Resources& r = h.spec.resources;
    cpus_used += r.cpus;
    memory_used += r.memory;
    for (uint32_t gpu : options.gpus) {
      if (h.gpus.size() >= r.gpus) break;
      if (gpus_used.insert(gpu).second) h.gpus.push_back(gpu);
    }
    h.reserved = true;
  }

  void release(Held& h) {
    if (!h.reserved) return;
    cpus_used = std::max(0.0, cpus_used - h.spec.resources.cpus);
    memory_used -= std::min(memory_used, h.spec.resources.memory);
    for (uint32_t gpu : h.gpus) gpus_used.erase(gpu);
    h.gpus.clear();
    h.reserved = false;
  }

  void start(Held& h) {
    reserve(h);
    h.phase = Phase::kPreparing;
    const AttemptId id = id_of(h.ref);
    io.prepare(h.ref, h.spec, h.array, guard([this, id](core::Result<SandboxSpec> prepared) {
                 on_prepared(id, std::move(prepared));
               }));
  }

  void on_prepared(const AttemptId& id, core::Result<SandboxSpec> prepared) {
    auto it = held.find(id);
    if (it == held.end()) return;
    Held& h = it->second;
    if (h.cancel || h.dropped) {
      return ended(h, TaskState::kCancelled, -1, h.cancel_reason, false);
    }
    if (!prepared) {
      ++stats.prepare_failed;
      return ended(h, TaskState::kFailed, -1, "could not prepare: " + prepared.error().message(),
                   true);
    }
    SandboxSpec spec = std::move(*prepared);
    const Resources& r = h.spec.resources;
    spec.limits.cpus = r.cpus;
    spec.limits.memory_bytes = r.memory;
    spec.limits.pids = r.pids;
    spec.limits.timeout = r.timeout;
    spec.limits.kill_grace = options.kill_grace;
    spec.network = r.network;
    spec.gpus = h.gpus;
    spec.uid = options.uid;
    spec.gid = options.gid;
    auto runtime = pick_runtime(h.spec, options.runtimes);
    if (!runtime) {
      ++stats.no_runtime;
      return ended(h, TaskState::kFailed, -1, "no runtime here can run it", true);
    }
    spec.runtime = *runtime;
    auto started = runner.start(std::move(spec), guard([this, id](SandboxResult result) {
                                  on_sandbox_done(id, std::move(result));
                                }));
    if (!started) {
      ++stats.start_failed;
      return ended(h, TaskState::kFailed, -1, "could not start: " + started.error().message(),
                   true);
    }
    ++stats.started;
    h.sandbox = *started;
    h.phase = Phase::kRunning;
    h.started_ms = io.wall_ms();
    h.next_log = now + options.log_interval;
    // Tell the coordinator soon that it runs, rather than at the next regular heartbeat.
    next_heartbeat = std::min(next_heartbeat, now + kStartedReport);
  }

  void on_sandbox_done(const AttemptId& id, SandboxResult result) {
    auto it = held.find(id);
    if (it == held.end()) return;
    Held& h = it->second;
    h.sandbox.reset();
    h.usage = Usage{result.usage.cpu_seconds, result.usage.max_memory_bytes,
                    std::chrono::duration<double>(result.usage.wall).count()};
    switch (result.outcome) {
      case SandboxOutcome::kExited:
        if (result.exit_code == 0) {
          ++stats.succeeded;
          return ended(h, TaskState::kSucceeded, 0, "", false);
        }
        ++stats.exited_nonzero;
        return ended(h, TaskState::kFailed, result.exit_code,
                     "exited with " + std::to_string(result.exit_code), false);
      case SandboxOutcome::kSignaled:
        ++stats.signaled;
        return ended(h, TaskState::kFailed, -1, result.reason, false);
      case SandboxOutcome::kTimedOut:
        ++stats.timed_out;
        return ended(h, TaskState::kTimedOut, -1, result.reason, false);
      case SandboxOutcome::kOutOfMemory:
        ++stats.out_of_memory;
        return ended(h, TaskState::kFailed, -1, "out-of-memory: " + result.reason, false);
      case SandboxOutcome::kCancelled:
        ++stats.cancelled;
        return ended(h, TaskState::kCancelled, -1,
                     h.cancel_reason.empty() ? result.reason : h.cancel_reason, false);
      case SandboxOutcome::kStartFailed:
        ++stats.start_failed;
        return ended(h, TaskState::kFailed, -1, "could not start: " + result.reason, false);
    }
  }

  // The attempt ended here: free its room, ship its logs, stage outputs, report.
  void ended(Held& h, TaskState outcome, int exit_code, std::string reason, bool retry) {
    release(h);
    h.phase = Phase::kFinishing;
    Finished report;
    report.attempt = h.ref;
    report.outcome = outcome;
    report.exit_code = exit_code;
    report.reason = std::move(reason);
    report.usage = h.usage;
    report.started_ms = h.started_ms;
    report.ended_ms = io.wall_ms();
    report.retry = retry;
    const AttemptId id = id_of(h.ref);
    const bool ran = h.started_ms != 0;
    pump();
    if (!ran) return reported_ready(id, std::move(report), "");
    io.finish(
        h.ref, h.spec, h.array, outcome == TaskState::kSucceeded && !h.dropped,
        guard([this, id, report = std::move(report)](core::Result<std::string> staged) mutable {
          if (!staged) {
            report.outcome = TaskState::kFailed;
            report.reason = "its outputs could not be staged: " + staged.error().message();
            return reported_ready(id, std::move(report), "");
          }
          reported_ready(id, std::move(report), *staged);
        }));
  }

  void reported_ready(const AttemptId& id, Finished report, std::string staged) {
    auto it = held.find(id);
    if (it == held.end()) return;
    Held& h = it->second;
    report.staged = std::move(staged);
    if (h.dropped) return forget(id);
    h.phase = Phase::kReporting;
    h.report = std::move(report);
    h.report_until = now + options.report_for;
    send_report(h);
  }

  void send_report(Held& h) {
    if (h.report_in_flight) return;
    h.report_in_flight = true;
    const AttemptId id = id_of(h.ref);
    io.send(h.coordinator, *h.report, options.offer_wait,
            guard([this, id](core::Result<Message> reply) {
              auto it = held.find(id);
              if (it == held.end()) return;
              Held& h = it->second;
              h.report_in_flight = false;
              if (reply) return forget(id);
              if (now >= h.report_until) return forget(id);
              h.report_next = now + h.report_backoff;
              h.report_backoff = std::min(h.report_backoff * 2, kMaxReportRetry);
            }));
  }

  void forget(const AttemptId& id) {
    auto it = held.find(id);
    if (it == held.end()) return;
    io.cleanup(it->second.ref);
    held.erase(it);
  }

  // Stops an attempt its coordinator no longer wants; nothing is reported.
  void drop(Held& h) {
    h.dropped = true;
    stop_attempt(h, "dropped by its coordinator");
  }

  void stop_attempt(Held& h, const std::string& reason) {
    h.cancel = true;
    if (h.cancel_reason.empty()) h.cancel_reason = reason;
    switch (h.phase) {
      case Phase::kWaiting:
        // Not started: nothing to stop.
        if (h.dropped) return forget(id_of(h.ref));
        return ended(h, TaskState::kCancelled, -1, h.cancel_reason, false);
      case Phase::kRunning:
        if (h.sandbox) runner.cancel(*h.sandbox);
        return;
      default:
        return;  // preparing: checked when it is ready; finishing or reporting: too late
    }
  }

  ProbeReply on_probe(const Principal& from, const Probe& probe) {
    ProbeReply reply;
    std::set<TaskKey> wanted(probe.tasks.begin(), probe.tasks.end());
    for (auto& [id, h] : held) {
      if (!wanted.count(h.ref.key) || h.dropped || probe.epoch < h.epoch) continue;
      h.coordinator = from.node;
      h.epoch = probe.epoch;
      if (h.phase == Phase::kReporting && h.report) {
        reply.finished.push_back(*h.report);
      } else {
        reply.running.push_back(report_of(h));
      }
    }
    return reply;
  }

  TaskReport report_of(const Held& h) const {
    TaskReport report;
    report.key = h.ref.key;
    report.attempt = h.ref.attempt;
    report.state = h.phase == Phase::kWaiting || h.phase == Phase::kPreparing ? TaskState::kAssigned
                                                                              : TaskState::kRunning;
    report.started_ms = h.started_ms;
    report.usage = h.usage;
    if (h.sandbox) {
      if (auto usage = runner.usage(*h.sandbox)) {
        report.usage = Usage{usage->cpu_seconds, usage->max_memory_bytes,
                             std::chrono::duration<double>(usage->wall).count()};
      }
    }
    return report;
  }

  void heartbeat() {
    std::map<crypto::NodeId, Heartbeat> beats;
    for (const auto& [id, h] : held) {
      if (h.dropped || h.phase == Phase::kReporting) continue;
      Heartbeat& beat = beats[h.coordinator];
      if (beat.tasks.size() >= kMaxTasksPerMessage) continue;
      beat.epoch = beat.tasks.empty() ? h.epoch : std::min(beat.epoch, h.epoch);
      beat.tasks.push_back(report_of(h));
    }
    const Load current = load();
    for (auto& [coordinator, beat] : beats) {
      beat.load = current;
      io.send(coordinator, std::move(beat), options.offer_wait,
              guard([this](core::Result<Message> reply) {
                const HeartbeatReply* answer =
                    reply ? std::get_if<HeartbeatReply>(&*reply) : nullptr;
                if (!answer) return;  // unreachable: keep running, the next beat tries again
                for (const AttemptRef& ref : answer->drop) {
                  auto it = held.find(id_of(ref));
                  if (it != held.end() && it->second.phase != Phase::kReporting) drop(it->second);
                }
                pump();
              }));
    }
  }
};

Worker::Worker(crypto::NodeId self, WorkerOptions options, WorkerIo& io, SandboxRunner& runner)
    : impl_(std::make_unique<Impl>(self, std::move(options), io, runner)) {}

Worker::~Worker() = default;

void Worker::on_message(const Principal& from, Message message, std::function<void(Message)> reply,
                        core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  if (auto* offer = std::get_if<Offer>(&message)) {
    reply(s.on_offer(from, *offer));
    s.pump();
    if (s.next_heartbeat == core::MonoTime{}) s.next_heartbeat = now + s.options.heartbeat_interval;
  } else if (auto* cancel = std::get_if<Cancel>(&message)) {
    auto it = s.held.find(id_of(cancel->attempt));
    reply(Ack{});
    if (it != s.held.end() && it->second.coordinator == from.node) {
      s.stop_attempt(it->second, cancel->reason.empty() ? "cancelled" : cancel->reason);
    }
  } else if (auto* probe = std::get_if<Probe>(&message)) {
    reply(s.on_probe(from, *probe));
  } else {
    reply(Ack{});
  }
}

void Worker::on_timer(core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  if (s.held.empty()) {
    s.next_heartbeat = {};
    return;
  }
  if (now >= s.next_heartbeat) {
    s.heartbeat();
    s.next_heartbeat = now + s.options.heartbeat_interval;
  }
  for (auto& [id, h] : s.held) {
    if (h.phase == Impl::Phase::kRunning && now >= h.next_log) {
      s.io.ship_logs(h.ref, h.array);
      h.next_log = now + s.options.log_interval;
    }
    if (h.phase == Impl::Phase::kReporting && !h.report_in_flight && now >= h.report_next) {
      s.send_report(h);
    }
  }
}

core::MonoTime Worker::next_timer() const {
  const Impl& s = *impl_;
  if (s.held.empty()) return core::MonoTime::max();
  core::MonoTime next = s.next_heartbeat;
  for (const auto& [id, h] : s.held) {
    if (h.phase == Impl::Phase::kRunning) next = std::min(next, h.next_log);
    if (h.phase == Impl::Phase::kReporting && !h.report_in_flight) {
      next = std::min(next, h.report_next);
    }
  }
  return next;
}

Load Worker::load() const { return impl_->load(); }

const WorkerStats& Worker::stats() const { return impl_->stats; }

void Worker::set_policy(std::vector<std::string> labels, std::vector<std::string> allow) {
  impl_->options.labels = std::move(labels);
  impl_->options.allow = std::move(allow);
}

const WorkerOptions& Worker::options() const { return impl_->options; }

std::vector<TaskReport> Worker::tasks() const {
  std::vector<TaskReport> out;
  for (const auto& [id, h] : impl_->held) out.push_back(impl_->report_of(h));
  return out;
}

void Worker::stop() {
  Impl& s = *impl_;
  s.stopped = true;
  std::vector<AttemptId> ids;
  for (const auto& [id, h] : s.held) ids.push_back(id);
  for (const AttemptId& id : ids) {
    auto it = s.held.find(id);
    if (it != s.held.end()) s.drop(it->second);
  }
}

}  // namespace synapse::compute
