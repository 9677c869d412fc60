// The coordinator of the jobs submitted on this node (docs/jobs.md, "Scheduling" and
// "Failures"): it queues their tasks, fairly between submitting users; offers each to the node
// that fits best (which may decline: then the next one); follows the attempts through the
// workers' heartbeats; reschedules an attempt whose worker went silent for the worker lease
// (while the spec's retries allow); commits the outputs of a successful attempt exactly once;
// and records every change in the job folder. It also resumes jobs it takes over from a
// coordinator that died (adopt()).
//
// Sans-I/O: driven by submit/cancel/adopt, on_message, on_nodes and on_timer with the current
// time; it sends, persists and commits through CoordinatorIo and never reads a clock itself.
// Not thread-safe: one thread (the node's loop) calls it, and CoordinatorIo callbacks must come
// back on that thread, later (never inside the call that started them).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "synapse/compute/advert.h"
#include "synapse/compute/job.h"
#include "synapse/compute/messages.h"
#include "synapse/compute/scheduler.h"
#include "synapse/compute/spec.h"
#include "synapse/core/clock.h"

namespace synapse::compute {

using namespace std::chrono_literals;

class CoordinatorIo {
 public:
  virtual ~CoordinatorIo() = default;
  // Wall-clock milliseconds since the Unix epoch, for the job records.
  virtual int64_t wall_ms() = 0;
  // Sends `message` to `to` (this node included); `done` runs once, later, with the reply or
  // an error (kIo: unreachable or no answer within `timeout`).
  virtual void send(const crypto::NodeId& to, Message message, core::Duration timeout,
                    std::function<void(core::Result<Message>)> done) = 0;
  // The job changed: write its folder (state, status.json, exit codes) and append `events`
  // (lines without a newline) to its events.log. Returns at once; the host may coalesce.
  virtual void persist(const JobRecord& job, std::vector<std::string> events) = 0;
  // How many bytes of the job's inputs each node holds, and their total; `done` runs once,
  // later.
  virtual void locate_inputs(
      const JobRecord& job, const JobSpec& spec,
      std::function<void(std::map<crypto::NodeId, uint64_t> held, uint64_t total)> done) = 0;
  // Moves the staged outputs of a task into their destinations and links them from the task's
  // outputs/ folder; `done` runs once, later.
  virtual void commit_outputs(const JobRecord& job, const JobSpec& spec, uint32_t task,
                              const std::string& staged,
                              std::function<void(core::Status)> done) = 0;
  // Removes staged outputs that will not be committed (fire and forget).
  virtual void discard_staged(const std::string& staged) = 0;
};

struct CoordinatorOptions {
  core::Duration offer_timeout = 5s;
  // An attempt whose worker sent no heartbeat for this long is lost.
  core::Duration worker_lease = 10s;
  // A task no node took waits this long before it is offered again (unless nodes change).
  core::Duration retry_backoff = 2s;
  // Offers out at once, over all tasks.
  size_t max_offers_in_flight = 64;
  // Terminal jobs are forgotten (their folders remain) this long after they ended.
  core::Duration keep_finished = 10min;
};

// What the coordinator needs to know of a submission (the host has parsed the spec and
// checked its inputs).
struct Submission {
  std::string name;
  uint64_t instance = 0;
  std::string user;
  JobSpec spec;
  std::string spec_text;
};

// One line of `synapse jobs` for a job this node coordinates.
struct JobSummary {
  JobRecord record;
  std::string waiting_reason;  // why a queued task waits, if one does
};

// Whether `self` should take over the job of `record`: the job has not ended, its coordinator
// is not among the `live` nodes (their adverts are fresh; `self` is one of them), and `self` is
// the live node closest to the job's key, so that exactly one node takes it.
bool should_adopt(const JobRecord& record, const crypto::NodeId& self,
                  const std::vector<crypto::NodeId>& live);

class Coordinator {
 public:
  Coordinator(crypto::NodeId self, Principal principal, CoordinatorOptions options,
              CoordinatorIo& io);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // A new job, queued now. Names must be unique among the jobs this node holds
  // (kAlreadyExists otherwise).
  core::Status submit(Submission submission, core::MonoTime now);
  // Resumes a job whose record says another (dead) coordinator or an earlier run of this node
  // had it: takes it with a higher epoch, asks the workers of its running attempts what they
  // have, and queues what is queued. kAlreadyExists if this node holds it already.
  core::Status adopt(JobRecord record, JobSpec spec, std::string spec_text, core::MonoTime now);
  // Cancels a job: queued tasks end at once, running ones once their workers stopped them (or
  // their lease ran out). kNotFound for a job this node does not hold.
  core::Status cancel(const std::string& name, const std::string& reason, core::MonoTime now);

  // The live nodes and their adverts (this node's included), whenever they change.
  void on_nodes(std::vector<NodeView> nodes, core::MonoTime now);
  // A message from a worker or another node; `reply` answers it (once, now or later).
  void on_message(const crypto::NodeId& from, Message message, std::function<void(Message)> reply,
                  core::MonoTime now);
  void on_timer(core::MonoTime now);
  // When on_timer() wants to run next (MonoTime::max() when idle).
  core::MonoTime next_timer() const;

  bool holds(const std::string& name) const;
  // The jobs coordinated here: running ones and those that ended less than keep_finished ago.
  std::vector<JobSummary> jobs() const;
  size_t active_jobs() const;
  // Jobs that ended here since the coordinator started, by state (indexed by TaskState).
  const std::array<uint64_t, kTaskStates>& ended_jobs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synapse::compute
