// What this machine offers to jobs (host.h), and the host look-ups of runtimes.h: executables
// in $PATH, bounded helper runs, GPU device nodes, the root's top-level entries.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "cgroups.h"
#include "runtimes.h"
#include "synapse/compute/host.h"

extern char** environ;

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::make_error;
using namespace std::chrono_literals;

// How long a probe may take: bwrap's trial run, `docker info`, nvidia-smi.
constexpr core::Duration kProbeTimeout = 5s;
// The account a root process tries bubblewrap as (the default job account).
constexpr uid_t kNobody = 65534;

std::string read_small_file(const fs::path& path, bool* ok = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (ok != nullptr) *ok = static_cast<bool>(in);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<uint64_t> to_u64(std::string_view text) {
  text = trim(text);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "MemTotal:       16384 kB" -> bytes.
std::optional<uint64_t> meminfo_value(std::string_view text, std::string_view key) {
  size_t at = 0;
  while (at < text.size()) {
    const size_t newline = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, newline - at);
    at = newline + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') {
      continue;
    }
    std::string_view rest = trim(line.substr(key.size() + 1));
    const bool kib = rest.size() > 3 && rest.substr(rest.size() - 3) == " kB";
    if (kib) rest.remove_suffix(3);
    auto value = to_u64(rest);
    if (!value) return std::nullopt;
    return kib ? *value * 1024 : *value;
  }
  return std::nullopt;
}

// Limits at or above this are "no limit" (v1 writes 2^63 rounded down to a page).
constexpr uint64_t kNoLimit = uint64_t{1} << 62;

// This process's memory cgroup limit, the tightest along its path; nullopt when none.
std::optional<uint64_t> cgroup_memory_limit(const fs::path& proc, const fs::path& root) {
  const std::string text = read_small_file(proc / "self" / "cgroup");
  std::optional<uint64_t> best;
  auto consider = [&](std::optional<uint64_t> value) {
    if (value && *value < kNoLimit && (!best || *value < *best)) best = value;
  };
  for (const auto& [controllers, path] : parse_proc_cgroup(text)) {
    if (controllers.empty()) {
      // v2: memory.max of every level up to the mount.
      for (const fs::path& mount : {root, root / "unified"}) {
        std::error_code ignored;
        if (!fs::exists(mount / "cgroup.controllers", ignored)) continue;
        fs::path relative = fs::path(path).relative_path();
        while (true) {
          bool ok = false;
          const std::string value = read_small_file(mount / relative / "memory.max", &ok);
          if (ok && trim(value) != "max") consider(to_u64(value));
          if (relative.empty()) break;
          relative = relative.parent_path();
        }
      }
      continue;
    }
    bool memory = false;
    for (size_t start = 0; start <= controllers.size();) {
      const size_t comma = std::min(controllers.find(',', start), controllers.size());
      memory = memory || controllers.substr(start, comma - start) == "memory";
      start = comma + 1;
    }
    if (!memory) continue;
    const fs::path dir = root / "memory" / fs::path(path).relative_path();
    bool ok = false;
    const std::string stat = read_small_file(dir / "memory.stat", &ok);
    const uint64_t hierarchical = ok ? read_keyed_value(stat, "hierarchical_memory_limit") : 0;
    if (hierarchical > 0) {
      consider(hierarchical);
    } else {
      consider(to_u64(read_small_file(dir / "memory.limit_in_bytes")));
    }
  }
  return best;
}

bool is_executable_file(const fs::path& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits` lines.
void name_gpus(const std::string& output, std::vector<GpuInfo>& gpus) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t first = line.find(',');
    const size_t last = line.rfind(',');
    if (first == std::string::npos || last == first) continue;
    auto index = to_u64(std::string_view(line).substr(0, first));
    if (!index) continue;
    for (GpuInfo& gpu : gpus) {
      if (gpu.index != *index) continue;
      gpu.name = std::string(trim(std::string_view(line).substr(first + 1, last - first - 1)));
      if (auto mib = to_u64(std::string_view(line).substr(last + 1))) {
        gpu.memory_bytes = *mib << 20;
      }
    }
  }
}

}  // namespace

std::string find_executable(std::string_view name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string_view::npos) {
    return is_executable_file(std::string(name)) ? std::string(name) : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      const fs::path candidate = fs::path(std::string(dir)) / std::string(name);
      if (is_executable_file(candidate)) return candidate.string();
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return {};
}

std::string find_oci_runtime(const SandboxRunnerOptions& options) {
  if (!options.oci_runtime.empty()) return find_executable(options.oci_runtime);
  for (const char* name : {"runc", "crun"}) {
    if (std::string path = find_executable(name); !path.empty()) return path;
  }
  return {};
}

core::Result<BoundedRun> run_bounded(const std::vector<std::string>& argv, core::Duration timeout,
                                     bool capture, std::optional<std::pair<uid_t, gid_t>> as_user) {
  SYNAPSE_CHECK(!argv.empty(), "run_bounded needs a command");
  // Everything the child touches is made before fork: it may only make async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const bool drop = as_user && ::geteuid() == 0;
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return make_error(ErrorCode::kIo, std::string("/dev/null: ") + strerror(errno));
  int out[2] = {-1, -1};
  if (capture && ::pipe2(out, O_CLOEXEC) != 0) {
    ::close(null_fd);
    return make_error(ErrorCode::kIo, std::string("pipe: ") + strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(null_fd);
    if (capture) ::close(out[0]), ::close(out[1]);
    return make_error(ErrorCode::kIo, std::string("fork: ") + strerror(error));
  }
  if (pid == 0) {
    ::dup2(null_fd, 0);
    ::dup2(capture ? out[1] : null_fd, 1);
    ::dup2(null_fd, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::setsid();
    if (drop) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(as_user->second) != 0 ||
          ::setuid(as_user->first) != 0) {
        ::_exit(126);
      }
    }
    ::execve(args[0], args.data(), environ);
    ::_exit(127);
  }
  ::close(null_fd);
  if (capture) ::close(out[1]);

  BoundedRun run;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  bool exited = false;
  while (!exited) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {capture ? out[0] : -1, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    if (capture && out[0] >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      char buffer[4096];
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n > 0 && run.output.size() < (size_t{1} << 20)) run.output.append(buffer, n);
      if (n == 0) {
        ::close(out[0]);
        out[0] = -1;
      }
    }
    if (pidfd < 0 || (fds[0].revents & POLLIN)) exited = true;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pidfd >= 0) ::close(pidfd);
  if (capture) {
    // The rest of what it wrote before exiting.
    if (out[0] >= 0) {
      ::fcntl(out[0], F_SETFL, O_NONBLOCK);
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(out[0], buffer, sizeof buffer)) > 0 &&
             run.output.size() < (size_t{1} << 20)) {
        run.output.append(buffer, n);
      }
      ::close(out[0]);
    }
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

core::Result<std::vector<DeviceNode>> gpu_device_nodes(const std::vector<uint32_t>& gpus,
                                                       const fs::path& dev) {
  std::vector<DeviceNode> nodes;
  auto add = [&](const std::string& name, bool required) -> core::Status {
    const fs::path path = dev / name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      if (!required) return core::ok();
      return make_error(ErrorCode::kInvalidArgument, "no GPU device " + path.string());
    }
    // Inside the sandbox the node sits at the usual place, whatever `dev` was.
    nodes.push_back(DeviceNode{"/dev/" + name, major(st.st_rdev), minor(st.st_rdev)});
    return core::ok();
  };
  if (gpus.empty()) return nodes;
  for (uint32_t gpu : gpus) SYNAPSE_RETURN_IF_ERROR(add("nvidia" + std::to_string(gpu), true));
  for (const char* name : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}) {
    SYNAPSE_RETURN_IF_ERROR(add(name, false));
  }
  return nodes;
}

core::Result<std::vector<RootEntry>> list_root_entries(const fs::path& root,
                                                       const std::vector<std::string>& targets) {
  // The entries of one folder of `root` ("" for the top).
  auto list = [&root](const std::string& relative) -> core::Result<std::vector<RootEntry>> {
    const fs::path folder = relative.empty() ? root : root / relative;
    DIR* dir = ::opendir(folder.c_str());
    if (dir == nullptr) {
      return make_error(ErrorCode::kIo, "listing " + folder.string() + ": " + strerror(errno));
    }
    std::vector<RootEntry> entries;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (relative.empty() && (name == "dev" || name == "proc" || name == "tmp")) continue;
      const std::string path = relative.empty() ? name : relative + "/" + name;
      struct stat st;
      if (::lstat((root / path).c_str(), &st) != 0) continue;
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        const ssize_t n = ::readlink((root / path).c_str(), target, sizeof target - 1);
        if (n > 0) entries.push_back(RootEntry{path, std::string(target, static_cast<size_t>(n))});
      } else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
        entries.push_back(RootEntry{path, ""});
      }
    }
    ::closedir(dir);
    return entries;
  };
  SYNAPSE_ASSIGN_OR_RETURN(std::vector<RootEntry> entries, list(""));
  for (const std::string& target : targets) {
    const std::string relative = fs::path(target).relative_path().string();
    struct stat st;
    if (relative.empty() || ::lstat((root / relative).c_str(), &st) == 0) continue;  // exists
    // A folder entry above the missing target becomes its own entries, level by level.
    bool expanded = true;
    while (expanded) {
      expanded = false;
      for (size_t i = 0; i < entries.size(); ++i) {
        const RootEntry& entry = entries[i];
        if (!entry.link_target.empty() || relative.size() <= entry.path.size() ||
            relative.compare(0, entry.path.size(), entry.path) != 0 ||
            relative[entry.path.size()] != '/' || !fs::is_directory(root / entry.path)) {
          continue;
        }
        auto children = list(entry.path);
        if (!children) return tl::unexpected(children.error());
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
        entries.insert(entries.end(), children->begin(), children->end());
        expanded = true;
        break;
      }
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const RootEntry& a, const RootEntry& b) { return a.path < b.path; });
  return entries;
}

core::Result<HostResources> probe_host(const HostProbeOptions& options) {
  HostResources host;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    host.cpus = std::max(1, CPU_COUNT(&set));
  }
  bool ok = false;
  const std::string meminfo = read_small_file(options.proc / "meminfo", &ok);
  if (!ok) {
    return make_error(ErrorCode::kIo, "cannot read " + (options.proc / "meminfo").string());
  }
  host.memory_bytes = meminfo_value(meminfo, "MemTotal").value_or(0);
  host.memory_available = meminfo_value(meminfo, "MemAvailable").value_or(0);
  if (auto limit = cgroup_memory_limit(options.proc, options.cgroup_root)) {
    host.memory_bytes = std::min(host.memory_bytes, *limit);
    host.memory_available = std::min(host.memory_available, *limit);
  }
  const std::string loadavg = read_small_file(options.proc / "loadavg");
  host.load1 = std::strtod(loadavg.c_str(), nullptr);

  std::error_code error;
  for (const auto& entry : fs::directory_iterator(options.dev, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 6 || name.compare(0, 6, "nvidia") != 0) continue;
    auto index = to_u64(std::string_view(name).substr(6));
    if (!index || !std::all_of(name.begin() + 6, name.end(), ::isdigit)) continue;
    host.gpus.push_back(GpuInfo{static_cast<uint32_t>(*index), "", 0});
  }
  std::sort(host.gpus.begin(), host.gpus.end(),
            [](const GpuInfo& a, const GpuInfo& b) { return a.index < b.index; });
  if (!host.gpus.empty()) {
    if (const std::string smi = find_executable(options.nvidia_smi); !smi.empty()) {
      auto run =
          run_bounded({smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"},
                      kProbeTimeout, /*capture=*/true);
      if (run && run->exit_code == 0) name_gpus(run->output, host.gpus);
    }
  }
  return host;
}

std::vector<RuntimeKind> probe_runtimes(const SandboxRunnerOptions& options) {
  std::vector<RuntimeKind> kinds;
  // Creating a user namespace is what fails where bubblewrap cannot work (a kernel or a
  // container that forbids it), so try exactly that, as the account jobs run as.
  if (const std::string bwrap = find_executable(options.bwrap); !bwrap.empty()) {
    auto run = run_bounded({bwrap, "--unshare-user", "--ro-bind", "/", "/", "true"}, kProbeTimeout,
                           false, std::pair<uid_t, gid_t>{kNobody, kNobody});
    if (run && run->exit_code == 0) kinds.push_back(RuntimeKind::kBubblewrap);
  }
  // An OCI runtime as root only: rootless runc needs a config of its own.
  if (const std::string oci = find_oci_runtime(options); !oci.empty() && ::geteuid() == 0) {
    auto run = run_bounded({oci, "--version"}, kProbeTimeout);
    if (run && run->exit_code == 0) kinds.push_back(RuntimeKind::kOci);
  }
  for (const auto& [kind, name] : {std::pair{RuntimeKind::kDocker, options.docker},
                                   std::pair{RuntimeKind::kPodman, options.podman}}) {
    const std::string engine = find_executable(name);
    if (engine.empty()) continue;
    auto run = run_bounded({engine, "info"}, kProbeTimeout);
    if (run && run->exit_code == 0) kinds.push_back(kind);
  }
  return kinds;
}

}  // namespace synapse::compute
