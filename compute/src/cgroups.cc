// Job cgroups, v1 and v2 (cgroups.h). The files are small and written whole, each with one
// write(2): cgroupfs takes a control value per write.
#include "cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::make_error;

std::string errno_text(int error) { return std::strerror(error); }

core::Result<std::string> read_text(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, path.string() + ": " + errno_text(errno));
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, path.string() + ": " + errno_text(error));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > (size_t{16} << 20)) break;  // cgroup.procs of a fork storm, at most
  }
  ::close(fd);
  return text;
}

// Returns the errno on failure (0 on success), for callers that tolerate some.
int write_text_errno(const fs::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  const int error = n < 0 ? errno : (static_cast<size_t>(n) != text.size() ? EIO : 0);
  ::close(fd);
  return error;
}

core::Status write_text(const fs::path& path, std::string_view text) {
  if (const int error = write_text_errno(path, text); error != 0) {
    return make_error(ErrorCode::kIo, "writing \"" + std::string(text) + "\" to " + path.string() +
                                          ": " + errno_text(error));
  }
  return core::ok();
}

// Writes a file that only some kernels have (memsw, swap.max, cgroup.kill): a failure counts
// only where the file was there.
core::Status write_optional(const fs::path& path, std::string_view text) {
  std::error_code ignored;
  const bool existed = fs::exists(path, ignored);
  const int error = write_text_errno(path, text);
  if (error == 0 || !existed) return core::ok();
  return make_error(ErrorCode::kIo, "writing \"" + std::string(text) + "\" to " + path.string() +
                                        ": " + errno_text(error));
}

uint64_t parse_u64(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

uint64_t read_u64(const fs::path& path) {
  auto text = read_text(path);
  return text ? parse_u64(*text) : 0;
}

std::string join_path(std::string_view own, std::string_view rest) {
  std::string out(own);
  while (!out.empty() && out.back() == '/') out.pop_back();
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (rest.empty()) return out.empty() ? "/" : out;
  return out + "/" + std::string(rest);
}

// mkdir that tolerates an existing folder; errors name the path.
core::Status make_dir(const fs::path& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return core::ok();
  const int error = errno;
  return make_error(error == EACCES || error == EPERM || error == EROFS
                        ? ErrorCode::kPermissionDenied
                        : ErrorCode::kIo,
                    "creating cgroup " + path.string() + ": " + errno_text(error));
}

bool contains_word(std::string_view text, std::string_view word) {
  size_t at = 0;
  while ((at = text.find(word, at)) != std::string_view::npos) {
    const bool start = at == 0 || text[at - 1] == ' ' || text[at - 1] == '\n';
    const size_t end = at + word.size();
    const bool stop = end == text.size() || text[end] == ' ' || text[end] == '\n';
    if (start && stop) return true;
    at = end;
  }
  return false;
}

// The v1 controllers a sandbox group uses; memory is required, the others where mounted.
constexpr std::string_view kV1Controllers[] = {"memory", "cpu", "cpuacct", "pids", "freezer"};
// The v2 controllers enabled for job groups (where offered).
constexpr std::string_view kV2Controllers[] = {"memory", "cpu", "pids"};
// The controller name of a v1 folder made only so that an OCI runtime finds its parent there.
constexpr std::string_view kHeldForRuntime = "*";

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    const size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    const size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    out.emplace_back(std::string(line.substr(first + 1, second - first - 1)),
                     std::string(line.substr(second + 1)));
  }
  return out;
}

uint64_t read_keyed_value(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return parse_u64(line.substr(key.size() + 1));
    }
  }
  return 0;
}

// ---- Cgroup ----

const CgroupDir* Cgroup::find(std::string_view controller) const {
  for (const CgroupDir& dir : dirs_) {
    if (version_ == CgroupVersion::kV2 || dir.controller == controller) return &dir;
  }
  return nullptr;
}

std::vector<fs::path> Cgroup::dirs() const {
  std::vector<fs::path> out;
  for (const CgroupDir& dir : dirs_) {
    if (std::find(out.begin(), out.end(), dir.path) == out.end()) out.push_back(dir.path);
  }
  return out;
}

std::vector<fs::path> Cgroup::procs_files() const {
  std::vector<fs::path> out;
  for (const CgroupDir& dir : dirs_) {
    const fs::path file = dir.path / "cgroup.procs";
    if (dir.controller != kHeldForRuntime && std::find(out.begin(), out.end(), file) == out.end()) {
      out.push_back(file);
    }
  }
  return out;
}

core::Status Cgroup::add(pid_t pid) const {
  // Into the controllers the runner uses; an OCI runtime places its container itself.
  for (const fs::path& file : procs_files()) {
    SYNAPSE_RETURN_IF_ERROR(write_text(file, std::to_string(pid)));
  }
  return core::ok();
}

core::Result<std::vector<pid_t>> Cgroup::processes() const {
  std::set<pid_t> pids;
  for (const fs::path& dir : dirs()) {
    const fs::path file = dir / "cgroup.procs";
    auto text = read_text(file);
    if (!text) {
      std::error_code ignored;
      if (!fs::exists(file, ignored)) continue;  // removed: nobody is in it
      return tl::unexpected(text.error());
    }
    std::string_view rest = *text;
    while (!rest.empty()) {
      const size_t newline = rest.find('\n');
      const std::string_view line = rest.substr(0, newline);
      rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
      pid_t pid = 0;
      if (std::from_chars(line.data(), line.data() + line.size(), pid).ec == std::errc() &&
          pid > 0) {
        pids.insert(pid);
      }
    }
  }
  return std::vector<pid_t>(pids.begin(), pids.end());
}

void Cgroup::signal_all(int signal, const std::vector<pid_t>& spare) const {
  auto pids = processes();
  if (!pids) return;
  for (pid_t pid : *pids) {
    if (std::find(spare.begin(), spare.end(), pid) == spare.end()) ::kill(pid, signal);
  }
}

void Cgroup::kill_all() const {
  if (version_ == CgroupVersion::kV2) {
    const CgroupDir* dir = find("");
    if (dir != nullptr && write_text_errno(dir->path / "cgroup.kill", "1") == 0) return;
    signal_all(SIGKILL);
    return;
  }
  const CgroupDir* freezer = find("freezer");
  const bool frozen =
      freezer != nullptr && write_text_errno(freezer->path / "freezer.state", "FROZEN") == 0;
  signal_all(SIGKILL);
  // A frozen process dies of its pending SIGKILL as soon as it thaws.
  if (frozen) write_text_errno(freezer->path / "freezer.state", "THAWED");
}

CgroupStats Cgroup::stats() const {
  CgroupStats stats;
  if (version_ == CgroupVersion::kV2) {
    const CgroupDir* dir = find("");
    if (dir == nullptr) return stats;
    if (auto text = read_text(dir->path / "cpu.stat")) {
      stats.cpu_seconds = static_cast<double>(read_keyed_value(*text, "usage_usec")) / 1e6;
    }
    stats.peak_memory_bytes = read_u64(dir->path / "memory.peak");
    if (auto text = read_text(dir->path / "memory.events")) {
      stats.oom_kills = read_keyed_value(*text, "oom_kill");
    }
    return stats;
  }
  if (const CgroupDir* dir = find("cpuacct")) {
    stats.cpu_seconds = static_cast<double>(read_u64(dir->path / "cpuacct.usage")) / 1e9;
  }
  if (const CgroupDir* dir = find("memory")) {
    stats.peak_memory_bytes = read_u64(dir->path / "memory.max_usage_in_bytes");
    if (auto text = read_text(dir->path / "memory.oom_control")) {
      stats.oom_kills = read_keyed_value(*text, "oom_kill");
    }
  }
  return stats;
}

core::Status Cgroup::remove() const {
  for (const fs::path& dir : dirs()) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
    const int error = errno;
    return make_error(error == EBUSY ? ErrorCode::kFailedPrecondition : ErrorCode::kIo,
                      "removing cgroup " + dir.string() + ": " + errno_text(error));
  }
  return core::ok();
}

// ---- CgroupManager ----

core::Result<CgroupManager> CgroupManager::open(const fs::path& root,
                                                std::string_view proc_self_cgroup,
                                                std::string group) {
  if (group.empty() || group.find('/') != std::string::npos || group == "." || group == "..") {
    return make_error(ErrorCode::kInvalidArgument,
                      "the job cgroup folder \"" + group + "\" is not one plain name");
  }
  CgroupManager manager;
  manager.group_ = std::move(group);
  const auto lines = parse_proc_cgroup(proc_self_cgroup);
  std::error_code ignored;

  // v2 first: the unified hierarchy, when it offers memory to our cgroup.
  for (const auto& [controllers, path] : lines) {
    if (!controllers.empty()) continue;
    for (const fs::path& mount : {root, root / "unified"}) {
      if (!fs::exists(mount / "cgroup.controllers", ignored)) continue;
      const fs::path own = join_path(mount.string(), path);
      auto offered = read_text(own / "cgroup.controllers");
      if (!offered || !contains_word(*offered, "memory")) continue;
      manager.version_ = CgroupVersion::kV2;
      manager.own_ = {CgroupDir{"", own}};
      // Controllers reach a child only through its parent's subtree_control.
      std::string enable;
      for (std::string_view controller : kV2Controllers) {
        if (contains_word(*offered, controller)) {
          enable += (enable.empty() ? "+" : " +") + std::string(controller);
        }
      }
      auto enabled = read_text(own / "cgroup.subtree_control");
      bool missing = !enabled;
      for (std::string_view controller : kV2Controllers) {
        if (enabled && contains_word(*offered, controller) &&
            !contains_word(*enabled, controller)) {
          missing = true;
        }
      }
      if (missing) {
        if (const int error = write_text_errno(own / "cgroup.subtree_control", enable)) {
          return make_error(
              error == EACCES || error == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
              "enabling " + enable + " in " + (own / "cgroup.subtree_control").string() + ": " +
                  errno_text(error) +
                  (error == EBUSY ? " (this cgroup has processes: run the node in a leaf "
                                    "cgroup of a delegated subtree)"
                                  : ""));
        }
      }
      manager.v2_enable_ = enable;
      const fs::path jobs = own / manager.group_;
      SYNAPSE_RETURN_IF_ERROR(make_dir(jobs));
      SYNAPSE_RETURN_IF_ERROR(write_text(jobs / "cgroup.subtree_control", enable));
      return manager;
    }
  }

  // v1: one hierarchy per controller (or co-mounted, like "cpu,cpuacct").
  for (const auto& [controllers, path] : lines) {
    if (controllers.empty()) continue;
    std::vector<std::string> names;
    for (size_t start = 0; start <= controllers.size();) {
      const size_t comma = std::min(controllers.find(',', start), controllers.size());
      names.push_back(controllers.substr(start, comma - start));
      start = comma + 1;
    }
    // Mounted as root/<list>; systemd adds root/<controller> links for co-mounted ones, and
    // mounts its named hierarchy ("name=systemd") as root/systemd.
    fs::path mount = root / controllers;
    if (!fs::is_directory(mount, ignored)) {
      for (const std::string& name : names) {
        const std::string folder = name.rfind("name=", 0) == 0 ? name.substr(5) : name;
        if (fs::is_directory(root / folder, ignored)) {
          mount = root / folder;
          break;
        }
      }
    }
    if (!fs::is_directory(mount, ignored)) continue;
    const fs::path own = join_path(mount.string(), path);
    manager.all_own_dirs_.push_back(own);
    for (const std::string& name : names) {
      if (std::find(std::begin(kV1Controllers), std::end(kV1Controllers), name) !=
          std::end(kV1Controllers)) {
        manager.own_.push_back(CgroupDir{name, own});
      }
    }
  }
  const bool has_memory =
      std::any_of(manager.own_.begin(), manager.own_.end(),
                  [](const CgroupDir& dir) { return dir.controller == "memory"; });
  if (!has_memory) {
    return make_error(ErrorCode::kUnsupported,
                      "no memory cgroup controller under " + root.string() + " (v2 or v1)");
  }
  manager.version_ = CgroupVersion::kV1;
  // An OCI runtime also makes the job's group in a hybrid host's unified hierarchy.
  for (const auto& [controllers, path] : lines) {
    if (controllers.empty() && fs::is_directory(root / "unified", ignored)) {
      manager.all_own_dirs_.push_back(join_path((root / "unified").string(), path));
    }
  }
  std::sort(manager.own_.begin(), manager.own_.end(),
            [](const CgroupDir& a, const CgroupDir& b) { return a.controller < b.controller; });
  SYNAPSE_RETURN_IF_ERROR(manager.ensure_group_dirs(false));
  return manager;
}

core::Result<Cgroup> CgroupManager::create(std::string_view name, const SandboxLimits& limits,
                                           bool every_hierarchy) const {
  Cgroup cgroup;
  cgroup.version_ = version_;
  cgroup.name_ = std::string(name);
  cgroup.relative_path_ = group_ + "/" + std::string(name);
  for (const CgroupDir& own : own_) {
    cgroup.dirs_.push_back(CgroupDir{own.controller, own.path / group_ / std::string(name)});
  }
  if (every_hierarchy) {
    for (const fs::path& own : all_own_dirs_) {
      const fs::path dir = own / group_ / std::string(name);
      const auto used = cgroup.dirs();
      if (std::find(used.begin(), used.end(), dir) == used.end()) {
        cgroup.dirs_.push_back(CgroupDir{std::string(kHeldForRuntime), dir});
      }
    }
  }
  // A group left by a crash of an earlier run: reuse its name only if nobody is in it.
  std::error_code ignored;
  for (const fs::path& dir : cgroup.dirs()) {
    if (!fs::exists(dir, ignored)) continue;
    auto pids = cgroup.processes();
    if (pids && !pids->empty()) {
      return make_error(ErrorCode::kAlreadyExists,
                        "cgroup " + dir.string() + " still has processes");
    }
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      return make_error(ErrorCode::kIo,
                        "removing stale cgroup " + dir.string() + ": " + errno_text(errno));
    }
  }
  auto fail = [&](core::Error error) -> core::Result<Cgroup> {
    (void)cgroup.remove();
    return tl::unexpected(std::move(error));
  };
  // Another runner's shutdown may remove an empty group folder at any time: make it again.
  for (const fs::path& dir : cgroup.dirs()) {
    core::Status made = make_dir(dir);
    for (int attempt = 0; !made && attempt < 3 && !fs::exists(dir.parent_path(), ignored);
         ++attempt) {
      if (auto group = ensure_group_dirs(every_hierarchy); !group) return fail(group.error());
      made = make_dir(dir);
    }
    if (!made) return fail(made.error());
  }

  const uint64_t quota = std::max<uint64_t>(
      1000, static_cast<uint64_t>(std::llround(limits.cpus * static_cast<double>(kCpuPeriodUs))));
  const std::string memory = std::to_string(limits.memory_bytes);
  const std::string pids = std::to_string(limits.pids);
  core::Status written = core::ok();
  auto write = [&](const CgroupDir* dir, const char* file, const std::string& value,
                   bool optional = false) {
    if (!written || dir == nullptr) return;
    written =
        optional ? write_optional(dir->path / file, value) : write_text(dir->path / file, value);
  };
  if (version_ == CgroupVersion::kV2) {
    const CgroupDir* dir = cgroup.find("");
    write(dir, "memory.max", memory);
    // memory.max bounds RAM only; no swap keeps RAM + swap within the limit as in v1.
    write(dir, "memory.swap.max", "0", /*optional=*/true);
    write(dir, "cpu.max", std::to_string(quota) + " " + std::to_string(kCpuPeriodUs));
    write(dir, "pids.max", pids);
  } else {
    // memsw (memory + swap) may never be below the memory limit: memory first.
    write(cgroup.find("memory"), "memory.limit_in_bytes", memory);
    write(cgroup.find("memory"), "memory.memsw.limit_in_bytes", memory, /*optional=*/true);
    write(cgroup.find("cpu"), "cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
    write(cgroup.find("cpu"), "cpu.cfs_quota_us", std::to_string(quota));
    write(cgroup.find("pids"), "pids.max", pids);
  }
  if (!written) return fail(written.error());
  return cgroup;
}

core::Status CgroupManager::ensure_group_dirs(bool every_hierarchy) const {
  std::error_code ignored;
  for (const CgroupDir& own : own_) {
    const fs::path jobs = own.path / group_;
    if (fs::is_directory(jobs, ignored)) continue;
    SYNAPSE_RETURN_IF_ERROR(make_dir(jobs));
    if (version_ == CgroupVersion::kV2) {
      SYNAPSE_RETURN_IF_ERROR(write_text(jobs / "cgroup.subtree_control", v2_enable_));
    }
  }
  if (every_hierarchy) {
    for (const fs::path& own : all_own_dirs_) SYNAPSE_RETURN_IF_ERROR(make_dir(own / group_));
  }
  return core::ok();
}

void CgroupManager::remove_group_dirs() const {
  std::vector<fs::path> dirs = all_own_dirs_;
  for (const CgroupDir& dir : own_) dirs.push_back(dir.path);
  for (const fs::path& dir : dirs) ::rmdir((dir / group_).c_str());
}

}  // namespace synapse::compute
