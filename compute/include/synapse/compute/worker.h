// The worker side of a node (docs/jobs.md, "The worker"): it accepts or declines the tasks
// coordinators offer, keeps the accepted ones in a queue served round-robin between
// submitters (user and coordinating node), starts each in a sandbox when its CPUs, memory and
// GPUs are free, reports its tasks to their coordinators every heartbeat interval, ships their
// output logs into the shared tree while they run, stages the outputs of a successful attempt
// and reports the end until the coordinator acknowledges it.
//
// Sans-I/O: driven by on_message and on_timer with the current time; files go through
// WorkerIo, sandboxes through a SandboxRunner. Not thread-safe: one thread (the node's loop)
// calls it, and every WorkerIo and SandboxRunner callback comes back on that thread, later.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "synapse/compute/messages.h"
#include "synapse/compute/sandbox.h"
#include "synapse/compute/scheduler.h"
#include "synapse/compute/spec.h"
#include "synapse/core/clock.h"

namespace synapse::compute {

using namespace std::chrono_literals;

class WorkerIo {
 public:
  virtual ~WorkerIo() = default;
  virtual int64_t wall_ms() = 0;
  // As CoordinatorIo::send.
  virtual void send(const crypto::NodeId& to, Message message, core::Duration timeout,
                    std::function<void(core::Result<Message>)> done) = 0;
  // Makes what an accepted attempt needs: its private folders, the log files, its image
  // unpacked, its inputs resolved; `done` runs once, later, with the sandbox to start (every
  // field but limits set; the worker fills in the limits).
  virtual void prepare(const AttemptRef& attempt, const JobSpec& spec, bool array,
                       std::function<void(core::Result<SandboxSpec>)> done) = 0;
  // Copies what the attempt's logs gained since the last call into its task folder (fire and
  // forget; calls for one attempt are carried out in order).
  virtual void ship_logs(const AttemptRef& attempt, bool array) = 0;
  // After the sandbox ended: ships the logs a last time and, when `stage` is set, copies the
  // outputs into the staging folder (layout::staging_folder) and publishes it;
  // `done` runs once, later, with the staged tree path ("" when there was nothing to stage).
  virtual void finish(const AttemptRef& attempt, const JobSpec& spec, bool array, bool stage,
                      std::function<void(core::Result<std::string>)> done) = 0;
  // Removes the attempt's private folders (fire and forget).
  virtual void cleanup(const AttemptRef& attempt) = 0;
};

struct WorkerOptions {
  bool accepts_jobs = true;
  // What jobs may use here in all.
  double cpus = 1;
  uint64_t memory = uint64_t{1} << 30;
  std::vector<uint32_t> gpus;  // device indices
  std::vector<std::string> labels;
  std::string name;                // the node's name (placement.nodes)
  std::vector<std::string> allow;  // policy_admits(); empty: every member
  std::vector<RuntimeKind> runtimes = {RuntimeKind::kBubblewrap};
  bool mounted = true;       // inputs and shared images can be bound
  uint32_t queue_depth = 4;  // accepted tasks waiting for room, at most
  uid_t uid = 65534;         // what jobs run as
  gid_t gid = 65534;
  core::Duration heartbeat_interval = 2s;
  core::Duration log_interval = 1s;
  core::Duration kill_grace = 5s;
  core::Duration offer_wait = 5s;
  // How long a Finished report is repeated before the worker gives up on its coordinator.
  core::Duration report_for = 1h;
};

// What the worker's sandboxes came to, since it started.
struct WorkerStats {
  uint64_t started = 0;         // sandboxes started
  uint64_t succeeded = 0;       // exited with 0
  uint64_t exited_nonzero = 0;  // exited with another code
  uint64_t signaled = 0;        // killed by a signal (not by the worker)
  uint64_t timed_out = 0;       // over their timeout
  uint64_t out_of_memory = 0;   // killed for their memory limit
  uint64_t cancelled = 0;       // stopped on a cancel (or the node's stop)
  // Sandbox failures: the attempt's folders or image could not be made, no runtime here could
  // run it, or the runtime failed to start it.
  uint64_t prepare_failed = 0;
  uint64_t no_runtime = 0;
  uint64_t start_failed = 0;
};

class Worker {
 public:
  Worker(crypto::NodeId self, WorkerOptions options, WorkerIo& io, SandboxRunner& runner);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Offer, Cancel and Probe from a coordinator (`from`, with its certificate's identity).
  void on_message(const Principal& from, Message message, std::function<void(Message)> reply,
                  core::MonoTime now);
  void on_timer(core::MonoTime now);
  core::MonoTime next_timer() const;

  Load load() const;
  const WorkerStats& stats() const;
  const WorkerOptions& options() const;
  // Replaces what a reload may change: labels and the allow list (they apply to later offers).
  void set_policy(std::vector<std::string> labels, std::vector<std::string> allow);
  // Attempts held (waiting, preparing, running or reporting).
  std::vector<TaskReport> tasks() const;
  // Stops every sandbox (cancel) and drops what waits; reports nothing more.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synapse::compute
