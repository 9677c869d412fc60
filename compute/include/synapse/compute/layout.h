// Where jobs live in the shared tree (docs/jobs.md, "The job folder"). Paths are tree paths:
// relative to the root of the shared folder, without a leading slash ("jobs/wc/state").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synapse::compute::layout {

inline constexpr std::string_view kSpool = "jobs";  // submissions: jobs/<name>.toml
inline constexpr std::string_view kSpecFile = "spec.toml";
inline constexpr std::string_view kStateFile = "state";
inline constexpr std::string_view kStatusFile = "status.json";
inline constexpr std::string_view kStdoutFile = "stdout";
inline constexpr std::string_view kStderrFile = "stderr";
inline constexpr std::string_view kExitCodeFile = "exit_code";
inline constexpr std::string_view kEventsFile = "events.log";
inline constexpr std::string_view kCtlFile = "ctl";
inline constexpr std::string_view kOutputsDir = "outputs";
inline constexpr std::string_view kTasksDir = "tasks";
inline constexpr std::string_view kStagingDir = ".staging";

inline std::string job_folder(std::string_view job) {
  return std::string(kSpool) + "/" + std::string(job);
}

// The folder of one task: the job folder itself for a single-task job, tasks/<i> of an array.
inline std::string task_folder(std::string_view job, uint32_t task, bool array) {
  std::string folder = job_folder(job);
  if (array) folder += "/" + std::string(kTasksDir) + "/" + std::to_string(task);
  return folder;
}

// Where a worker puts the outputs of one attempt before the coordinator commits them:
// <job>/.staging/<task>.<attempt>/<k> for the spec's k-th output.
inline std::string staging_folder(std::string_view job, uint32_t task, uint32_t attempt) {
  return job_folder(job) + "/" + std::string(kStagingDir) + "/" + std::to_string(task) + "." +
         std::to_string(attempt);
}

// "jobs/<name>.toml" is a submission when <name> is a valid job name.
inline bool is_submission(std::string_view file_name) {
  return file_name.size() > 5 && file_name.substr(file_name.size() - 5) == ".toml" &&
         file_name.front() != '.';
}

}  // namespace synapse::compute::layout
