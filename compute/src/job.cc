// Job records and their JSON form (status.json). This file is the nlohmann-json adapter of the
// module: every exception of the library is caught here.
#include "synapse/compute/job.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "synapse/compute/spec.h"

namespace synapse::compute {

using core::ErrorCode;
using core::make_error;
using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 8> kStateNames = {
    "queued", "assigned", "running", "succeeded", "failed", "cancelled", "timed-out", "rejected"};

constexpr size_t kMaxStatusBytes = size_t{64} << 20;
constexpr size_t kMaxAttempts = 1000;

json usage_json(const Usage& usage) {
  return {{"cpu_seconds", usage.cpu_seconds},
          {"max_memory_bytes", usage.max_memory_bytes},
          {"wall_seconds", usage.wall_seconds}};
}

json time_json(int64_t wall_ms) {
  return wall_ms == 0 ? json(nullptr) : json(format_time(wall_ms));
}

// Thrown by the readers below; caught in job_from_json.
struct Malformed {
  std::string what;
};

const json& field(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) throw Malformed{std::string("missing \"") + key + "\""};
  return *it;
}

std::string text(const json& object, const char* key) {
  const json& value = field(object, key);
  if (!value.is_string()) throw Malformed{std::string("\"") + key + "\" is not a string"};
  return value.get<std::string>();
}

template <typename T>
T number(const json& object, const char* key, T fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw Malformed{std::string("\"") + key + "\" is not a number"};
  return it->get<T>();
}

bool flag(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return false;
  if (!it->is_boolean()) throw Malformed{std::string("\"") + key + "\" is not a boolean"};
  return it->get<bool>();
}

crypto::NodeId node_id(const json& object, const char* key) {
  auto parsed = crypto::NodeId::parse(text(object, key));
  if (!parsed) throw Malformed{std::string("\"") + key + "\" is not a node ID"};
  return *parsed;
}

TaskState state(const json& object, const char* key) {
  auto parsed = parse_state(text(object, key));
  if (!parsed) throw Malformed{std::string("\"") + key + "\" is not a task state"};
  return *parsed;
}

// Times are written as text for people and as milliseconds for machines ("<key>_ms").
int64_t time_ms(const json& object, const std::string& key) {
  return number<int64_t>(object, (key + "_ms").c_str(), 0);
}

Usage usage_of(const json& object) {
  auto it = object.find("usage");
  if (it == object.end() || !it->is_object()) return {};
  return Usage{number<double>(*it, "cpu_seconds", 0), number<uint64_t>(*it, "max_memory_bytes", 0),
               number<double>(*it, "wall_seconds", 0)};
}

}  // namespace

std::string_view state_name(TaskState state) { return kStateNames[static_cast<size_t>(state)]; }

std::optional<TaskState> parse_state(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<TaskState>(i);
  }
  return std::nullopt;
}

std::string to_string(const TaskKey& key, bool array) {
  return array ? key.job + "[" + std::to_string(key.task) + "]" : key.job;
}

TaskState job_state(const std::vector<TaskRecord>& tasks) {
  bool all_terminal = true, all_succeeded = true, any_running = false, any_assigned = false;
  for (const TaskRecord& task : tasks) {
    all_terminal = all_terminal && is_terminal(task.state);
    all_succeeded = all_succeeded && task.state == TaskState::kSucceeded;
    any_running = any_running || task.state == TaskState::kRunning;
    any_assigned = any_assigned || task.state == TaskState::kAssigned;
  }
  if (tasks.empty()) return TaskState::kRejected;
  if (all_terminal) {
    if (all_succeeded) return TaskState::kSucceeded;
    for (TaskState worst :
         {TaskState::kFailed, TaskState::kTimedOut, TaskState::kCancelled, TaskState::kRejected}) {
      for (const TaskRecord& task : tasks) {
        if (task.state == worst) return worst;
      }
    }
  }
  if (any_running) return TaskState::kRunning;
  if (any_assigned) return TaskState::kAssigned;
  // Some tasks ended, the others wait: the job as a whole is still queued.
  return TaskState::kQueued;
}

std::string format_time(int64_t wall_ms) {
  const std::time_t seconds = static_cast<std::time_t>(wall_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(wall_ms % 1000));
  return text;
}

std::string job_to_json(const JobRecord& job) {
  json tasks = json::array();
  for (const TaskRecord& task : job.tasks) {
    json attempts = json::array();
    for (const Attempt& attempt : task.attempts) {
      attempts.push_back({{"attempt", attempt.number},
                          {"node", attempt.node.to_hex()},
                          {"assigned_at", time_json(attempt.assigned_ms)},
                          {"assigned_at_ms", attempt.assigned_ms},
                          {"started_at", time_json(attempt.started_ms)},
                          {"started_at_ms", attempt.started_ms},
                          {"ended_at", time_json(attempt.ended_ms)},
                          {"ended_at_ms", attempt.ended_ms},
                          {"outcome", attempt.outcome},
                          {"reason", attempt.reason}});
    }
    json entry = {
        {"task", task.index},
        {"state", state_name(task.state)},
        {"node", task.attempts.empty() ? json(nullptr) : json(task.attempts.back().node.to_hex())},
        {"attempts", attempts},
        {"exit_code", task.exit_code ? json(*task.exit_code) : json(nullptr)},
        {"reason", task.reason},
        {"usage", usage_json(task.usage)},
        {"committed", task.committed}};
    tasks.push_back(std::move(entry));
  }
  json out = {{"name", job.name},
              {"instance", job.instance},
              {"state", state_name(job.state)},
              {"user", job.user},
              {"submitter", job.submitter.to_hex()},
              {"coordinator", job.coordinator.to_hex()},
              {"epoch", job.epoch},
              {"retries", job.retries},
              {"array", job.array},
              {"submitted_at", time_json(job.submitted_ms)},
              {"submitted_at_ms", job.submitted_ms},
              {"started_at", time_json(job.started_ms)},
              {"started_at_ms", job.started_ms},
              {"ended_at", time_json(job.ended_ms)},
              {"ended_at_ms", job.ended_ms},
              {"reason", job.reason},
              {"job_reason", job.reason},
              {"cancel_requested", job.cancel_requested}};
  // A single task's fields at the top too, so that scripts need not look into "tasks".
  if (!job.array && job.tasks.size() == 1) {
    const TaskRecord& task = job.tasks.front();
    out["node"] = task.attempts.empty() ? json(nullptr) : json(task.attempts.back().node.to_hex());
    out["attempts"] = task.attempts.size();
    out["exit_code"] = task.exit_code ? json(*task.exit_code) : json(nullptr);
    out["usage"] = usage_json(task.usage);
    if (job.reason.empty()) out["reason"] = task.reason;
  }
  out["tasks"] = std::move(tasks);
  return out.dump(2) + "\n";
}

core::Result<JobRecord> job_from_json(std::string_view text_in) {
  if (text_in.size() > kMaxStatusBytes) {
    return make_error(ErrorCode::kInvalidArgument, "status.json over its size limit");
  }
  try {
    const json root = json::parse(text_in);
    if (!root.is_object()) throw Malformed{"not an object"};
    JobRecord job;
    job.name = text(root, "name");
    if (!valid_job_name(job.name)) throw Malformed{"\"name\" is not a valid job name"};
    job.instance = number<uint64_t>(root, "instance", 0);
    job.state = state(root, "state");
    job.user = text(root, "user");
    job.submitter = node_id(root, "submitter");
    job.coordinator = node_id(root, "coordinator");
    job.epoch = number<uint64_t>(root, "epoch", 1);
    job.retries = number<uint32_t>(root, "retries", 0);
    job.array = flag(root, "array");
    job.submitted_ms = time_ms(root, "submitted_at");
    job.started_ms = time_ms(root, "started_at");
    job.ended_ms = time_ms(root, "ended_at");
    job.reason = text(root, "job_reason");  // "reason" may be the single task's
    job.cancel_requested = flag(root, "cancel_requested");
    const json& tasks = field(root, "tasks");
    if (!tasks.is_array() || tasks.size() > kMaxArrayTasks) throw Malformed{"bad \"tasks\""};
    for (const json& entry : tasks) {
      if (!entry.is_object()) throw Malformed{"a task is not an object"};
      TaskRecord task;
      task.index = number<uint32_t>(entry, "task", 0);
      task.state = state(entry, "state");
      task.reason = text(entry, "reason");
      task.committed = flag(entry, "committed");
      task.usage = usage_of(entry);
      if (auto it = entry.find("exit_code"); it != entry.end() && !it->is_null()) {
        task.exit_code = number<int>(entry, "exit_code", 0);
      }
      const json& attempts = field(entry, "attempts");
      if (!attempts.is_array() || attempts.size() > kMaxAttempts) {
        throw Malformed{"bad \"attempts\""};
      }
      for (const json& a : attempts) {
        if (!a.is_object()) throw Malformed{"an attempt is not an object"};
        Attempt attempt;
        attempt.number = number<uint32_t>(a, "attempt", 0);
        attempt.node = node_id(a, "node");
        attempt.assigned_ms = time_ms(a, "assigned_at");
        attempt.started_ms = time_ms(a, "started_at");
        attempt.ended_ms = time_ms(a, "ended_at");
        attempt.outcome = text(a, "outcome");
        attempt.reason = text(a, "reason");
        task.attempts.push_back(std::move(attempt));
      }
      job.tasks.push_back(std::move(task));
    }
    if (job.tasks.empty() && job.state != TaskState::kRejected) throw Malformed{"no tasks"};
    return job;
  } catch (const Malformed& e) {
    return make_error(ErrorCode::kInvalidArgument, "status.json: " + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("status.json: ") + e.what());
  }
}

}  // namespace synapse::compute
