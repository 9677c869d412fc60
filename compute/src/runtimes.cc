// Command lines and config files of the sandbox runtimes (runtimes.h). Pure: nothing here
// touches the host.
#include "runtimes.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cgroups.h"

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::make_error;
using Json = nlohmann::ordered_json;

constexpr size_t kMaxNameLength = 100;

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// An absolute path without ".", "..", "//" or a trailing '/'.
bool is_clean_absolute(const std::string& path) {
  if (path.empty() || path[0] != '/' || has_nul(path)) return false;
  return path == "/" || fs::path(path).lexically_normal().string() == path;
}

bool is_under(const std::string& path, std::string_view top) {
  return path == top || (path.size() > top.size() && path.compare(0, top.size(), top) == 0 &&
                         path[top.size()] == '/');
}

std::string join_indices(const std::vector<uint32_t>& values, bool ordinals) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(ordinals ? i : values[i]);
  }
  return out;
}

// "1", "0.5", "2.25": at most three decimals, no trailing zeros.
std::string format_cpus(double cpus) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", cpus);
  std::string text = buffer;
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

bool is_engine(RuntimeKind kind) {
  return kind == RuntimeKind::kDocker || kind == RuntimeKind::kPodman;
}

std::string root_source(const fs::path& root, const std::string& name) {
  return (root / name).lexically_normal().string();
}

}  // namespace

std::string_view runtime_kind_name(RuntimeKind kind) {
  switch (kind) {
    case RuntimeKind::kBubblewrap:
      return "bubblewrap";
    case RuntimeKind::kOci:
      return "oci";
    case RuntimeKind::kDocker:
      return "docker";
    case RuntimeKind::kPodman:
      return "podman";
  }
  return "unknown";
}

std::string_view sandbox_outcome_name(SandboxOutcome outcome) {
  switch (outcome) {
    case SandboxOutcome::kExited:
      return "exited";
    case SandboxOutcome::kSignaled:
      return "signaled";
    case SandboxOutcome::kTimedOut:
      return "timed-out";
    case SandboxOutcome::kOutOfMemory:
      return "out-of-memory";
    case SandboxOutcome::kCancelled:
      return "cancelled";
    case SandboxOutcome::kStartFailed:
      return "start-failed";
  }
  return "unknown";
}

std::vector<std::pair<std::string, std::string>> sandbox_env(const SandboxSpec& spec) {
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& [key, value] : spec.env) {
    if (!spec.gpus.empty() && (key == "CUDA_VISIBLE_DEVICES" || key == "NVIDIA_VISIBLE_DEVICES")) {
      continue;
    }
    env.emplace_back(key, value);
  }
  if (!spec.gpus.empty()) {
    env.emplace_back("CUDA_VISIBLE_DEVICES", join_indices(spec.gpus, /*ordinals=*/true));
    env.emplace_back("NVIDIA_VISIBLE_DEVICES", join_indices(spec.gpus, /*ordinals=*/false));
  }
  return env;
}

core::Status validate_spec(const SandboxSpec& spec) {
  auto invalid = [](std::string message) -> core::Status {
    return make_error(ErrorCode::kInvalidArgument, std::move(message));
  };
  const std::string& name = spec.name;
  if (name.empty() || name.size() > kMaxNameLength) {
    return invalid("sandbox name must have 1 to 100 characters");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return invalid("sandbox name \"" + name + "\" may only hold [a-z0-9._-]");
    }
  }
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) {
    return invalid("sandbox name \"" + name + "\" must start with a letter or digit");
  }
  if (spec.argv.empty() || spec.argv[0].empty()) return invalid("the command (argv) is empty");
  for (const std::string& arg : spec.argv) {
    if (has_nul(arg)) return invalid("a command argument holds a NUL byte");
  }
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || has_nul(key) || has_nul(value)) {
      return invalid("bad environment variable name \"" + key + "\"");
    }
  }
  if (!is_clean_absolute(spec.workdir)) {
    return invalid("workdir \"" + spec.workdir + "\" is not a clean absolute path");
  }
  if (!spec.rootfs.empty() && !is_clean_absolute(spec.rootfs.string())) {
    return invalid("rootfs \"" + spec.rootfs.string() + "\" is not a clean absolute path");
  }
  for (const BindMount& bind : spec.binds) {
    if (!is_clean_absolute(bind.source.string())) {
      return invalid("bind source \"" + bind.source.string() + "\" is not a clean absolute path");
    }
    if (!is_clean_absolute(bind.target) || bind.target == "/") {
      return invalid("bind target \"" + bind.target + "\" is not an absolute path below /");
    }
    if (is_under(bind.target, "/proc") || is_under(bind.target, "/dev")) {
      return invalid("bind target \"" + bind.target + "\" is inside /proc or /dev");
    }
    if (is_engine(spec.runtime) && (bind.source.string().find_first_of(":,") != std::string::npos ||
                                    bind.target.find_first_of(":,") != std::string::npos)) {
      return invalid("bind \"" + bind.source.string() + "\" holds ':' or ',' (engine -v)");
    }
  }
  if (is_engine(spec.runtime)) {
    if (spec.engine_image.empty() || spec.engine_image[0] == '-' || has_nul(spec.engine_image)) {
      return invalid("an engine sandbox needs an image name");
    }
  }
  if (spec.runtime != RuntimeKind::kBubblewrap && spec.scratch.empty()) {
    return invalid(std::string("a ") + std::string(runtime_kind_name(spec.runtime)) +
                   " sandbox needs a scratch folder");
  }
  std::vector<uint32_t> gpus = spec.gpus;
  std::sort(gpus.begin(), gpus.end());
  if (std::adjacent_find(gpus.begin(), gpus.end()) != gpus.end()) {
    return invalid("a GPU is listed twice");
  }
  const SandboxLimits& limits = spec.limits;
  if (!(limits.cpus > 0) || !std::isfinite(limits.cpus) || limits.cpus > 4096) {
    return invalid("cpus must be above 0");
  }
  if (limits.memory_bytes < (uint64_t{1} << 20)) return invalid("memory must be at least 1 MiB");
  if (limits.pids < 1) return invalid("pids must be at least 1");
  if (limits.timeout <= core::Duration::zero()) return invalid("timeout must be above 0");
  if (limits.kill_grace < core::Duration::zero()) return invalid("kill_grace is negative");
  if (spec.uid == 0 || spec.gid == 0) return invalid("a job never runs as root (uid or gid 0)");
  if (spec.stdout_path.empty() || spec.stderr_path.empty()) {
    return invalid("stdout_path and stderr_path are required");
  }
  return core::ok();
}

// ---- bubblewrap ----

std::vector<std::string> bwrap_args(const SandboxSpec& spec, const BwrapPlan& plan) {
  std::vector<std::string> args = {plan.executable, "--unshare-user", "--unshare-pid",
                                   "--unshare-ipc", "--unshare-uts",  "--unshare-cgroup-try"};
  if (!spec.network) args.push_back("--unshare-net");
  args.insert(args.end(), {"--die-with-parent", "--new-session", "--cap-drop", "ALL", "--uid",
                           std::to_string(spec.uid), "--gid", std::to_string(spec.gid),
                           "--hostname", "sandbox"});
  if (plan.json_status_fd >= 0) {
    args.insert(args.end(), {"--json-status-fd", std::to_string(plan.json_status_fd)});
  }
  if (plan.root_entries.empty()) {
    args.insert(args.end(), {"--ro-bind", plan.root.string(), "/"});
  } else {
    for (const RootEntry& entry : plan.root_entries) {
      if (!entry.link_target.empty()) {
        args.insert(args.end(), {"--symlink", entry.link_target, "/" + entry.path});
      } else {
        args.insert(args.end(),
                    {"--ro-bind", root_source(plan.root, entry.path), "/" + entry.path});
      }
    }
  }
  args.insert(args.end(), {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"});
  if (plan.private_var_tmp) args.insert(args.end(), {"--tmpfs", "/var/tmp"});
  for (const BindMount& bind : spec.binds) {
    args.insert(args.end(),
                {bind.writable ? "--bind" : "--ro-bind", bind.source.string(), bind.target});
  }
  for (const DeviceNode& device : plan.devices) {
    args.insert(args.end(), {"--dev-bind", device.path, device.path});
  }
  // The empty root took the mount points; now nothing new can be made in it.
  if (!plan.root_entries.empty()) args.insert(args.end(), {"--remount-ro", "/"});
  args.insert(args.end(), {"--chdir", spec.workdir, "--clearenv"});
  for (const auto& [key, value] : sandbox_env(spec)) {
    args.insert(args.end(), {"--setenv", key, value});
  }
  args.push_back("--");
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());
  return args;
}

// ---- OCI ----

std::string oci_config_json(const SandboxSpec& spec, const OciPlan& plan) {
  Json env = Json::array();
  for (const auto& [key, value] : sandbox_env(spec)) env.push_back(key + "=" + value);
  Json process = {
      {"terminal", false},
      {"user", {{"uid", spec.uid}, {"gid", spec.gid}, {"additionalGids", Json::array()}}},
      {"args", spec.argv},
      {"env", env},
      {"cwd", spec.workdir},
      {"capabilities",
       {{"bounding", Json::array()},
        {"effective", Json::array()},
        {"inheritable", Json::array()},
        {"permitted", Json::array()},
        {"ambient", Json::array()}}},
      {"rlimits", Json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };

  Json mounts = Json::array();
  const Json bind_ro = {"rbind", "rro", "nosuid", "nodev"};
  for (const RootEntry& entry : plan.root_entries) {
    // Symlinks are made in the rootfs folder by the runner; OCI has no mount for them.
    if (!entry.link_target.empty()) continue;
    mounts.push_back({{"destination", "/" + entry.path},
                      {"type", "bind"},
                      {"source", root_source(plan.root, entry.path)},
                      {"options", bind_ro}});
  }
  mounts.push_back({{"destination", "/proc"},
                    {"type", "proc"},
                    {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back({{"destination", "/dev"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  mounts.push_back(
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}});
  mounts.push_back({{"destination", "/dev/shm"},
                    {"type", "tmpfs"},
                    {"source", "shm"},
                    {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}});
  mounts.push_back({{"destination", "/dev/mqueue"},
                    {"type", "mqueue"},
                    {"source", "mqueue"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  for (const char* tmp : {"/tmp", "/var/tmp"}) {
    if (std::string_view(tmp) == "/var/tmp" && !plan.private_var_tmp) continue;
    mounts.push_back({{"destination", tmp},
                      {"type", "tmpfs"},
                      {"source", "tmpfs"},
                      {"options", {"nosuid", "nodev", "mode=1777"}}});
  }
  for (const BindMount& bind : spec.binds) {
    Json options = bind.writable ? Json{"rbind", "nosuid", "nodev"} : bind_ro;
    mounts.push_back({{"destination", bind.target},
                      {"type", "bind"},
                      {"source", bind.source.string()},
                      {"options", options}});
  }

  Json namespaces = Json::array();
  for (const char* type : {"pid", "ipc", "uts", "mount"}) namespaces.push_back({{"type", type}});
  if (!spec.network) namespaces.push_back({{"type", "network"}});

  const int64_t quota =
      std::max<int64_t>(1000, std::llround(spec.limits.cpus * static_cast<double>(kCpuPeriodUs)));
  Json device_rules = Json::array({{{"allow", false}, {"access", "rwm"}}});
  Json devices = Json::array();
  for (const DeviceNode& device : plan.devices) {
    devices.push_back({{"path", device.path},
                       {"type", "c"},
                       {"major", device.major},
                       {"minor", device.minor},
                       {"fileMode", 0666},
                       {"uid", 0},
                       {"gid", 0}});
    device_rules.push_back({{"allow", true},
                            {"type", "c"},
                            {"major", device.major},
                            {"minor", device.minor},
                            {"access", "rwm"}});
  }
  Json linux_section = {
      {"namespaces", namespaces},
      {"cgroupsPath", plan.cgroups_path},
      {"resources",
       {{"memory", {{"limit", spec.limits.memory_bytes}, {"swap", spec.limits.memory_bytes}}},
        {"cpu", {{"quota", quota}, {"period", kCpuPeriodUs}}},
        {"pids", {{"limit", spec.limits.pids}}},
        {"devices", device_rules}}},
      {"devices", devices},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
        "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  Json config = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", plan.rootfs.string()}, {"readonly", true}}},
      {"hostname", "sandbox"},
      {"mounts", mounts},
      {"linux", linux_section},
  };
  return config.dump(2) + "\n";
}

std::vector<std::string> oci_run_args(const std::string& runtime, const fs::path& state,
                                      const fs::path& bundle, const fs::path& log,
                                      const std::string& name) {
  return {runtime, "--root", state.string(), "--log",         log.string(), "--log-format",
          "json",  "run",    "--bundle",     bundle.string(), "--keep",     "--no-new-keyring",
          name};
}

std::vector<std::string> oci_kill_args(const std::string& runtime, const fs::path& state,
                                       const std::string& name, std::string_view signal) {
  return {runtime, "--root", state.string(), "kill", "--all", name, std::string(signal)};
}

std::vector<std::string> oci_delete_args(const std::string& runtime, const fs::path& state,
                                         const std::string& name) {
  return {runtime, "--root", state.string(), "delete", "--force", name};
}

// ---- Engines ----

std::vector<std::string> engine_run_args(const SandboxSpec& spec, const std::string& engine) {
  std::vector<std::string> args = {
      engine,           "run",
      "--name",         spec.name,
      "--memory",       std::to_string(spec.limits.memory_bytes),
      "--memory-swap",  std::to_string(spec.limits.memory_bytes),
      "--cpus",         format_cpus(spec.limits.cpus),
      "--pids-limit",   std::to_string(spec.limits.pids),
      "--network",      spec.network ? "bridge" : "none",
      "--user",         std::to_string(spec.uid) + ":" + std::to_string(spec.gid),
      "--cap-drop",     "ALL",
      "--security-opt", "no-new-privileges",
      "--read-only",    "--tmpfs",
      "/tmp",           "-w",
      spec.workdir};
  for (const auto& [key, value] : spec.env) args.insert(args.end(), {"-e", key + "=" + value});
  for (const BindMount& bind : spec.binds) {
    args.insert(args.end(),
                {"-v", bind.source.string() + ":" + bind.target + (bind.writable ? "" : ":ro")});
  }
  if (!spec.gpus.empty()) {
    if (spec.runtime == RuntimeKind::kPodman) {
      for (uint32_t gpu : spec.gpus) {
        args.insert(args.end(), {"--device", "nvidia.com/gpu=" + std::to_string(gpu)});
      }
    } else {
      // Docker splits the value at commas unless it is quoted.
      args.insert(args.end(), {"--gpus", "\"device=" + join_indices(spec.gpus, false) + "\""});
    }
  }
  args.push_back(spec.engine_image);
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());
  return args;
}

std::vector<std::string> engine_kill_args(const std::string& engine, const std::string& name,
                                          std::string_view signal) {
  return {engine, "kill", "--signal", std::string(signal), name};
}

std::vector<std::string> engine_inspect_args(const std::string& engine, const std::string& name) {
  return {engine, "inspect", "--format", "{{.State.OOMKilled}}", name};
}

std::vector<std::string> engine_remove_args(const std::string& engine, const std::string& name) {
  return {engine, "rm", "--force", name};
}

// ---- Words ----

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return "signal " + std::to_string(signal);
  return std::string("SIG") + abbrev;
}

std::string format_seconds(core::Duration duration) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(ms) / 1000);
  std::string text = buffer;
  while (text.back() == '0') text.pop_back();
  return text + "s";
}

}  // namespace synapse::compute
