// Jobs and their tasks as the swarm records them (docs/jobs.md): the states a task goes
// through, its attempts, and the job record a coordinator keeps in the job folder's
// status.json, which is what another node reads to take a job over.
//
// Plain values; the JSON codec (job_to_json, job_from_json) is pure and bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/identity.h"

namespace synapse::compute {

// queued -> assigned -> running -> succeeded | failed | cancelled | timed-out; a spec that
// cannot run is rejected. A lost attempt (its node died) goes back to queued while retries
// remain.
enum class TaskState : uint8_t {
  kQueued,
  kAssigned,  // a worker accepted it and prepares or waits for room
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kTimedOut,
  kRejected,
};
inline constexpr size_t kTaskStates = static_cast<size_t>(TaskState::kRejected) + 1;
// "queued", "assigned", "running", "succeeded", "failed", "cancelled", "timed-out", "rejected".
std::string_view state_name(TaskState state);
std::optional<TaskState> parse_state(std::string_view name);
inline bool is_terminal(TaskState state) { return state >= TaskState::kSucceeded; }

// One task of one job, across the swarm. `instance` tells apart jobs that reused a name after
// the earlier folder was removed.
struct TaskKey {
  std::string job;
  uint64_t instance = 0;
  uint32_t task = 0;
  friend auto operator<=>(const TaskKey&, const TaskKey&) = default;
  friend bool operator==(const TaskKey&, const TaskKey&) = default;
};
// "wordcount" or "wordcount[3]", for logs.
std::string to_string(const TaskKey& key, bool array);

struct Usage {
  double cpu_seconds = 0;
  uint64_t max_memory_bytes = 0;
  double wall_seconds = 0;
};

// Wall-clock times are milliseconds since the Unix epoch, 0 when not yet.
struct Attempt {
  uint32_t number = 0;  // from 1
  crypto::NodeId node;
  int64_t assigned_ms = 0;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  std::string outcome;  // empty while it runs; a terminal state name, or "lost"
  std::string reason;
};

struct TaskRecord {
  uint32_t index = 0;
  TaskState state = TaskState::kQueued;
  std::vector<Attempt> attempts;  // the last one is the current one
  std::optional<int> exit_code;
  std::string reason;  // why it failed, timed out, was cancelled or is waiting
  Usage usage;
  bool committed = false;  // its outputs are in place
};

struct JobRecord {
  std::string name;
  uint64_t instance = 0;
  TaskState state = TaskState::kQueued;  // of the whole job: job_state(tasks)
  std::string user;                      // who submitted it, on `submitter`
  crypto::NodeId submitter;
  crypto::NodeId coordinator;  // the node that schedules it now
  uint64_t epoch = 1;          // grows with every takeover
  uint32_t retries = 0;        // from the spec: new attempts allowed after lost ones
  bool array = false;
  int64_t submitted_ms = 0;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  std::string reason;  // the job's own (rejected, cancelled)
  bool cancel_requested = false;
  std::vector<TaskRecord> tasks;
};

// The state of a whole job from its tasks: terminal once every task is; then succeeded if all
// succeeded, else the first of failed, timed-out, cancelled, rejected that a task ended in.
// Before that: running if any task runs, assigned if any is assigned, else queued.
TaskState job_state(const std::vector<TaskRecord>& tasks);

// status.json (docs/jobs.md, "The job folder"). Decoding is bounded: at most 64 MiB,
// kMaxArrayTasks tasks and 1,000 attempts per task; kInvalidArgument when malformed.
std::string job_to_json(const JobRecord& job);
core::Result<JobRecord> job_from_json(std::string_view text);

// "2026-12-04T10:15:00.123Z" for a wall-clock time in milliseconds.
std::string format_time(int64_t wall_ms);

}  // namespace synapse::compute
