// The coordinator (coordinator.h): queues, offers, heartbeats, leases, retries, commits.
#include "synapse/compute/coordinator.h"

#include <algorithm>
#include <deque>

#include "synapse/compute/layout.h"

namespace synapse::compute {
namespace {

// How often leases are checked and usage is written while jobs are active.
constexpr core::Duration kTick = 1s;
// Usage alone (from heartbeats) is written at most this often per job.
constexpr core::Duration kUsageWrite = 10s;
// With no node fit for a task for this long, the job is rejected.
constexpr core::Duration kUnfitGrace = 30s;
// Queue entries looked at per submitter per scheduling round.
constexpr size_t kScanPerUser = 64;

bool held_state(TaskState state) {
  return state == TaskState::kAssigned || state == TaskState::kRunning;
}

}  // namespace

struct Coordinator::Impl {
  enum class Phase : uint8_t { kWaiting, kOffering, kHeld, kCommitting, kDone };
  struct Run {
    Phase phase = Phase::kWaiting;
    core::MonoTime not_before{};
    core::MonoTime unfit_since{};  // zero while some node fits
    std::set<crypto::NodeId> declined;
    core::MonoTime last_heard{};
    std::string waiting_reason;
  };
  struct Job {
    JobRecord record;
    JobSpec spec;
    std::string spec_text;
    std::vector<Run> runs;
    crypto::NodeId key;
    bool located = false;
    std::map<crypto::NodeId, uint64_t> held;
    uint64_t input_bytes = 0;
    core::MonoTime ended{};
    core::MonoTime usage_written{};
    bool usage_dirty = false;
    bool dirty = false;
    std::vector<std::string> events;
  };
  struct Node {
    NodeView view;
    Load reply_load;
    core::MonoTime reply_time{};
    bool have_reply = false;
  };

  crypto::NodeId self;
  Principal principal;
  CoordinatorOptions options;
  CoordinatorIo& io;
  std::map<std::string, Job> jobs;
  std::array<uint64_t, kTaskStates> ended_by_state{};  // Coordinator::ended_jobs()
  // Each submitter's queued tasks in submission order (entries may be stale: checked on use).
  std::map<std::string, std::deque<std::pair<std::string, uint32_t>>> queues;
  std::string last_user;  // round-robin position
  std::map<crypto::NodeId, Node> nodes;
  size_t offers_in_flight = 0;
  core::MonoTime next_wake = core::MonoTime::max();
  core::MonoTime now{};

  Impl(crypto::NodeId self, Principal principal, CoordinatorOptions options, CoordinatorIo& io)
      : self(self), principal(std::move(principal)), options(options), io(io) {}

  // ---- Records and events ----

  void event(Job& job, const std::optional<uint32_t>& task, const std::string& text) {
    std::string line = format_time(io.wall_ms()) + " ";
    if (task && job.record.array) line += "task " + std::to_string(*task) + ": ";
    job.events.push_back(line + text);
    job.dirty = true;
  }

  // Why task `t` waits: kept for `jobs()` and, while the task is queued, in its record (the
  // reason of status.json and `synapse jobs`), written when it changes.
  void set_waiting_reason(Job& job, uint32_t t, std::string reason) {
    job.runs[t].waiting_reason = reason;
    TaskRecord& task = job.record.tasks[t];
    if (task.state == TaskState::kQueued && task.reason != reason) {
      task.reason = std::move(reason);
      job.dirty = true;
    }
  }

  TaskKey key_of(const Job& job, uint32_t task) const {
    return TaskKey{job.record.name, job.record.instance, task};
  }

  Job* find(const TaskKey& key) {
    auto it = jobs.find(key.job);
    if (it == jobs.end() || it->second.record.instance != key.instance) return nullptr;
    if (key.task >= it->second.record.tasks.size()) return nullptr;
    return &it->second;
  }

  void flush() {
    for (auto& [name, job] : jobs) {
      const bool usage_due = job.usage_dirty && now - job.usage_written >= kUsageWrite;
      if (!job.dirty && !usage_due) continue;
      job.record.state = job_state(job.record.tasks);
      io.persist(job.record, std::move(job.events));
      job.events.clear();
      job.dirty = false;
      job.usage_dirty = false;
      job.usage_written = now;
    }
  }

  // ---- Queues ----

  void enqueue(Job& job, uint32_t task, bool front) {
    Run& run = job.runs[task];
    run.phase = Phase::kWaiting;
    run.declined.clear();
    run.not_before = {};
    auto& queue = queues[job.record.user];
    const auto entry = std::make_pair(job.record.name, task);
    front ? queue.push_front(entry) : queue.push_back(entry);
  }

  bool ready(const std::pair<std::string, uint32_t>& entry, Job** job_out) {
    auto it = jobs.find(entry.first);
    if (it == jobs.end()) return false;
    Job& job = it->second;
    if (!job.located || job.record.cancel_requested) return false;
    const Run& run = job.runs[entry.second];
    if (run.phase != Phase::kWaiting ||
        job.record.tasks[entry.second].state != TaskState::kQueued) {
      return false;
    }
    if (run.not_before > now) return false;
    *job_out = &job;
    return true;
  }

  // Whether the entry is still waiting at all (else it is dropped from its queue).
  bool waiting(const std::pair<std::string, uint32_t>& entry) {
    auto it = jobs.find(entry.first);
    return it != jobs.end() && it->second.runs[entry.second].phase == Phase::kWaiting &&
           it->second.record.tasks[entry.second].state == TaskState::kQueued &&
           !it->second.record.cancel_requested;
  }

  void schedule() {
    if (nodes.empty()) {
      for (auto& [name, job] : jobs) {
        for (uint32_t t = 0; t < job.runs.size(); ++t) {
          if (job.runs[t].phase == Phase::kWaiting) {
            set_waiting_reason(job, t, "no node advertises resources yet");
          }
        }
      }
      return;
    }
    for (bool progress = true; progress && offers_in_flight < options.max_offers_in_flight;) {
      progress = false;
      // One task per submitter per round, starting after the one served last. Within one
      // submitter's queue the first task that finds no room holds the others back (FIFO).
      std::vector<std::string> order;
      for (auto it = queues.upper_bound(last_user); it != queues.end(); ++it) {
        order.push_back(it->first);
      }
      for (auto it = queues.begin(); it != queues.end() && it->first <= last_user; ++it) {
        order.push_back(it->first);
      }
      for (const std::string& user : order) {
        if (offers_in_flight >= options.max_offers_in_flight) break;
        auto& queue = queues[user];
        size_t scanned = 0;
        for (auto it = queue.begin(); it != queue.end() && scanned < kScanPerUser; ++scanned) {
          if (!waiting(*it)) {
            it = queue.erase(it);
            continue;
          }
          Job* job = nullptr;
          if (!ready(*it, &job)) {
            ++it;
            continue;
          }
          if (offer(*job, it->second)) {
            queue.erase(it);
            last_user = user;
            progress = true;
          }
          break;
        }
      }
    }
    for (auto it = queues.begin(); it != queues.end();) {
      it = it->second.empty() ? queues.erase(it) : std::next(it);
    }
  }

  std::vector<NodeView> views_excluding(const std::set<crypto::NodeId>& declined) const {
    std::vector<NodeView> out;
    for (const auto& [id, node] : nodes) {
      if (declined.count(id)) continue;
      NodeView view = node.view;
      if (node.have_reply && now - node.reply_time < 3s) view.load = node.reply_load;
      out.push_back(view);
    }
    return out;
  }

  crypto::NodeId spread_for(const Job& job, uint32_t task) const {
    crypto::NodeId spread = job.key;
    auto bytes = spread.bytes();
    for (int i = 0; i < 4; ++i) bytes[28 + i] ^= static_cast<uint8_t>(task >> (8 * i));
    return crypto::NodeId(bytes);
  }

  // Offers one task to the best node; false when none has room (it stays queued).
  bool offer(Job& job, uint32_t task) {
    Run& run = job.runs[task];
    TaskRecord& record = job.record.tasks[task];
    const std::vector<NodeView> views = views_excluding(run.declined);
    const std::vector<Ranked> ranked =
        rank_nodes(job.spec, views, principal, job.held, job.input_bytes, spread_for(job, task));
    if (ranked.empty()) {
      note_no_room(job, task, views);
      return false;
    }
    run.unfit_since = {};
    const crypto::NodeId node = ranked.front().node;
    const uint32_t attempt = static_cast<uint32_t>(record.attempts.size()) + 1;
    run.phase = Phase::kOffering;
    ++offers_in_flight;
    ++nodes[node].view.outstanding;
    Offer message{key_of(job, task), attempt,         job.record.epoch,
                  job.record.array,  job.record.user, job.spec_text};
    io.send(node, std::move(message), options.offer_timeout,
            [this, key = key_of(job, task), attempt, node](core::Result<Message> reply) {
              on_offer_reply(key, attempt, node, std::move(reply));
            });
    return true;
  }

  void note_no_room(Job& job, uint32_t task, const std::vector<NodeView>& views) {
    Run& run = job.runs[task];
    std::string unfit;
    bool any_fit = false;
    for (const auto& [id, node] : nodes) {
      auto why = unfit_reason(job.spec, node.view, principal);
      if (!why) {
        any_fit = true;
      } else if (unfit.empty()) {
        unfit = id.short_id() + " " + *why;
      }
    }
    if (!any_fit) {
      set_waiting_reason(job, task, "no node can run it (" + unfit + ")");
      if (run.unfit_since == core::MonoTime{}) run.unfit_since = now;
      if (now - run.unfit_since >= kUnfitGrace) {
        reject(job, "no node in the swarm can run it: " + unfit);
        return;
      }
      run.not_before = now + options.retry_backoff;
      return;
    }
    run.unfit_since = {};
    if (!run.declined.empty() && views.size() < nodes.size()) {
      // Every node with room declined: wait, then ask them all again.
      run.declined.clear();
      run.not_before = now + options.retry_backoff;
    }
    if (run.waiting_reason.empty()) set_waiting_reason(job, task, "waiting for room on a node");
  }

  void reject(Job& job, const std::string& reason) {
    job.record.reason = reason;
    for (uint32_t t = 0; t < job.record.tasks.size(); ++t) {
      TaskRecord& task = job.record.tasks[t];
      if (is_terminal(task.state)) continue;
      task.state = TaskState::kRejected;
      task.reason = reason;
      job.runs[t].phase = Phase::kDone;
    }
    event(job, std::nullopt, "rejected: " + reason);
    maybe_finished(job);
  }

  void on_offer_reply(const TaskKey& key, uint32_t attempt, const crypto::NodeId& node,
                      core::Result<Message> result) {
    --offers_in_flight;
    auto known = nodes.find(node);
    if (known != nodes.end() && known->second.view.outstanding > 0)
      --known->second.view.outstanding;
    const OfferReply* reply = result ? std::get_if<OfferReply>(&*result) : nullptr;
    if (reply && known != nodes.end()) {
      known->second.reply_load = reply->load;
      known->second.reply_time = now;
      known->second.have_reply = true;
    }
    Job* job = find(key);
    if (!job || job->runs[key.task].phase != Phase::kOffering) {
      // The job is gone or no longer wants this offer: stop what was accepted.
      if (reply && reply->accepted) send_cancel(node, AttemptRef{key, attempt}, "no longer wanted");
      return after_event();
    }
    Run& run = job->runs[key.task];
    TaskRecord& task = job->record.tasks[key.task];
    if (!reply || !reply->accepted) {
      run.declined.insert(node);
      run.phase = Phase::kWaiting;
      set_waiting_reason(
          *job, key.task,
          node.short_id() + " declined: " + (reply ? reply->reason : result.error().message()));
      const auto entry = std::make_pair(key.job, key.task);
      queues[job->record.user].push_front(entry);
      return after_event();
    }
    Attempt record;
    record.number = attempt;
    record.node = node;
    record.assigned_ms = io.wall_ms();
    task.attempts.push_back(record);
    task.state = TaskState::kAssigned;
    task.reason.clear();
    run.phase = Phase::kHeld;
    run.last_heard = now;
    run.declined.clear();
    run.waiting_reason.clear();
    event(*job, key.task,
          "assigned to " + node.short_id() + " (attempt " + std::to_string(attempt) + ")");
    if (job->record.cancel_requested) {
      send_cancel(node, AttemptRef{key, attempt}, job->record.reason);
    }
    after_event();
  }

  void send_cancel(const crypto::NodeId& node, AttemptRef attempt, const std::string& reason) {
    io.send(node, Cancel{std::move(attempt), reason}, options.offer_timeout,
            [](core::Result<Message>) {});
  }

  // ---- Attempts ----

  Attempt* current(Job& job, const AttemptRef& ref, const crypto::NodeId& from) {
    TaskRecord& task = job.record.tasks[ref.key.task];
    if (task.attempts.empty()) return nullptr;
    Attempt& attempt = task.attempts.back();
    if (attempt.number != ref.attempt || attempt.node != from) return nullptr;
    if (!held_state(task.state) && job.runs[ref.key.task].phase != Phase::kHeld) return nullptr;
    return &attempt;
  }

  // The current attempt of `task` is gone (its node died, or it could not start there): try
  // again elsewhere while retries remain.
  void lost(Job& job, uint32_t t, const std::string& reason) {
    TaskRecord& task = job.record.tasks[t];
    Attempt& attempt = task.attempts.back();
    attempt.outcome = "lost";
    attempt.reason = reason;
    attempt.ended_ms = io.wall_ms();
    if (job.record.cancel_requested) {
      finish_task(job, t, TaskState::kCancelled, job.record.reason);
      return;
    }
    const uint32_t attempts = static_cast<uint32_t>(task.attempts.size());
    if (attempts <= job.record.retries) {
      task.state = TaskState::kQueued;
      task.reason = "attempt " + std::to_string(attempts) + " lost: " + reason;
      event(job, t, "attempt " + std::to_string(attempts) + " lost (" + reason + "), retrying");
      enqueue(job, t, /*front=*/true);
      return;
    }
    finish_task(job, t, TaskState::kFailed,
                "gave up after " + std::to_string(attempts) + " attempts: " + reason);
  }

  void finish_task(Job& job, uint32_t t, TaskState state, const std::string& reason) {
    TaskRecord& task = job.record.tasks[t];
    task.state = state;
    task.reason = reason;
    job.runs[t].phase = Phase::kDone;
    std::string text(state_name(state));
    if (task.exit_code) text += " (exit " + std::to_string(*task.exit_code) + ")";
    if (!reason.empty() && state != TaskState::kSucceeded) text += ": " + reason;
    event(job, t, text);
    maybe_finished(job);
  }

  void maybe_finished(Job& job) {
    const TaskState state = job_state(job.record.tasks);
    if (!is_terminal(state) || job.ended != core::MonoTime{}) return;
    job.record.state = state;
    job.record.ended_ms = io.wall_ms();
    job.ended = now;
    job.dirty = true;
    ++ended_by_state[static_cast<size_t>(state)];
    if (job.record.array) event(job, std::nullopt, std::string(state_name(state)));
    io.discard_staged(layout::job_folder(job.record.name) + "/" + std::string(layout::kStagingDir));
  }

  void on_heartbeat(const crypto::NodeId& from, const Heartbeat& heartbeat,
                    const std::function<void(Message)>& reply) {
    auto known = nodes.find(from);
    if (known != nodes.end()) {
      known->second.reply_load = heartbeat.load;
      known->second.reply_time = now;
      known->second.have_reply = true;
    }
    HeartbeatReply answer;
    for (const TaskReport& report : heartbeat.tasks) {
      const AttemptRef ref{report.key, report.attempt};
      Job* job = find(report.key);
      Attempt* attempt = job ? current(*job, ref, from) : nullptr;
      if (!attempt || job->record.cancel_requested) {
        answer.drop.push_back(ref);
        continue;
      }
      Run& run = job->runs[report.key.task];
      TaskRecord& task = job->record.tasks[report.key.task];
      run.last_heard = now;
      task.usage = report.usage;
      job->usage_dirty = true;
      if (report.state == TaskState::kRunning && task.state == TaskState::kAssigned) {
        started(*job, report.key.task, report.started_ms);
      }
    }
    reply(std::move(answer));
  }

  void started(Job& job, uint32_t t, int64_t started_ms) {
    TaskRecord& task = job.record.tasks[t];
    task.state = TaskState::kRunning;
    task.attempts.back().started_ms = started_ms != 0 ? started_ms : io.wall_ms();
    if (job.record.started_ms == 0) job.record.started_ms = task.attempts.back().started_ms;
    event(job, t, "running on " + task.attempts.back().node.short_id());
  }

  void on_finished(const crypto::NodeId& from, Finished finished) {
    // Only the attempt's own staging folder is removed or committed: any other path a report
    // names (a forged or broken one) is never touched, so that it cannot make this node delete
    // or move something else in the shared tree, and the attempt counts as failed.
    if (!finished.staged.empty() &&
        finished.staged != layout::staging_folder(finished.attempt.key.job,
                                                  finished.attempt.key.task,
                                                  finished.attempt.attempt)) {
      finished.staged.clear();
      if (finished.outcome == TaskState::kSucceeded) {
        finished.outcome = TaskState::kFailed;
        finished.reason = "the worker reported outputs outside the attempt's staging folder";
      }
    }
    Job* job = find(finished.attempt.key);
    // A repeated report of an attempt whose outputs are being committed right now.
    if (job && job->runs[finished.attempt.key.task].phase == Phase::kCommitting) return;
    Attempt* attempt = job ? current(*job, finished.attempt, from) : nullptr;
    if (!attempt) {
      // Old news: an attempt that was replaced, or a job that ended or is gone.
      if (!finished.staged.empty()) io.discard_staged(finished.staged);
      return;
    }
    const uint32_t t = finished.attempt.key.task;
    TaskRecord& task = job->record.tasks[t];
    if (task.state == TaskState::kAssigned) started(*job, t, finished.started_ms);
    attempt->started_ms = finished.started_ms != 0 ? finished.started_ms : attempt->started_ms;
    attempt->ended_ms = finished.ended_ms != 0 ? finished.ended_ms : io.wall_ms();
    attempt->outcome = std::string(state_name(finished.outcome));
    attempt->reason = finished.reason;
    task.usage = finished.usage;
    if (finished.exit_code >= 0) task.exit_code = finished.exit_code;
    if (finished.retry) {
      attempt->outcome.clear();
      lost(*job, t, finished.reason);
      return;
    }
    if (!is_terminal(finished.outcome) || finished.outcome == TaskState::kRejected) {
      finish_task(*job, t, TaskState::kFailed, "the worker reported no outcome");
      return;
    }
    if (finished.outcome != TaskState::kSucceeded || job->record.cancel_requested) {
      if (!finished.staged.empty()) io.discard_staged(finished.staged);
      const TaskState state =
          job->record.cancel_requested ? TaskState::kCancelled : finished.outcome;
      finish_task(*job, t, state,
                  state == TaskState::kCancelled && job->record.cancel_requested
                      ? job->record.reason
                      : finished.reason);
      return;
    }
    if (finished.staged.empty()) {
      task.committed = true;
      finish_task(*job, t, TaskState::kSucceeded, "");
      return;
    }
    job->runs[t].phase = Phase::kCommitting;
    io.commit_outputs(job->record, job->spec, t, finished.staged,
                      [this, key = finished.attempt.key](core::Status committed) {
                        Job* job = find(key);
                        if (!job || job->runs[key.task].phase != Phase::kCommitting) return;
                        if (committed) {
                          job->record.tasks[key.task].committed = true;
                          finish_task(*job, key.task, TaskState::kSucceeded, "");
                        } else {
                          finish_task(
                              *job, key.task, TaskState::kFailed,
                              "its outputs could not be committed: " + committed.error().message());
                        }
                        after_event();
                      });
  }

  void after_event() {
    schedule();
    flush();
    rearm();
  }

  void rearm() {
    bool active = false;
    core::MonoTime soonest = core::MonoTime::max();
    for (const auto& [name, job] : jobs) {
      if (job.ended != core::MonoTime{}) {
        soonest = std::min(soonest, job.ended + options.keep_finished);
        continue;
      }
      active = true;
      if (job.usage_dirty) soonest = std::min(soonest, job.usage_written + kUsageWrite);
      for (const Run& run : job.runs) {
        if (run.phase == Phase::kWaiting && run.not_before > now) {
          soonest = std::min(soonest, run.not_before);
        }
      }
    }
    if (active) soonest = std::min(soonest, now + kTick);
    next_wake = soonest;
  }

  void start_locating(Job& job) {
    if (job.spec.inputs.empty()) {
      job.located = true;
      return;
    }
    io.locate_inputs(job.record, job.spec,
                     [this, name = job.record.name, instance = job.record.instance](
                         std::map<crypto::NodeId, uint64_t> held, uint64_t total) {
                       auto it = jobs.find(name);
                       if (it == jobs.end() || it->second.record.instance != instance) return;
                       it->second.held = std::move(held);
                       it->second.input_bytes = total;
                       it->second.located = true;
                       after_event();
                     });
  }

  Job& insert(JobRecord record, JobSpec spec, std::string spec_text) {
    Job& job = jobs[record.name];
    job.key = job_key(record.name, record.instance);
    job.runs.resize(record.tasks.size());
    job.record = std::move(record);
    job.spec = std::move(spec);
    job.spec_text = std::move(spec_text);
    job.usage_written = now;
    return job;
  }
};

bool should_adopt(const JobRecord& record, const crypto::NodeId& self,
                  const std::vector<crypto::NodeId>& live) {
  if (is_terminal(job_state(record.tasks))) return false;
  if (std::find(live.begin(), live.end(), record.coordinator) != live.end()) return false;
  return closest_node(job_key(record.name, record.instance), live) == self;
}

Coordinator::Coordinator(crypto::NodeId self, Principal principal, CoordinatorOptions options,
                         CoordinatorIo& io)
    : impl_(std::make_unique<Impl>(self, std::move(principal), options, io)) {}

Coordinator::~Coordinator() = default;

core::Status Coordinator::submit(Submission submission, core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  if (s.jobs.count(submission.name)) {
    return core::make_error(core::ErrorCode::kAlreadyExists, "job " + submission.name + " exists");
  }
  JobRecord record;
  record.name = submission.name;
  record.instance = submission.instance;
  record.user = submission.user;
  record.submitter = s.self;
  record.coordinator = s.self;
  record.epoch = 1;
  record.retries = submission.spec.resources.retries;
  record.array = submission.spec.array > 0;
  record.submitted_ms = s.io.wall_ms();
  for (uint32_t t = 0; t < submission.spec.task_count(); ++t) {
    TaskRecord task;
    task.index = t;
    record.tasks.push_back(task);
  }
  Impl::Job& job =
      s.insert(std::move(record), std::move(submission.spec), std::move(submission.spec_text));
  s.event(job, std::nullopt,
          "queued (submitted by " + job.record.user + " on " + s.self.short_id() + ")");
  for (uint32_t t = 0; t < job.record.tasks.size(); ++t) s.enqueue(job, t, false);
  s.start_locating(job);
  s.after_event();
  return core::ok();
}

core::Status Coordinator::adopt(JobRecord record, JobSpec spec, std::string spec_text,
                                core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  if (s.jobs.count(record.name)) {
    return core::make_error(core::ErrorCode::kAlreadyExists, "job " + record.name + " is held");
  }
  const crypto::NodeId previous = record.coordinator;
  record.coordinator = s.self;
  ++record.epoch;
  Impl::Job& job = s.insert(std::move(record), std::move(spec), std::move(spec_text));
  s.event(job, std::nullopt,
          previous == s.self
              ? "resumed by " + s.self.short_id() + " after a restart"
              : "taken over by " + s.self.short_id() + " from " + previous.short_id() + " (epoch " +
                    std::to_string(job.record.epoch) + ")");
  std::map<crypto::NodeId, std::vector<TaskKey>> probes;
  for (uint32_t t = 0; t < job.record.tasks.size(); ++t) {
    TaskRecord& task = job.record.tasks[t];
    if (is_terminal(task.state)) {
      job.runs[t].phase = Impl::Phase::kDone;
    } else if (held_state(task.state) && !task.attempts.empty()) {
      job.runs[t].phase = Impl::Phase::kHeld;
      job.runs[t].last_heard = now;  // the lease starts over with the new coordinator
      probes[task.attempts.back().node].push_back(s.key_of(job, t));
    } else {
      task.state = TaskState::kQueued;
      s.enqueue(job, t, false);
    }
  }
  for (auto& [node, keys] : probes) {
    s.io.send(node, Probe{job.record.epoch, keys}, s.options.offer_timeout,
              [this, node = node, keys = keys](core::Result<Message> result) {
                Impl& s = *impl_;
                const ProbeReply* reply = result ? std::get_if<ProbeReply>(&*result) : nullptr;
                if (!reply) return;  // unreachable: the lease decides
                std::set<TaskKey> known;
                for (const TaskReport& report : reply->running) {
                  known.insert(report.key);
                  Impl::Job* job = s.find(report.key);
                  if (!job) continue;
                  if (!s.current(*job, AttemptRef{report.key, report.attempt}, node)) continue;
                  job->runs[report.key.task].last_heard = s.now;
                  if (report.state == TaskState::kRunning &&
                      job->record.tasks[report.key.task].state == TaskState::kAssigned) {
                    s.started(*job, report.key.task, report.started_ms);
                  }
                }
                for (const Finished& finished : reply->finished) {
                  known.insert(finished.attempt.key);
                  s.on_finished(node, finished);
                }
                for (const TaskKey& key : keys) {
                  if (known.count(key)) continue;
                  Impl::Job* job = s.find(key);
                  if (job && held_state(job->record.tasks[key.task].state) &&
                      job->runs[key.task].phase == Impl::Phase::kHeld) {
                    s.lost(*job, key.task, node.short_id() + " no longer has it");
                  }
                }
                s.after_event();
              });
  }
  s.start_locating(job);
  s.maybe_finished(job);
  s.after_event();
  return core::ok();
}

core::Status Coordinator::cancel(const std::string& name, const std::string& reason,
                                 core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  auto it = s.jobs.find(name);
  if (it == s.jobs.end()) {
    return core::make_error(core::ErrorCode::kNotFound, "no job " + name + " here");
  }
  Impl::Job& job = it->second;
  if (is_terminal(job_state(job.record.tasks)) || job.record.cancel_requested) return core::ok();
  job.record.cancel_requested = true;
  job.record.reason = reason;
  s.event(job, std::nullopt, "cancel requested: " + reason);
  for (uint32_t t = 0; t < job.record.tasks.size(); ++t) {
    TaskRecord& task = job.record.tasks[t];
    Impl::Run& run = job.runs[t];
    if (task.state == TaskState::kQueued && run.phase == Impl::Phase::kWaiting) {
      s.finish_task(job, t, TaskState::kCancelled, reason);
    } else if (run.phase == Impl::Phase::kHeld && !task.attempts.empty()) {
      s.send_cancel(task.attempts.back().node,
                    AttemptRef{s.key_of(job, t), task.attempts.back().number}, reason);
    }
  }
  s.after_event();
  return core::ok();
}

void Coordinator::on_nodes(std::vector<NodeView> views, core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  std::map<crypto::NodeId, Impl::Node> next;
  for (NodeView& view : views) {
    Impl::Node node;
    auto old = s.nodes.find(view.id);
    if (old != s.nodes.end()) {
      node = old->second;
      view.outstanding = old->second.view.outstanding;
    }
    node.view = std::move(view);
    next.emplace(node.view.id, std::move(node));
  }
  s.nodes = std::move(next);
  // New information: tasks that every node declined may find room now.
  for (auto& [name, job] : s.jobs) {
    for (Impl::Run& run : job.runs) {
      if (run.phase != Impl::Phase::kWaiting) continue;
      run.declined.clear();
      run.not_before = {};
    }
  }
  s.after_event();
}

void Coordinator::on_message(const crypto::NodeId& from, Message message,
                             std::function<void(Message)> reply, core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  if (auto* heartbeat = std::get_if<Heartbeat>(&message)) {
    s.on_heartbeat(from, *heartbeat, reply);
  } else if (auto* finished = std::get_if<Finished>(&message)) {
    s.on_finished(from, *finished);
    reply(Ack{});
  } else if (auto* cancel_job = std::get_if<CancelJob>(&message)) {
    auto it = s.jobs.find(cancel_job->job);
    if (it != s.jobs.end() && it->second.record.instance == cancel_job->instance) {
      (void)cancel(cancel_job->job, cancel_job->reason, now);
    }
    reply(Ack{});
  } else {
    reply(Ack{});
  }
  s.after_event();
}

void Coordinator::on_timer(core::MonoTime now) {
  Impl& s = *impl_;
  s.now = now;
  for (auto it = s.jobs.begin(); it != s.jobs.end();) {
    Impl::Job& job = it->second;
    if (job.ended != core::MonoTime{} && now - job.ended >= s.options.keep_finished) {
      it = s.jobs.erase(it);
      continue;
    }
    for (uint32_t t = 0; t < job.record.tasks.size(); ++t) {
      Impl::Run& run = job.runs[t];
      TaskRecord& task = job.record.tasks[t];
      if (run.phase != Impl::Phase::kHeld || task.attempts.empty()) continue;
      if (now - run.last_heard < s.options.worker_lease) continue;
      const crypto::NodeId node = task.attempts.back().node;
      s.send_cancel(node, AttemptRef{s.key_of(job, t), task.attempts.back().number},
                    "its lease expired");
      s.lost(job, t,
             node.short_id() + " sent no heartbeat for " +
                 std::to_string(
                     std::chrono::duration_cast<std::chrono::seconds>(s.options.worker_lease)
                         .count()) +
                 " s");
    }
    ++it;
  }
  s.after_event();
}

core::MonoTime Coordinator::next_timer() const { return impl_->next_wake; }

bool Coordinator::holds(const std::string& name) const { return impl_->jobs.count(name) > 0; }

const std::array<uint64_t, kTaskStates>& Coordinator::ended_jobs() const {
  return impl_->ended_by_state;
}

size_t Coordinator::active_jobs() const {
  size_t count = 0;
  for (const auto& [name, job] : impl_->jobs) count += job.ended == core::MonoTime{};
  return count;
}

std::vector<JobSummary> Coordinator::jobs() const {
  std::vector<JobSummary> out;
  for (const auto& [name, job] : impl_->jobs) {
    JobSummary summary{job.record, {}};
    summary.record.state = job_state(job.record.tasks);
    for (const Impl::Run& run : job.runs) {
      if (run.phase == Impl::Phase::kWaiting && !run.waiting_reason.empty()) {
        summary.waiting_reason = run.waiting_reason;
        break;
      }
    }
    out.push_back(std::move(summary));
  }
  return out;
}

}  // namespace synapse::compute
