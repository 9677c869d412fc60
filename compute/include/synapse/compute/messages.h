// What coordinators and workers say to each other (docs/jobs.md, "Messages"). Each message is
// the body of one exchange call (service kComputeService) or of its reply: a msgpack array
// [version, type, fields...].
//
// A coordinator offers a task to a worker (Offer -> OfferReply), may cancel it (Cancel ->
// Ack), and after taking a job over asks workers what they run of it (Probe -> ProbeReply).
// A worker reports its tasks every heartbeat interval (Heartbeat -> HeartbeatReply, which names
// attempts the coordinator no longer wants) and the end of each attempt (Finished -> Ack,
// repeated until acknowledged). Any node tells a job's coordinator that its ctl file asked for a
// cancel (CancelJob -> Ack).
//
// Decoding is strict and bounded (kMaxMessageSize, lists and strings capped); pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "synapse/compute/job.h"
#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::compute {

inline constexpr uint32_t kComputeService = 1;
inline constexpr uint64_t kComputeWireVersion = 1;
inline constexpr size_t kMaxMessageSize = 256 * 1024;
inline constexpr size_t kMaxTasksPerMessage = 1024;
inline constexpr size_t kMaxTextSize = 1024;  // reasons, names, paths

// A worker's room for more work, as it sees it now.
struct Load {
  double cpus_free = 0;
  uint64_t memory_free = 0;
  uint32_t gpus_free = 0;
  uint32_t running = 0;
  uint32_t waiting = 0;  // accepted, not started yet
  friend bool operator==(const Load&, const Load&) = default;
};

struct Offer {
  TaskKey key;
  uint32_t attempt = 0;
  uint64_t epoch = 0;
  bool array = false;
  std::string user;       // who submitted the job (for fairness and logs)
  std::string spec_text;  // the job's spec.toml, at most kMaxSpecBytes
};
struct OfferReply {
  bool accepted = false;
  std::string reason;  // why not
  Load load;
};

// One attempt a worker holds.
struct TaskReport {
  TaskKey key;
  uint32_t attempt = 0;
  TaskState state = TaskState::kAssigned;  // assigned or running
  int64_t started_ms = 0;
  Usage usage;
};
struct Heartbeat {
  uint64_t epoch = 0;  // the coordinator epoch the worker knows for these tasks (the lowest)
  std::vector<TaskReport> tasks;
  Load load;
};
struct AttemptRef {
  TaskKey key;
  uint32_t attempt = 0;
  friend auto operator<=>(const AttemptRef&, const AttemptRef&) = default;
  friend bool operator==(const AttemptRef&, const AttemptRef&) = default;
};
struct HeartbeatReply {
  std::vector<AttemptRef> drop;  // stop these: cancelled, replaced or unknown here
};

struct Cancel {
  AttemptRef attempt;
  std::string reason;
};
struct Ack {};

struct Finished {
  AttemptRef attempt;
  TaskState outcome = TaskState::kFailed;  // succeeded, failed, timed-out or cancelled
  int exit_code = -1;                      // -1 when the command did not exit by itself
  std::string reason;
  Usage usage;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  // Tree path of the staged outputs (layout::staging_folder) when the worker staged some.
  std::string staged;
  // The attempt could not start on this node (its image, its inputs, the sandbox): another
  // node may do better. Counted against the spec's retries like a lost attempt.
  bool retry = false;
};

struct Probe {
  uint64_t epoch = 0;  // the new coordinator's
  std::vector<TaskKey> tasks;
};
struct ProbeReply {
  std::vector<TaskReport> running;  // assigned or running here
  std::vector<Finished> finished;   // ended here, not yet acknowledged
};

struct CancelJob {
  std::string job;
  uint64_t instance = 0;
  std::string reason;
};

using Message = std::variant<Offer, OfferReply, Heartbeat, HeartbeatReply, Cancel, Ack, Finished,
                             Probe, ProbeReply, CancelJob>;

// Strings over their limits are cut; lists over kMaxTasksPerMessage are a programmer error.
core::Bytes encode_message(const Message& message);
// kInvalidArgument when malformed, over a limit, of an unknown version or type.
core::Result<Message> decode_message(core::ByteView bytes);

}  // namespace synapse::compute
