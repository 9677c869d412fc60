// synapse job submit FILE [--wait] | jobs [--json] | job status NAME | job logs NAME [-f] |
// job cancel NAME: the jobs of the swarm, through the running node (docs/jobs.md).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "context.h"
#include "synapse/core/units.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// How often --wait and logs -f look again.
constexpr auto kPollInterval = 250ms;
constexpr size_t kReadChunk = 1 << 20;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "12s", "5m", "3h", "2d".
std::string age_text(int64_t since_ms) {
  if (since_ms <= 0) return "-";
  const int64_t seconds = std::max<int64_t>(0, (now_ms() - since_ms) / 1000);
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

bool terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" ||
         state == "timed-out" || state == "rejected";
}

core::Result<json> call(Context& context, std::string_view method, json params,
                        core::Duration timeout = std::chrono::seconds(60)) {
  SYNAPSE_ASSIGN_OR_RETURN(daemon::ControlClient client, connect_node(context));
  return client.call(method, std::move(params), timeout);
}

core::Result<std::string> read_spec_file(Context& context, const std::string& file) {
  if (file == "-") {
    std::string text;
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof(buffer), stdin)) > 0) text.append(buffer, n);
    return text;
  }
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, context.env.read_file(file, 64 * 1024 + 1));
  return std::string(bytes.begin(), bytes.end());
}

struct SubmitOptions {
  std::string file;
  bool wait = false;
  bool json = false;
};

// Waits until the job has ended; its status.json.
core::Result<json> wait_for(Context& context, const std::string& name) {
  for (;;) {
    SYNAPSE_ASSIGN_OR_RETURN(json status, call(context, "job.status", {{"name", name}}));
    if (terminal(status.value("state", ""))) return status;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// The exit status of a command that waited: 0 for success, 1 for anything else (its reason on
// stderr).
core::Status outcome(const json& status) {
  const std::string state = status.value("state", "");
  if (state == "succeeded") return core::ok();
  std::string reason = status.value("reason", "");
  return make_error(
      ErrorCode::kFailedPrecondition,
      "job " + status.value("name", "?") + " " + state + (reason.empty() ? "" : ": " + reason));
}

core::Status run_submit(Context& context, const SubmitOptions& options) {
  SYNAPSE_ASSIGN_OR_RETURN(const std::string spec, read_spec_file(context, options.file));
  const std::string file =
      options.file == "-" ? "job.toml" : std::filesystem::path(options.file).filename().string();
  SYNAPSE_ASSIGN_OR_RETURN(json result,
                           call(context, "job.submit", {{"spec", spec}, {"file", file}}));
  const std::string name = result.value("name", "");
  if (result.value("state", "") == "rejected") {
    std::string errors;
    for (const json& error : result.value("errors", json::array())) {
      errors += "\n  " + error.get<std::string>();
    }
    if (options.json) SYNAPSE_RETURN_IF_ERROR(print_json(result));
    return make_error(ErrorCode::kInvalidArgument, "job " + name + " rejected:" + errors);
  }
  if (!options.wait) {
    if (options.json) return print_json(result);
    return print_line(name);
  }
  if (!options.json) SYNAPSE_RETURN_IF_ERROR(print_line(name));
  SYNAPSE_ASSIGN_OR_RETURN(json status, wait_for(context, name));
  if (options.json) SYNAPSE_RETURN_IF_ERROR(print_json(status));
  return outcome(status);
}

core::Status run_jobs(Context& context, bool as_json, bool active_only) {
  SYNAPSE_ASSIGN_OR_RETURN(json result, call(context, "jobs", json::object()));
  json jobs = json::array();
  for (const json& job : result["jobs"]) {
    if (active_only && terminal(job.value("state", ""))) continue;
    jobs.push_back(job);
  }
  std::sort(jobs.begin(), jobs.end(), [](const json& a, const json& b) {
    return a.value("submitted_at_ms", int64_t{0}) < b.value("submitted_at_ms", int64_t{0});
  });
  if (as_json) return print_json(json{{"jobs", jobs}});
  std::string text = "NAME                 STATE      NODE        USER       AGE    REASON";
  for (const json& job : jobs) {
    std::string reason = job.value("reason", "");
    if (reason.size() > 60) reason = reason.substr(0, 57) + "...";
    std::string tasks;
    if (job.value("tasks", size_t{1}) > 1) {
      tasks = " " + std::to_string(job.value("tasks_done", size_t{0})) + "/" +
              std::to_string(job.value("tasks", size_t{1}));
    }
    char line[512];
    std::snprintf(line, sizeof(line), "\n%-20s %-10s %-11s %-10s %-6s %s",
                  (job.value("name", "?") + tasks).c_str(), job.value("state", "?").c_str(),
                  job.value("node", "").c_str(), job.value("user", "").c_str(),
                  age_text(job.value("submitted_at_ms", int64_t{0})).c_str(), reason.c_str());
    text += line;
  }
  return print_line(text);
}

core::Status run_status(Context& context, const std::string& name, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(json status, call(context, "job.status", {{"name", name}}));
  if (as_json) return print_json(status);
  std::string text = "job        " + status.value("name", name) + "\n";
  text += "state      " + status.value("state", "?") + "\n";
  text += "submitted  by " + status.value("user", "?") + " on " +
          status.value("submitter", "?").substr(0, 8) + ", " +
          age_text(status.value("submitted_at_ms", int64_t{0})) + " ago\n";
  text += "coordinator " + status.value("coordinator", "?").substr(0, 8) + "\n";
  for (const json& task : status.value("tasks", json::array())) {
    std::string line =
        "task " + std::to_string(task.value("task", 0)) + "     " + task.value("state", "?");
    if (task.contains("node") && task["node"].is_string()) {
      line += " on " + task["node"].get<std::string>().substr(0, 8);
    }
    line += ", " + std::to_string(task.value("attempts", json::array()).size()) + " attempt(s)";
    if (task.contains("exit_code") && task["exit_code"].is_number()) {
      line += ", exit " + std::to_string(task["exit_code"].get<int>());
    }
    const std::string reason = task.value("reason", "");
    if (!reason.empty()) line += ": " + reason;
    text += line + "\n";
  }
  const std::string reason = status.value("job_reason", "");
  if (!reason.empty()) text += "reason     " + reason + "\n";
  text.pop_back();
  return print_line(text);
}

struct LogsOptions {
  std::string name;
  bool follow = false;
  bool stderr_log = false;
  int task = -1;
};

core::Status run_logs(Context& context, const LogsOptions& options) {
  std::string file = options.stderr_log ? "stderr" : "stdout";
  if (options.task >= 0) file = "tasks/" + std::to_string(options.task) + "/" + file;
  uint64_t offset = 0;
  for (;;) {
    // The state first: once it has ended, what the file holds then is all there will be.
    std::string state;
    if (options.follow) {
      SYNAPSE_ASSIGN_OR_RETURN(json status, call(context, "job.status", {{"name", options.name}}));
      state = status.value("state", "");
    }
    for (;;) {
      SYNAPSE_ASSIGN_OR_RETURN(json chunk, call(context, "job.read",
                                                {{"name", options.name},
                                                 {"file", file},
                                                 {"offset", offset},
                                                 {"length", kReadChunk}}));
      std::string data;
      if (chunk.contains("hex")) {
        SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes,
                                 core::from_hex(chunk["hex"].get<std::string>()));
        data.assign(bytes.begin(), bytes.end());
      } else {
        data = chunk.value("data", "");
      }
      if (data.empty()) break;
      SYNAPSE_RETURN_IF_ERROR(write_stdout(core::as_bytes(data)));
      offset += data.size();
    }
    if (!options.follow || terminal(state)) return core::ok();
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

void add_job_commands(CLI::App& app, Context& context, Action& action) {
  CLI::App* job = app.add_subcommand(
      "job", "Jobs: run a spec in a sandbox somewhere in the swarm (docs/jobs.md)");
  job->require_subcommand(1);

  auto submit = std::make_shared<SubmitOptions>();
  CLI::App* submit_command = job->add_subcommand(
      "submit",
      "Submit a job spec (copies it into /synapse/jobs/ through the running node) and print "
      "the job's name; a spec with errors is rejected with them");
  submit_command->add_option("file", submit->file, "The spec (TOML), or - for standard input")
      ->required();
  submit_command->add_flag("--wait", submit->wait,
                           "Wait until the job has ended; exit 1 unless it succeeded");
  submit_command->add_flag("--json", submit->json, "Machine-readable output");
  submit_command->callback(
      [&, submit] { action = [&, submit] { return run_submit(context, *submit); }; });

  auto status_name = std::make_shared<std::string>();
  auto status_json = std::make_shared<bool>(false);
  CLI::App* status = job->add_subcommand("status", "A job's state, node, attempts and exit code");
  status->add_option("name", *status_name, "The job")->required();
  status->add_flag("--json", *status_json, "Print its status.json");
  status->callback([&, status_name, status_json] {
    action = [&, status_name, status_json] {
      return run_status(context, *status_name, *status_json);
    };
  });

  auto logs = std::make_shared<LogsOptions>();
  CLI::App* logs_command =
      job->add_subcommand("logs", "Print a job's standard output (or error), from any node");
  logs_command->add_option("name", logs->name, "The job")->required();
  logs_command->add_flag("-f,--follow", logs->follow,
                         "Keep printing what it writes until it has ended");
  logs_command->add_flag("--stderr", logs->stderr_log, "Standard error instead");
  logs_command->add_option("--task", logs->task, "A task of an array job");
  logs_command->callback([&, logs] { action = [&, logs] { return run_logs(context, *logs); }; });

  auto cancel_name = std::make_shared<std::string>();
  CLI::App* cancel = job->add_subcommand(
      "cancel", "Cancel a job wherever it runs (writes \"cancel\" into its ctl file)");
  cancel->add_option("name", *cancel_name, "The job")->required();
  cancel->callback([&, cancel_name] {
    action = [&, cancel_name]() -> core::Status {
      SYNAPSE_ASSIGN_OR_RETURN(json ignored, call(context, "job.cancel", {{"name", *cancel_name}}));
      (void)ignored;
      return core::ok();
    };
  });

  auto jobs_json = std::make_shared<bool>(false);
  auto jobs_active = std::make_shared<bool>(false);
  CLI::App* jobs = app.add_subcommand(
      "jobs", "List the swarm's jobs (name, state, node, user, age), oldest first");
  jobs->add_flag("--json", *jobs_json, "Machine-readable output");
  jobs->add_flag("--active", *jobs_active, "Only jobs that have not ended");
  jobs->callback([&, jobs_json, jobs_active] {
    action = [&, jobs_json, jobs_active] { return run_jobs(context, *jobs_json, *jobs_active); };
  });
}

}  // namespace synapse::cli
