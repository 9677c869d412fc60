// The job cgroups of the sandbox runner (docs/sandbox.md, "Cgroups"): one group per sandbox,
// created under this process's own cgroup in every controller it uses, with the memory, CPU
// and process limits of SandboxLimits. cgroup v2 (one unified folder) and v1 (the memory, cpu,
// cpuacct and pids controllers, plus freezer where mounted) are both handled; which one a
// host uses is read from /proc/self/cgroup and the files under the cgroup root.
//
// An adapter: it reads and writes files under the cgroup root and signals processes. The root
// may be any folder (tests use a fake tree in a temp folder): files are written with O_CREAT,
// so limits written into a fake tree can be read back. Not thread-safe; the runner calls it on
// its loop thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synapse/compute/sandbox.h"
#include "synapse/core/result.h"

namespace synapse::compute {

enum class CgroupVersion : uint8_t { kV1, kV2 };

// The CFS period the CPU quota is expressed in: quota = cpus x period.
inline constexpr uint64_t kCpuPeriodUs = 100'000;

struct CgroupStats {
  double cpu_seconds = 0;          // v1 cpuacct.usage, v2 cpu.stat usage_usec
  uint64_t peak_memory_bytes = 0;  // v1 memory.max_usage_in_bytes, v2 memory.peak (0: unknown)
  uint64_t oom_kills = 0;          // "oom_kill N" of v1 memory.oom_control, v2 memory.events
};

// One controller's folder: v1 has one per controller ("memory", "cpu", ...), v2 one ("").
struct CgroupDir {
  std::string controller;
  std::filesystem::path path;
};

// One sandbox's group. A value: copying it does not copy the group on disk.
class Cgroup {
 public:
  CgroupVersion version() const { return version_; }
  const std::string& name() const { return name_; }
  // "<group>/<name>": the group relative to this process's own cgroup (OCI cgroupsPath).
  const std::string& relative_path() const { return relative_path_; }
  // The distinct folders of the group (co-mounted v1 controllers share one).
  std::vector<std::filesystem::path> dirs() const;
  // The cgroup.procs files a process joins the group through, by writing "0" to each (what
  // the runner's child does before exec): the controllers used, not the folders held for an
  // OCI runtime (create()'s every_hierarchy).
  std::vector<std::filesystem::path> procs_files() const;

  // Moves `pid` into the group.
  core::Status add(pid_t pid) const;
  // The processes in the group (the union over its v1 folders), sorted.
  core::Result<std::vector<pid_t>> processes() const;
  // Sends `signal` to every process in the group but those in `spare`.
  void signal_all(int signal, const std::vector<pid_t>& spare = {}) const;
  // SIGKILL to every process. v2 writes cgroup.kill; v1 freezes the group where the freezer is
  // mounted, kills every listed process and thaws it, so that none forks in between. A process
  // forked during a v1 kill without freezer survives it: call again until processes() is empty.
  void kill_all() const;
  CgroupStats stats() const;
  // Removes the group's folders (those already gone are fine). kFailedPrecondition while a
  // process is still in it, kIo otherwise.
  core::Status remove() const;

 private:
  friend class CgroupManager;
  const CgroupDir* find(std::string_view controller) const;

  CgroupVersion version_ = CgroupVersion::kV1;
  std::string name_;
  std::string relative_path_;
  std::vector<CgroupDir> dirs_;
};

class CgroupManager {
 public:
  // Finds this process's cgroups: `proc_self_cgroup` is the text of /proc/self/cgroup, `root`
  // the cgroup filesystem root ("/sys/fs/cgroup"), `group` the folder for job groups under the
  // own cgroup ("synapse-jobs"). v2 is used where the unified hierarchy (at `root`, or at
  // `root`/unified on hybrid hosts) offers the memory controller to this cgroup, else v1 with
  // the memory controller and whichever of cpu, cpuacct, pids and freezer are mounted. Creates
  // the group folders and, in v2, enables the controllers for them (cgroup.subtree_control).
  // Errors: kUnsupported when neither offers a memory controller, kPermissionDenied or kIo
  // when the folders cannot be made or the controllers not enabled (in v2 a cgroup with
  // processes of its own, like a service's, cannot pass controllers on: run the node in a
  // leaf of a delegated cgroup), kInvalidArgument when `group` is not one plain name.
  static core::Result<CgroupManager> open(const std::filesystem::path& root,
                                          std::string_view proc_self_cgroup, std::string group);

  CgroupVersion version() const { return version_; }
  // This process's own folder in each controller used.
  const std::vector<CgroupDir>& own_dirs() const { return own_; }

  // Creates the group `name` in every controller and writes its limits: memory (v1
  // memory.limit_in_bytes and memory.memsw.limit_in_bytes; v2 memory.max, memory.swap.max 0),
  // CPU (cpus x kCpuPeriodUs: v1 cpu.cfs_period_us/cfs_quota_us, v2 cpu.max) and processes
  // (pids.max). A group of that name left behind by a crash is removed first if it is empty.
  // `every_hierarchy` (v1, for an OCI runtime, which makes the group in every hierarchy
  // mounted) also makes it, without limits, in the other hierarchies (cpuset, devices, ...), so
  // that another runner's shutdown cannot remove its parent under the runtime's feet.
  // Errors: kAlreadyExists when such a group still has processes, kIo otherwise.
  core::Result<Cgroup> create(std::string_view name, const SandboxLimits& limits,
                              bool every_hierarchy = false) const;

  // Removes the `group` folders where they are empty, in every v1 hierarchy (best effort, for
  // shutdown; a concurrent create() makes them again).
  void remove_group_dirs() const;

 private:
  // Makes the `group` folders that are missing (v2: with the controllers enabled).
  core::Status ensure_group_dirs(bool every_hierarchy) const;

  CgroupVersion version_ = CgroupVersion::kV1;
  std::string v2_enable_;  // "+memory +cpu +pids": what job groups' parent passes on
  std::string group_;
  std::vector<CgroupDir> own_;
  // v1: every hierarchy's own folder, used or not (for remove_group_dirs).
  std::vector<std::filesystem::path> all_own_dirs_;
};

// Helpers shared with the tests and the host probe.
// The lines of /proc/self/cgroup: (hierarchy controllers, path); v2's line has controllers "".
std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(std::string_view text);
// "oom_kill 3" style key/value files: the value of `key`, 0 when absent.
uint64_t read_keyed_value(std::string_view text, std::string_view key);

}  // namespace synapse::compute
