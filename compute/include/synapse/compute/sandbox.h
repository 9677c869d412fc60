// Running one task of a job in isolation (docs/jobs.md, "The sandbox").
//
// SandboxRunner is the seam between the sans-I/O Worker and the host: the Worker asks it to
// start a sandbox and hears exactly once how it ended. The libuv implementation
// (create_sandbox_runner) runs bubblewrap by default, an OCI runtime (runc, crun) or a
// Docker/Podman engine where present and asked for, with limits through cgroups (v2, or the
// v1 memory, cpu, cpuacct and pids controllers), a wall-clock timeout (SIGTERM to every process
// of the sandbox, SIGKILL after a grace period) and nothing left running when it reports.
// Tests and the simulator use their own implementations.
//
// Threads: every method is called on the loop thread and every callback runs there, never
// inside the call that registered it (libuv's rule: a callback runs exactly once, or the call
// returns an error).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::compute {

using namespace std::chrono_literals;

// The runtimes a host can offer (a JobSpec's Runtime names the one a job wants).
enum class RuntimeKind : uint8_t { kBubblewrap, kOci, kDocker, kPodman };
std::string_view runtime_kind_name(RuntimeKind kind);  // "bubblewrap", "oci", "docker", "podman"

struct BindMount {
  std::filesystem::path source;  // on the host
  std::string target;            // absolute path inside the sandbox
  bool writable = false;
};

struct SandboxLimits {
  double cpus = 1;                              // CPU time per wall second (CFS quota)
  uint64_t memory_bytes = uint64_t{512} << 20;  // memory (and swap, where accounted) at most
  uint32_t pids = 4096;                         // processes and threads at once
  core::Duration timeout = std::chrono::hours(1);
  core::Duration kill_grace = 5s;  // between SIGTERM and SIGKILL on timeout and cancel
};

struct SandboxSpec {
  // Unique on this node while the sandbox exists; [a-z0-9._-], at most 100 characters,
  // starting with a letter or digit. Names the cgroup and the container.
  std::string name;
  RuntimeKind runtime = RuntimeKind::kBubblewrap;
  std::vector<std::string> argv;  // argv[0] is looked up in the sandbox's PATH
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment
  // The root filesystem: empty means the host's root (read-only); otherwise an unpacked root
  // folder (bubblewrap, OCI), bound read-only. kDocker/kPodman use `engine_image` instead.
  std::filesystem::path rootfs;
  std::string engine_image;
  std::string workdir = "/";
  // Inputs (read-only) and outputs (writable) in the order given; targets may be nested under
  // one another only if listed parent first (and, below a read-only one, only where its source
  // has the folder). Targets missing from the root are made (below /proc and /dev: refused).
  // bubblewrap opens the sources as `uid`: they must be reachable, outputs writable, by it.
  // Every sandbox also gets a private /tmp (tmpfs), /dev (minimal) and /proc.
  std::vector<BindMount> binds;
  bool network = false;        // false: a network namespace with only loopback
  std::vector<uint32_t> gpus;  // NVIDIA device indices to bind (plus the control devices)
  SandboxLimits limits;
  // The account the job's processes run as on the host; never 0. bubblewrap also gives the job
  // a user namespace in which it is `uid`/`gid` too; the OCI runtime runs it as `uid`/`gid`
  // directly. A runner that is not root cannot switch accounts: bubblewrap jobs then run as the
  // runner's uid on the host (still `uid` inside) and OCI is not offered.
  uid_t uid = 65534;
  gid_t gid = 65534;
  // Files the job's standard output and error go to (created or truncated by start(), owned
  // by the runner's user); standard input is /dev/null.
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
  // A private, empty folder the runner may use for its own files (OCI bundle, status fds);
  // the caller creates it and removes it after `done`.
  std::filesystem::path scratch;
};

enum class SandboxOutcome : uint8_t {
  kExited,  // the command exited by itself: see exit_code
  // Killed by a signal it did not ask for (not by the runner): see signal. The runtimes report
  // a command killed by signal N as exit status 128 + N, so an exit with 129..192 reads as a
  // signal too.
  kSignaled,
  kTimedOut,     // ran past limits.timeout and was stopped
  kOutOfMemory,  // the kernel's OOM killer stopped it within its memory limit
  kCancelled,    // cancel() stopped it
  kStartFailed,  // the runtime could not set it up (bad image, missing command, ...): reason
};
std::string_view sandbox_outcome_name(SandboxOutcome outcome);

struct ResourceUsage {
  double cpu_seconds = 0;         // user + system of every process of the sandbox
  uint64_t max_memory_bytes = 0;  // peak, as the cgroup saw it (0 when unknown)
  core::Duration wall{};
};

struct SandboxResult {
  SandboxOutcome outcome = SandboxOutcome::kStartFailed;
  int exit_code = -1;  // kExited: the command's status (0..255)
  int signal = 0;      // kSignaled: the signal number
  // One line for people: "exited with 3", "killed by SIGSEGV", "out of memory (limit 64.0
  // MiB)", "timed out after 2s", "bwrap: execvp nosuch: No such file or directory".
  std::string reason;
  ResourceUsage usage;
};

class SandboxRunner {
 public:
  using SandboxId = uint64_t;
  using Done = std::function<void(SandboxResult)>;

  virtual ~SandboxRunner() = default;

  // The runtimes that work on this host (probed once, when the runner is created).
  virtual std::vector<RuntimeKind> runtimes() const = 0;
  // Starts a sandbox. On success `done` runs exactly once, on the loop thread, after every
  // process of the sandbox has ended and its cgroups are removed. Errors (nothing started,
  // `done` never runs): kUnsupported for a runtime this host lacks, kInvalidArgument for a
  // malformed spec (or a bind source, rootfs, scratch or GPU that does not exist),
  // kAlreadyExists for a name in use, kIo when the host refused (fork, cgroup, files).
  virtual core::Result<SandboxId> start(SandboxSpec spec, Done done) = 0;
  // Stops a running sandbox (SIGTERM, SIGKILL after the grace); its `done` reports kCancelled.
  // Unknown or finished ids are ignored.
  virtual void cancel(SandboxId id) = 0;
  // What a running sandbox has used so far; nullopt for unknown or finished ids.
  virtual std::optional<ResourceUsage> usage(SandboxId id) const = 0;
  // Sandboxes running now.
  virtual size_t running() const = 0;
  // Kills every sandbox (SIGKILL, no grace), waits for them, removes their cgroups, then runs
  // `done` (on the loop thread). Their `done` callbacks run first: kCancelled for those still
  // running (a timeout under way stays kTimedOut), the real outcome for those already ending.
  // Only once; start() may not be called after it, and the runner may be destroyed only once
  // `done` ran (or if nothing was ever started).
  virtual void close(std::function<void()> done) = 0;
};

struct SandboxRunnerOptions {
  // Where the job cgroups go: a folder of this name under this process's own cgroup in every
  // controller it uses ("/proc/self/cgroup"), created when needed.
  std::string cgroup_group = "synapse-jobs";
  // The cgroup filesystem root, for tests ("/sys/fs/cgroup" in production).
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  // Executables, found in PATH when relative.
  std::string bwrap = "bwrap";
  std::string oci_runtime = "";  // empty: the first of runc, crun in PATH
  std::string docker = "docker";
  std::string podman = "podman";
};

// The libuv runner. Fails with kIo when neither bubblewrap nor any other runtime works here.
core::Result<std::unique_ptr<SandboxRunner>> create_sandbox_runner(uv_loop_t* loop,
                                                                   SandboxRunnerOptions options);

}  // namespace synapse::compute
