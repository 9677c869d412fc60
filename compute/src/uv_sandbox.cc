// The libuv SandboxRunner (sandbox.h; docs/sandbox.md). Each sandbox is one forked child that
// joins the sandbox's cgroups and drops to the job's account before it execs the runtime
// (bubblewrap, runc/crun, or an engine's client). The child is watched through a pidfd on the
// loop and reaped with waitid; the sandbox reports once its cgroups are empty and removed.
//
// The parent is multi-threaded (spdlog, libuv's pool, the node's other threads), so between
// fork and exec the child only makes async-signal-safe calls on data prepared before fork.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cgroups.h"
#include "runtimes.h"
#include "synapse/compute/host.h"
#include "synapse/compute/sandbox.h"
#include "synapse/core/guarded.h"
#include "synapse/core/units.h"

extern char** environ;

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::make_error;
using SteadyTime = std::chrono::steady_clock::time_point;

// Where the child puts bubblewrap's --json-status-fd, and its own exec-failure report
// (close-on-exec, so that a successful exec closes it).
constexpr int kStatusFd = 3;
constexpr int kReportFd = 4;
// Descriptors handed to the child are first moved at or above this, so that placing them at
// 0..4 never overwrites one not yet placed.
constexpr int kHighFd = 10;
// How often processes that appear during the grace are sent SIGTERM.
constexpr core::Duration kTermInterval = 50ms;
// How often a stopping or draining sandbox's cgroup is looked at; slower after kSlowAfter.
constexpr core::Duration kPollInterval = 10ms;
constexpr core::Duration kSlowPollInterval = 100ms;
constexpr core::Duration kSlowAfter = 1s;
// Processes that outlive a SIGKILL this long (stuck in the kernel) get a warning.
constexpr core::Duration kStuckWarning = 10s;
// runc delete, docker inspect/kill/rm: killed after this.
constexpr core::Duration kHelperTimeout = 10s;
// An OCI runtime or engine client still running this long after its container was killed
// is killed itself.
constexpr core::Duration kClientKillAfter = 3s;
// What is read back from stderr and runtime logs for a start failure's reason.
constexpr size_t kReasonTail = 4096;
constexpr const char* kHelperPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

uint64_t to_ms(core::Duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(d).count()));
}

std::string errno_text(int error) { return std::strerror(error); }

// Whether the root has a real /var/tmp folder to hide under a tmpfs.
bool has_var_tmp(const fs::path& root) {
  std::error_code error;
  return fs::is_directory(fs::symlink_status(root / "var" / "tmp", error)) &&
         fs::is_directory(fs::symlink_status(root / "var", error));
}

// ---- Forking ----

// Everything the forked child needs, made before fork.
struct ChildPlan {
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::vector<std::string> cgroup_procs;  // "0" is written to each before anything else
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  int status_fd = -1;  // placed at kStatusFd when >= 0
  bool drop_privileges = false;
  uid_t uid = 0;
  gid_t gid = 0;
  // Without cgroups: RLIMIT_AS and RLIMIT_NPROC stand in for the memory and pids limits.
  bool rlimits = false;
  rlim_t memory = RLIM_INFINITY;
  rlim_t processes = RLIM_INFINITY;
};

// What the child reports through kReportFd when it cannot exec.
struct ChildFailure {
  int stage;
  int error;
};
enum ChildStage : int { kStageCgroup = 1, kStageLimits, kStageFds, kStageCredentials, kStageExec };

const char* stage_name(int stage) {
  switch (stage) {
    case kStageCgroup:
      return "joining the cgroup";
    case kStageLimits:
      return "setting rlimits";
    case kStageFds:
      return "setting up descriptors";
    case kStageCredentials:
      return "switching to the job's account";
    default:
      return "exec";
  }
}

[[noreturn]] void child_fail(int report_fd, int stage) noexcept {
  const ChildFailure failure{stage, errno};
  [[maybe_unused]] ssize_t n = ::write(report_fd, &failure, sizeof failure);
  ::_exit(127);
}

// The child between fork and exec: async-signal-safe calls only.
[[noreturn]] void run_child(const ChildPlan& plan, char* const* argv, char* const* envp,
                            pid_t parent, int report_fd) noexcept {
  // Dispositions set to "ignore" (SIGPIPE, often) would survive exec into the job.
  struct sigaction default_action;
  std::memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal != SIGKILL && signal != SIGSTOP) ::sigaction(signal, &default_action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Into the cgroups before exec, so that the runtime and all it starts are accounted.
  for (const std::string& file : plan.cgroup_procs) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) child_fail(report_fd, kStageCgroup);
    if (::write(fd, "0", 1) != 1) child_fail(report_fd, kStageCgroup);
    ::close(fd);
  }
  ::setsid();
  if (plan.rlimits) {
    const struct rlimit memory = {plan.memory, plan.memory};
    const struct rlimit processes = {plan.processes, plan.processes};
    if (::setrlimit(RLIMIT_AS, &memory) != 0 || ::setrlimit(RLIMIT_NPROC, &processes) != 0) {
      child_fail(report_fd, kStageLimits);
    }
  }
  if (::dup2(plan.stdin_fd, 0) < 0 || ::dup2(plan.stdout_fd, 1) < 0 ||
      ::dup2(plan.stderr_fd, 2) < 0) {
    child_fail(report_fd, kStageFds);
  }
  if (plan.status_fd >= 0 && ::dup2(plan.status_fd, kStatusFd) < 0) {
    child_fail(report_fd, kStageFds);
  }
  if (::dup3(report_fd, kReportFd, O_CLOEXEC) < 0) child_fail(report_fd, kStageFds);
  report_fd = kReportFd;
  if (plan.status_fd < 0) ::close(kStatusFd);
  if (::syscall(SYS_close_range, static_cast<unsigned>(kReportFd + 1), ~0U, 0U) != 0) {
    for (int fd = kReportFd + 1; fd < 65536; ++fd) ::close(fd);
  }
  if (plan.drop_privileges) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(plan.gid) != 0 || ::setuid(plan.uid) != 0) {
      child_fail(report_fd, kStageCredentials);
    }
  }
  // After setuid: a change of credentials clears the parent-death signal.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the runner died before prctl
  ::execve(plan.path.c_str(), argv, envp);
  child_fail(report_fd, kStageExec);
}

// A copy of `fd` at or above kHighFd, close-on-exec; the original is closed.
int move_high(int fd) {
  if (fd < 0 || fd >= kHighFd) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  ::close(fd);
  return high;
}

// Forks and execs `plan`; returns once the exec succeeded (or failed, with kIo).
core::Result<pid_t> launch(ChildPlan& plan) {
  std::vector<char*> argv;
  for (std::string& arg : plan.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : plan.env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  for (int* fd : {&plan.stdin_fd, &plan.stdout_fd, &plan.stderr_fd, &plan.status_fd}) {
    *fd = move_high(*fd);
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kIo, "pipe: " + errno_text(errno));
  }
  report[0] = move_high(report[0]);
  report[1] = move_high(report[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(report[0]);
    ::close(report[1]);
    return make_error(ErrorCode::kIo, "fork: " + errno_text(error));
  }
  if (pid == 0) run_child(plan, argv.data(), envp.data(), parent, report[1]);
  ::close(report[1]);
  // The child either execs (closing its end: EOF) or reports within a few system calls.
  ChildFailure failure{};
  size_t got = 0;
  while (got < sizeof failure) {
    const ssize_t n =
        ::read(report[0], reinterpret_cast<char*>(&failure) + got, sizeof failure - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(report[0]);
  if (got == 0) return pid;
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return make_error(ErrorCode::kIo, std::string(stage_name(failure.stage)) + " (" + plan.path +
                                        "): " + errno_text(failure.error));
}

// ---- Watching a child ----

struct ChildExit {
  int code = 0;    // CLD_EXITED, CLD_KILLED, CLD_DUMPED; 0 when someone else reaped it
  int status = 0;  // the exit status or the signal
  struct rusage usage {};
};

// A forked child watched through its pidfd on the loop; deletes itself after `exited` ran.
class ChildWatch {
 public:
  using Exited = std::function<void(const ChildExit&)>;

  static core::Result<ChildWatch*> start(uv_loop_t* loop, pid_t pid, Exited exited) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return make_error(ErrorCode::kIo, "pidfd_open: " + errno_text(errno));
    auto* watch = new ChildWatch(pid, pidfd, std::move(exited));
    if (const int status = uv_poll_init(loop, &watch->poll_, pidfd); status != 0) {
      ::close(pidfd);
      delete watch;
      return make_error(ErrorCode::kIo, std::string("uv_poll_init: ") + uv_strerror(status));
    }
    watch->poll_.data = watch;
    uv_poll_start(&watch->poll_, UV_READABLE, [](uv_poll_t* handle, int, int) {
      core::guarded("sandbox child exited",
                    [&] { static_cast<ChildWatch*>(handle->data)->reap(); });
    });
    return watch;
  }

  pid_t pid() const { return pid_; }
  // Signals the child itself (not its descendants); a no-op once it has exited.
  void signal(int signal) {
    if (!exited_) ::syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0);
  }

 private:
  ChildWatch(pid_t pid, int pidfd, Exited exited)
      : pid_(pid), pidfd_(pidfd), exited_callback_(std::move(exited)) {}

  void reap() {
    if (exited_) return;
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    // waitid(2) of the kernel, which also reports the child's resource usage.
    const long ok =
        ::syscall(SYS_waitid, P_PIDFD, pidfd_, &info, WEXITED | WNOHANG, &result_.usage);
    if (ok == 0 && info.si_pid == 0) return;  // not yet (a spurious wake-up)
    if (ok == 0) {
      result_.code = info.si_code;
      result_.status = info.si_status;
    }
    exited_ = true;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
      core::guarded("sandbox child watch closed", [&] {
        std::unique_ptr<ChildWatch> self(static_cast<ChildWatch*>(handle->data));
        ::close(self->pidfd_);
        self->exited_callback_(self->result_);
      });
    });
  }

  pid_t pid_;
  int pidfd_;
  Exited exited_callback_;
  uv_poll_t poll_{};
  bool exited_ = false;
  ChildExit result_;
};

// ---- Small host helpers ----

core::Result<int> open_output(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, path.string() + ": " + errno_text(errno));
  return fd;
}

std::string read_tail(const fs::path& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from =
      std::max<std::streamoff>(0, size - static_cast<std::streamoff>(limit));
  in.seekg(from);
  std::string text(static_cast<size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Every process below `root` (by parent links in /proc), for runs without cgroups.
std::vector<pid_t> descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    pid_t pid = 0;
    if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc()) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 4 > stat.size()) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state;
    pid_t parent = 0;
    fields >> state >> parent;
    children.emplace(parent, pid);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> queue = {root};
  while (!queue.empty()) {
    const pid_t pid = queue.back();
    queue.pop_back();
    auto [begin, end] = children.equal_range(pid);
    for (auto it = begin; it != end; ++it) {
      out.push_back(it->second);
      queue.push_back(it->second);
    }
  }
  return out;
}

bool is_engine(RuntimeKind kind) {
  return kind == RuntimeKind::kDocker || kind == RuntimeKind::kPodman;
}

std::vector<std::string> bind_targets(const SandboxSpec& spec) {
  std::vector<std::string> targets;
  for (const BindMount& bind : spec.binds) targets.push_back(bind.target);
  return targets;
}

// ---- The runner ----

class UvSandboxRunner;

enum class Phase : uint8_t {
  kRunning,      // the timeout is armed
  kTerminating,  // SIGTERM sent; SIGKILL when the grace ends
  kKilling,      // SIGKILL sent, repeated until the runtime's process exits
  kDraining,     // the runtime's process exited; waiting for the cgroup to empty
  kHelpers,      // runc delete, docker inspect/rm
  kRemoving,     // removing the cgroups
  kClosing,      // handles closing; `done` follows
};

struct Sandbox {
  UvSandboxRunner* runner = nullptr;
  SandboxRunner::SandboxId id = 0;
  SandboxSpec spec;
  SandboxRunner::Done done;
  std::optional<Cgroup> cgroup;
  std::string runtime;  // the executable
  ChildWatch* main = nullptr;
  pid_t main_pid = -1;
  std::set<ChildWatch*> helpers;
  uv_timer_t timer{};
  Phase phase = Phase::kRunning;
  std::optional<SandboxOutcome> stopped_by;  // kTimedOut or kCancelled
  SteadyTime started;
  SteadyTime phase_since;
  SteadyTime main_ended;
  ChildExit main_exit;
  int status_fd = -1;  // bubblewrap's --json-status-fd, read end
  std::string status_text;
  bool oom = false;            // the cgroup counted an OOM kill
  bool engine_oom = false;     // the engine said the OOM killer struck
  std::set<pid_t> terminated;  // processes sent SIGTERM
  int remove_attempts = 0;
  bool stuck_warned = false;
  SandboxResult result;
};

class UvSandboxRunner final : public SandboxRunner {
 public:
  UvSandboxRunner(uv_loop_t* loop, SandboxRunnerOptions options, std::vector<RuntimeKind> runtimes,
                  std::optional<CgroupManager> cgroups)
      : loop_(loop),
        options_(std::move(options)),
        runtimes_(std::move(runtimes)),
        cgroups_(std::move(cgroups)) {
    bwrap_ = find_executable(options_.bwrap);
    oci_ = find_oci_runtime(options_);
    docker_ = find_executable(options_.docker);
    podman_ = find_executable(options_.podman);
    is_root_ = ::geteuid() == 0;
  }

  ~UvSandboxRunner() override {
    SYNAPSE_CHECK(sandboxes_.empty(), "SandboxRunner destroyed with sandboxes: close() it first");
  }

  std::vector<RuntimeKind> runtimes() const override { return runtimes_; }

  core::Result<SandboxId> start(SandboxSpec spec, Done done) override {
    SYNAPSE_CHECK(!closing_, "SandboxRunner::start called after close()");
    SYNAPSE_RETURN_IF_ERROR(validate_spec(spec));
    if (std::find(runtimes_.begin(), runtimes_.end(), spec.runtime) == runtimes_.end()) {
      return make_error(ErrorCode::kUnsupported, std::string(runtime_kind_name(spec.runtime)) +
                                                     " does not work on this host");
    }
    for (const auto& [id, other] : sandboxes_) {
      if (other->spec.name == spec.name) {
        return make_error(ErrorCode::kAlreadyExists, "a sandbox named " + spec.name + " exists");
      }
    }
    std::error_code ignored;
    for (const BindMount& bind : spec.binds) {
      if (!fs::exists(bind.source, ignored)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bind source " + bind.source.string() + " does not exist");
      }
    }
    if (!spec.rootfs.empty() && !fs::is_directory(spec.rootfs, ignored)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "rootfs " + spec.rootfs.string() + " is not a folder");
    }
    if (!spec.scratch.empty() && !fs::is_directory(spec.scratch, ignored)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "scratch " + spec.scratch.string() + " is not a folder");
    }
    SYNAPSE_ASSIGN_OR_RETURN(std::vector<DeviceNode> devices, gpu_device_nodes(spec.gpus));

    auto sandbox = std::make_unique<Sandbox>();
    sandbox->runner = this;
    sandbox->id = next_id_++;
    sandbox->done = std::move(done);
    sandbox->spec = std::move(spec);
    const SandboxSpec& s = sandbox->spec;

    // Everything below that fails undoes what came before it.
    std::vector<int> fds;
    auto close_fds = [&fds] {
      for (int fd : fds) ::close(fd);
      fds.clear();
    };
    auto fail = [&](core::Error error) -> core::Result<SandboxId> {
      close_fds();
      if (sandbox->status_fd >= 0) ::close(sandbox->status_fd);
      if (sandbox->cgroup) (void)sandbox->cgroup->remove();
      return tl::unexpected(std::move(error));
    };

    if (cgroups_ && !is_engine(s.runtime)) {
      auto cgroup = cgroups_->create(s.name, s.limits, s.runtime == RuntimeKind::kOci);
      if (!cgroup) {
        return fail(cgroup.error().code() == ErrorCode::kAlreadyExists
                        ? cgroup.error()
                        : core::Error(ErrorCode::kIo, cgroup.error().message()));
      }
      sandbox->cgroup = std::move(*cgroup);
    }

    ChildPlan plan;
    auto out = open_output(s.stdout_path);
    if (!out) return fail(out.error());
    fds.push_back(plan.stdout_fd = *out);
    auto err = open_output(s.stderr_path);
    if (!err) return fail(err.error());
    fds.push_back(plan.stderr_fd = *err);
    plan.stdin_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (plan.stdin_fd < 0) {
      return fail(core::Error(ErrorCode::kIo, "/dev/null: " + errno_text(errno)));
    }
    fds.push_back(plan.stdin_fd);

    if (auto prepared = prepare(*sandbox, devices, plan, fds); !prepared) {
      return fail(prepared.error());
    }
    sandbox->started = std::chrono::steady_clock::now();
    auto pid = launch(plan);
    // launch() moved some descriptors; the plan holds the live ones.
    fds = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd};
    if (plan.status_fd >= 0) fds.push_back(plan.status_fd);
    if (!pid) return fail(pid.error());
    close_fds();

    Sandbox* raw = sandbox.get();
    auto watch = ChildWatch::start(
        loop_, *pid, [raw](const ChildExit& exit) { raw->runner->main_exited(*raw, exit); });
    if (!watch) {
      ::kill(*pid, SIGKILL);
      int status;
      ::waitpid(*pid, &status, 0);
      if (raw->cgroup) {
        raw->cgroup->kill_all();
      }
      return fail(watch.error());
    }
    raw->main = *watch;
    raw->main_pid = *pid;
    uv_timer_init(loop_, &raw->timer);
    raw->timer.data = raw;
    raw->phase_since = raw->started;
    // The loop's clock is as old as this iteration; the timeout counts from now.
    uv_update_time(loop_);
    arm(*raw, s.limits.timeout);
    const SandboxId id = raw->id;
    sandboxes_.emplace(id, std::move(sandbox));
    return id;
  }

  void cancel(SandboxId id) override {
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return;
    terminate(*it->second, SandboxOutcome::kCancelled);
  }

  std::optional<ResourceUsage> usage(SandboxId id) const override {
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end() || it->second->phase == Phase::kClosing) return std::nullopt;
    const Sandbox& sandbox = *it->second;
    // Once every process is gone the final figures are known (and the cgroup may be too).
    if (sandbox.phase >= Phase::kHelpers) return sandbox.result.usage;
    ResourceUsage usage;
    if (sandbox.cgroup) {
      const CgroupStats stats = sandbox.cgroup->stats();
      usage.cpu_seconds = stats.cpu_seconds;
      usage.max_memory_bytes = stats.peak_memory_bytes;
    }
    usage.wall = (sandbox.main == nullptr ? sandbox.main_ended : std::chrono::steady_clock::now()) -
                 sandbox.started;
    return usage;
  }

  size_t running() const override { return sandboxes_.size(); }

  void close(std::function<void()> done) override {
    SYNAPSE_CHECK(!closing_, "SandboxRunner::close called twice");
    closing_ = true;
    close_done_ = std::move(done);
    for (auto& [id, sandbox] : sandboxes_) {
      if (sandbox->phase == Phase::kRunning || sandbox->phase == Phase::kTerminating) {
        if (!sandbox->stopped_by) sandbox->stopped_by = SandboxOutcome::kCancelled;
        kill_hard(*sandbox);
      }
    }
    if (sandboxes_.empty()) finish_close();
  }

 private:
  // ---- Starting ----

  core::Status prepare(Sandbox& sandbox, const std::vector<DeviceNode>& devices, ChildPlan& plan,
                       std::vector<int>& fds) {
    const SandboxSpec& spec = sandbox.spec;
    const fs::path root = spec.rootfs.empty() ? fs::path("/") : spec.rootfs;
    if (!sandbox.cgroup && !is_engine(spec.runtime)) {
      plan.rlimits = true;
      plan.memory = spec.limits.memory_bytes;
      plan.processes = spec.limits.pids;
    }
    switch (spec.runtime) {
      case RuntimeKind::kBubblewrap: {
        SYNAPSE_ASSIGN_OR_RETURN(std::vector<RootEntry> entries,
                                 list_root_entries(root, bind_targets(spec)));
        int status[2];
        if (::pipe2(status, O_CLOEXEC | O_NONBLOCK) != 0) {
          return make_error(ErrorCode::kIo, "pipe: " + errno_text(errno));
        }
        sandbox.status_fd = status[0];
        // The write end blocks: bubblewrap must not lose its report to EAGAIN.
        ::fcntl(status[1], F_SETFL, 0);
        fds.push_back(plan.status_fd = status[1]);
        sandbox.runtime = bwrap_;
        plan.path = bwrap_;
        plan.argv = bwrap_args(spec, BwrapPlan{bwrap_, root, std::move(entries), devices, kStatusFd,
                                               has_var_tmp(root)});
        plan.env = {kHelperPath};
        if (sandbox.cgroup) {
          for (const fs::path& file : sandbox.cgroup->procs_files()) {
            plan.cgroup_procs.push_back(file.string());
          }
        }
        // bubblewrap runs unprivileged and maps the account into its user namespace; as root
        // with a user namespace, its processes would still be root on the host.
        if (is_root_) {
          plan.drop_privileges = true;
          plan.uid = spec.uid;
          plan.gid = spec.gid;
        } else if (spec.uid != ::getuid() && !warned_not_root_) {
          warned_not_root_ = true;
          spdlog::warn(
              "sandbox: not running as root, so jobs run as uid {} on this host (they see uid "
              "{} inside their sandbox)",
              ::getuid(), spec.uid);
        }
        return core::ok();
      }
      case RuntimeKind::kOci: {
        SYNAPSE_ASSIGN_OR_RETURN(std::vector<RootEntry> entries,
                                 list_root_entries(root, bind_targets(spec)));
        const fs::path bundle = spec.scratch / "bundle";
        const fs::path rootfs = bundle / "rootfs";
        std::error_code error;
        fs::create_directories(rootfs, error);
        if (error) return make_error(ErrorCode::kIo, rootfs.string() + ": " + error.message());
        for (const RootEntry& entry : entries) {
          if (entry.link_target.empty()) continue;
          fs::create_directories((rootfs / entry.path).parent_path(), error);
          if (!error) fs::create_symlink(entry.link_target, rootfs / entry.path, error);
          if (error) {
            return make_error(ErrorCode::kIo,
                              (rootfs / entry.path).string() + ": " + error.message());
          }
        }
        const std::string relative = sandbox.cgroup ? sandbox.cgroup->relative_path()
                                                    : options_.cgroup_group + "/" + spec.name;
        const std::string config = oci_config_json(
            spec, OciPlan{root, entries, rootfs, relative, devices, has_var_tmp(root)});
        std::ofstream file(bundle / "config.json", std::ios::trunc);
        file << config;
        file.close();
        if (!file) {
          return make_error(ErrorCode::kIo, "writing " + (bundle / "config.json").string());
        }
        sandbox.runtime = oci_;
        plan.path = oci_;
        plan.argv = oci_run_args(oci_, spec.scratch / "state", bundle, spec.scratch / "runtime.log",
                                 spec.name);
        plan.env = {kHelperPath};
        // The OCI runtime stays in this process's cgroups and puts the container in the job's.
        plan.rlimits = false;
        return core::ok();
      }
      case RuntimeKind::kDocker:
      case RuntimeKind::kPodman: {
        sandbox.runtime = spec.runtime == RuntimeKind::kDocker ? docker_ : podman_;
        plan.path = sandbox.runtime;
        plan.argv = engine_run_args(spec, sandbox.runtime);
        // The client finds its engine through the environment (DOCKER_HOST, HOME, ...).
        for (char** entry = environ; *entry != nullptr; ++entry) plan.env.emplace_back(*entry);
        return core::ok();
      }
    }
    return make_error(ErrorCode::kUnsupported, "unknown runtime");
  }

  // ---- Timers ----

  void arm(Sandbox& sandbox, core::Duration after, core::Duration repeat = {}) {
    uv_timer_start(
        &sandbox.timer,
        [](uv_timer_t* timer) {
          core::guarded("sandbox timer", [&] {
            auto* sandbox = static_cast<Sandbox*>(timer->data);
            sandbox->runner->on_timer(*sandbox);
          });
        },
        to_ms(after), to_ms(repeat));
  }

  core::Duration poll_interval(const Sandbox& sandbox) const {
    return std::chrono::steady_clock::now() - sandbox.phase_since > kSlowAfter ? kSlowPollInterval
                                                                               : kPollInterval;
  }

  void enter(Sandbox& sandbox, Phase phase) {
    sandbox.phase = phase;
    sandbox.phase_since = std::chrono::steady_clock::now();
  }

  void on_timer(Sandbox& sandbox) {
    switch (sandbox.phase) {
      case Phase::kRunning:
        terminate(sandbox, SandboxOutcome::kTimedOut);
        return;
      case Phase::kTerminating:
        terminate_again(sandbox);
        return;
      case Phase::kKilling:
        kill_again(sandbox);
        return;
      case Phase::kDraining:
        drain(sandbox);
        return;
      case Phase::kHelpers:
        // A helper that hangs (an engine that does not answer) is given up on.
        for (ChildWatch* helper : sandbox.helpers) helper->signal(SIGKILL);
        return;
      case Phase::kRemoving:
        remove_cgroup(sandbox);
        return;
      case Phase::kClosing:
        return;
    }
  }

  // ---- Stopping ----

  // SIGTERM to the job, SIGKILL after the grace.
  void terminate(Sandbox& sandbox, SandboxOutcome reason) {
    if (sandbox.phase != Phase::kRunning) return;
    sandbox.stopped_by = reason;
    enter(sandbox, Phase::kTerminating);
    const SandboxSpec& spec = sandbox.spec;
    if (spec.limits.kill_grace <= core::Duration::zero()) {
      kill_hard(sandbox);
      return;
    }
    if (is_engine(spec.runtime)) {
      run_helper(sandbox, engine_kill_args(sandbox.runtime, spec.name, "TERM"), nullptr);
    } else if (spec.runtime == RuntimeKind::kOci && !sandbox.cgroup) {
      run_helper(sandbox, oci_kill_args(sandbox.runtime, spec.scratch / "state", spec.name, "TERM"),
                 nullptr);
    }
    terminate_again(sandbox);
  }

  // SIGTERM to every process of the job not signalled yet, until the grace is over: one that
  // starts later (a job stopped while bubblewrap was still setting up) is warned too.
  void terminate_again(Sandbox& sandbox) {
    const SandboxSpec& spec = sandbox.spec;
    const auto left =
        sandbox.phase_since + spec.limits.kill_grace - std::chrono::steady_clock::now();
    if (left <= core::Duration::zero()) {
      kill_hard(sandbox);
      return;
    }
    if (spec.runtime == RuntimeKind::kBubblewrap ||
        (spec.runtime == RuntimeKind::kOci && sandbox.cgroup)) {
      // bubblewrap's own two processes are spared: the outer one dying would kill the whole
      // pid namespace at once (--die-with-parent), without the grace.
      std::vector<pid_t> spare;
      if (spec.runtime == RuntimeKind::kBubblewrap) spare = bwrap_pids(sandbox);
      spare.insert(spare.end(), sandbox.terminated.begin(), sandbox.terminated.end());
      std::vector<pid_t> pids;
      if (sandbox.cgroup) {
        pids = sandbox.cgroup->processes().value_or(std::vector<pid_t>{});
      } else {
        pids = descendants(sandbox.main_pid);
      }
      for (pid_t pid : pids) {
        if (std::find(spare.begin(), spare.end(), pid) != spare.end()) continue;
        ::kill(pid, SIGTERM);
        sandbox.terminated.insert(pid);
      }
    }
    arm(sandbox, std::min<core::Duration>(left, kTermInterval));
  }

  void kill_hard(Sandbox& sandbox) {
    if (sandbox.phase != Phase::kRunning && sandbox.phase != Phase::kTerminating) return;
    enter(sandbox, Phase::kKilling);
    const SandboxSpec& spec = sandbox.spec;
    if (is_engine(spec.runtime)) {
      run_helper(sandbox, engine_kill_args(sandbox.runtime, spec.name, "KILL"), nullptr);
    } else if (spec.runtime == RuntimeKind::kOci && !sandbox.cgroup) {
      run_helper(sandbox, oci_kill_args(sandbox.runtime, spec.scratch / "state", spec.name, "KILL"),
                 nullptr);
    }
    kill_again(sandbox);
  }

  // Repeated while the runtime's process lives: a v1 cgroup without freezer can gain a
  // process between listing and killing.
  void kill_again(Sandbox& sandbox) {
    const SandboxSpec& spec = sandbox.spec;
    const bool client_overdue =
        std::chrono::steady_clock::now() - sandbox.phase_since > kClientKillAfter;
    if (spec.runtime == RuntimeKind::kBubblewrap) {
      if (sandbox.cgroup) {
        sandbox.cgroup->kill_all();
      } else {
        for (pid_t pid : descendants(sandbox.main_pid)) ::kill(pid, SIGKILL);
        ::kill(-sandbox.main_pid, SIGKILL);
      }
      if (sandbox.main != nullptr) sandbox.main->signal(SIGKILL);
    } else if (spec.runtime == RuntimeKind::kOci) {
      if (sandbox.cgroup) sandbox.cgroup->kill_all();
      // runc exits once its container is gone; one that does not is killed.
      if (client_overdue && sandbox.main != nullptr) {
        sandbox.main->signal(SIGKILL);
      }
    } else if (client_overdue && sandbox.main != nullptr) {
      sandbox.main->signal(SIGKILL);
    }
    arm(sandbox, poll_interval(sandbox));
  }

  // The outer bubblewrap process and its init in the new pid namespace (--json-status-fd).
  std::vector<pid_t> bwrap_pids(Sandbox& sandbox) {
    read_status(sandbox);
    std::vector<pid_t> pids = {sandbox.main_pid};
    for (const std::string& line : lines_of(sandbox.status_text)) {
      auto json = nlohmann::json::parse(line, nullptr, false);
      if (json.is_object() && json.contains("child-pid") && json["child-pid"].is_number_integer()) {
        pids.push_back(json["child-pid"].get<pid_t>());
      }
    }
    return pids;
  }

  void read_status(Sandbox& sandbox) {
    if (sandbox.status_fd < 0) return;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(sandbox.status_fd, buffer, sizeof buffer)) > 0) {
      if (sandbox.status_text.size() < 65536) sandbox.status_text.append(buffer, n);
    }
  }

  // ---- Ending ----

  void main_exited(Sandbox& sandbox, const ChildExit& exit) {
    sandbox.main = nullptr;
    sandbox.main_exit = exit;
    sandbox.main_ended = std::chrono::steady_clock::now();
    read_status(sandbox);
    if (sandbox.status_fd >= 0) {
      ::close(sandbox.status_fd);
      sandbox.status_fd = -1;
    }
    enter(sandbox, Phase::kDraining);
    drain(sandbox);
  }

  // What the job left behind is killed; the sandbox ends once nothing is left in its cgroup.
  void drain(Sandbox& sandbox) {
    if (sandbox.cgroup) {
      auto pids = sandbox.cgroup->processes();
      if (pids && !pids->empty()) {
        sandbox.cgroup->kill_all();
        if (!sandbox.stuck_warned &&
            std::chrono::steady_clock::now() - sandbox.phase_since > kStuckWarning) {
          sandbox.stuck_warned = true;
          spdlog::warn("sandbox {}: {} processes survive SIGKILL; waiting for them",
                       sandbox.spec.name, pids->size());
        }
        arm(sandbox, poll_interval(sandbox));
        return;
      }
    }
    collect(sandbox);
    enter(sandbox, Phase::kHelpers);
    const SandboxSpec& spec = sandbox.spec;
    if (spec.runtime == RuntimeKind::kOci) {
      run_helper(sandbox, oci_delete_args(sandbox.runtime, spec.scratch / "state", spec.name),
                 nullptr);
    } else if (is_engine(spec.runtime)) {
      const fs::path answer = spec.scratch / "inspect.out";
      run_helper(sandbox, engine_inspect_args(sandbox.runtime, spec.name), &answer,
                 [this, &sandbox, answer] {
                   sandbox.engine_oom = read_tail(answer, 64).find("true") != std::string::npos;
                   if (sandbox.engine_oom) classify(sandbox);
                   run_helper(sandbox, engine_remove_args(sandbox.runtime, sandbox.spec.name),
                              nullptr);
                 });
    }
    if (sandbox.helpers.empty()) {
      enter(sandbox, Phase::kRemoving);
      remove_cgroup(sandbox);
    } else {
      arm(sandbox, kHelperTimeout, kHelperTimeout);
    }
  }

  // Starts a helper command (runc delete, docker kill/inspect/rm) for `sandbox`; `then` runs
  // when it exits. Its stdout goes to `output` when given.
  void run_helper(Sandbox& sandbox, std::vector<std::string> argv, const fs::path* output,
                  std::function<void()> then = nullptr) {
    ChildPlan plan;
    plan.path = argv[0];
    plan.argv = std::move(argv);
    if (is_engine(sandbox.spec.runtime)) {
      for (char** entry = environ; *entry != nullptr; ++entry) plan.env.emplace_back(*entry);
    } else {
      plan.env = {kHelperPath};
    }
    plan.stdin_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    plan.stderr_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    plan.stdout_fd = output != nullptr
                         ? ::open(output->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                         : ::open("/dev/null", O_RDWR | O_CLOEXEC);
    core::Result<pid_t> pid = make_error(ErrorCode::kIo, "cannot open /dev/null");
    if (plan.stdin_fd >= 0 && plan.stdout_fd >= 0 && plan.stderr_fd >= 0) pid = launch(plan);
    for (int fd : {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd}) {
      if (fd >= 0) ::close(fd);
    }
    auto slot = std::make_shared<ChildWatch*>(nullptr);
    core::Result<ChildWatch*> watch = tl::unexpected(core::Error(ErrorCode::kIo, ""));
    if (pid) {
      watch = ChildWatch::start(loop_, *pid, [this, &sandbox, slot, then](const ChildExit&) {
        sandbox.helpers.erase(*slot);
        if (then) then();
        if (sandbox.phase == Phase::kHelpers && sandbox.helpers.empty()) {
          enter(sandbox, Phase::kRemoving);
          remove_cgroup(sandbox);
        }
      });
      if (!watch) {
        ::kill(*pid, SIGKILL);
        int status;
        ::waitpid(*pid, &status, 0);
      }
    }
    if (!pid || !watch) {
      spdlog::warn("sandbox {}: running {} failed: {}", sandbox.spec.name, plan.path,
                   (pid ? watch.error() : pid.error()).message());
      if (then) then();
      return;
    }
    *slot = *watch;
    sandbox.helpers.insert(*watch);
  }

  void remove_cgroup(Sandbox& sandbox) {
    if (sandbox.cgroup) {
      auto removed = sandbox.cgroup->remove();
      if (!removed && ++sandbox.remove_attempts < 100) {
        arm(sandbox, kPollInterval);
        return;
      }
      if (!removed) {
        spdlog::warn("sandbox {}: {}", sandbox.spec.name, removed.error().message());
      }
    }
    enter(sandbox, Phase::kClosing);
    uv_timer_stop(&sandbox.timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&sandbox.timer), [](uv_handle_t* handle) {
      core::guarded("sandbox closed", [&] {
        auto* sandbox = static_cast<Sandbox*>(handle->data);
        sandbox->runner->complete(sandbox->id);
      });
    });
  }

  // Usage and the outcome, once every process is gone (and before runc delete removes the
  // cgroup an OCI runtime kept).
  void collect(Sandbox& sandbox) {
    SandboxResult& result = sandbox.result;
    result.usage.wall = sandbox.main_ended - sandbox.started;
    if (sandbox.cgroup) {
      const CgroupStats stats = sandbox.cgroup->stats();
      result.usage.cpu_seconds = stats.cpu_seconds;
      result.usage.max_memory_bytes = stats.peak_memory_bytes;
      sandbox.oom = stats.oom_kills > 0;
    } else {
      const struct rusage& usage = sandbox.main_exit.usage;
      result.usage.cpu_seconds =
          static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
          static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
      result.usage.max_memory_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
    }
    classify(sandbox);
  }

  void classify(Sandbox& sandbox) {
    SandboxResult& result = sandbox.result;
    const SandboxSpec& spec = sandbox.spec;
    const ChildExit& exit = sandbox.main_exit;
    result.exit_code = -1;
    result.signal = 0;
    const bool oom = sandbox.oom || sandbox.engine_oom;
    if (sandbox.stopped_by) {
      result.outcome = *sandbox.stopped_by;
      result.reason = *sandbox.stopped_by == SandboxOutcome::kTimedOut
                          ? "timed out after " + format_seconds(spec.limits.timeout)
                          : "cancelled";
      return;
    }
    if (oom) {
      result.outcome = SandboxOutcome::kOutOfMemory;
      result.reason = "out of memory (limit " + core::format_size(spec.limits.memory_bytes) + ")";
      return;
    }
    if (exit.code == CLD_KILLED || exit.code == CLD_DUMPED) {
      result.outcome = SandboxOutcome::kSignaled;
      result.signal = exit.status;
      result.reason = "killed by " + signal_name(exit.status);
      return;
    }
    if (auto failure = start_failure(sandbox)) {
      result.outcome = SandboxOutcome::kStartFailed;
      result.reason = *failure;
      return;
    }
    if (exit.code != CLD_EXITED) {
      result.outcome = SandboxOutcome::kStartFailed;
      result.reason = "the runtime's exit status was lost";
      return;
    }
    result.exit_code = exit.status;
    // Every runtime reports a job killed by signal N as exit status 128 + N.
    if (exit.status > 128 && exit.status < 128 + NSIG) {
      result.outcome = SandboxOutcome::kSignaled;
      result.signal = exit.status - 128;
      result.reason = "killed by " + signal_name(result.signal);
      return;
    }
    result.outcome = SandboxOutcome::kExited;
    result.reason = "exited with " + std::to_string(exit.status);
  }

  // The runtime's own complaint when it could not set the sandbox up, else nullopt.
  std::optional<std::string> start_failure(Sandbox& sandbox) {
    const SandboxSpec& spec = sandbox.spec;
    const ChildExit& exit = sandbox.main_exit;
    switch (spec.runtime) {
      case RuntimeKind::kBubblewrap: {
        // bubblewrap writes "exit-code" only for a command it got to run: without one, the
        // job never started, and its stderr holds only bubblewrap's message.
        for (const std::string& line : lines_of(sandbox.status_text)) {
          auto json = nlohmann::json::parse(line, nullptr, false);
          if (json.is_object() && json.contains("exit-code")) return std::nullopt;
        }
        for (const std::string& line : lines_of(read_tail(spec.stderr_path, kReasonTail))) {
          if (line.rfind("bwrap: ", 0) == 0) return line;
        }
        return "bubblewrap could not set up the sandbox (exit status " +
               std::to_string(exit.status) + ")";
      }
      case RuntimeKind::kOci: {
        // The runtime logs its own errors to runtime.log (JSON lines), never the job's.
        std::optional<std::string> message;
        for (const std::string& line :
             lines_of(read_tail(spec.scratch / "runtime.log", kReasonTail))) {
          auto json = nlohmann::json::parse(line, nullptr, false);
          if (!json.is_object() || !json.contains("level") || !json["level"].is_string()) continue;
          const std::string level = json["level"];
          if ((level == "error" || level == "fatal") && json.contains("msg") &&
              json["msg"].is_string()) {
            const std::string name = fs::path(sandbox.runtime).filename().string();
            std::string text = json["msg"].get<std::string>();
            if (text.rfind(name + " run failed: ", 0) == 0) text.erase(0, name.size() + 13);
            message = name + ": " + text;
          }
        }
        return message;
      }
      case RuntimeKind::kDocker:
      case RuntimeKind::kPodman: {
        // 125: the engine failed; 126/127: the command could not be run (docker run's codes).
        if (exit.code != CLD_EXITED || exit.status < 125 || exit.status > 127) return std::nullopt;
        const auto lines = lines_of(read_tail(spec.stderr_path, kReasonTail));
        if (exit.status == 125) {
          return lines.empty() ? std::string("the engine could not start the container")
                               : lines.back();
        }
        if (!lines.empty() &&
            (lines.back().rfind("docker: ", 0) == 0 || lines.back().rfind("Error: ", 0) == 0)) {
          return lines.back();
        }
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  void complete(SandboxId id) {
    auto it = sandboxes_.find(id);
    SYNAPSE_CHECK(it != sandboxes_.end(), "a sandbox completes once");
    std::unique_ptr<Sandbox> sandbox = std::move(it->second);
    sandboxes_.erase(it);
    Done done = std::move(sandbox->done);
    SandboxResult result = std::move(sandbox->result);
    sandbox.reset();
    if (done) done(std::move(result));
    if (closing_ && sandboxes_.empty()) finish_close();
  }

  void finish_close() {
    if (close_started_) return;
    close_started_ = true;
    if (cgroups_) cgroups_->remove_group_dirs();
    // A handle only to defer `done` to a callback of its own.
    auto* handle = new uv_timer_t;
    uv_timer_init(loop_, handle);
    handle->data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* handle) {
      core::guarded("sandbox runner closed", [&] {
        auto* self = static_cast<UvSandboxRunner*>(handle->data);
        delete reinterpret_cast<uv_timer_t*>(handle);
        if (self->close_done_) std::exchange(self->close_done_, nullptr)();
      });
    });
  }

  uv_loop_t* loop_;
  SandboxRunnerOptions options_;
  std::vector<RuntimeKind> runtimes_;
  std::optional<CgroupManager> cgroups_;
  std::string bwrap_, oci_, docker_, podman_;
  bool is_root_ = false;
  bool warned_not_root_ = false;
  SandboxId next_id_ = 1;
  std::map<SandboxId, std::unique_ptr<Sandbox>> sandboxes_;
  bool closing_ = false;
  bool close_started_ = false;
  std::function<void()> close_done_;
};

}  // namespace

core::Result<std::unique_ptr<SandboxRunner>> create_sandbox_runner(uv_loop_t* loop,
                                                                   SandboxRunnerOptions options) {
  std::vector<RuntimeKind> runtimes = probe_runtimes(options);
  if (runtimes.empty()) {
    return make_error(ErrorCode::kIo,
                      "no sandbox runtime works here: bubblewrap cannot make a user namespace (or "
                      "is missing), and no runc, crun, docker or podman is usable");
  }
  std::optional<CgroupManager> cgroups;
  std::ifstream in("/proc/self/cgroup");
  std::ostringstream text;
  text << in.rdbuf();
  auto manager = CgroupManager::open(options.cgroup_root, text.str(), options.cgroup_group);
  if (manager) {
    cgroups = std::move(*manager);
  } else {
    spdlog::warn(
        "sandbox: no usable cgroups ({}); jobs are limited by rlimits only (RLIMIT_AS, "
        "RLIMIT_NPROC, no CPU quota) and out-of-memory detection is best effort",
        manager.error().message());
  }
  return std::unique_ptr<SandboxRunner>(
      new UvSandboxRunner(loop, std::move(options), std::move(runtimes), std::move(cgroups)));
}

}  // namespace synapse::compute
