// What the sandbox runner asks each runtime to do (docs/sandbox.md): the bubblewrap command
// line, the OCI runtime's config.json and command lines, the Docker/Podman command lines. Pure
// functions of a SandboxSpec and what the runner found on the host (device numbers, the root's
// entries), so that every flag is unit-tested without running anything. The last section
// declares the few host look-ups they need (host_probe.cc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synapse/compute/sandbox.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"

namespace synapse::compute {

// A device node given to the sandbox (the GPUs and NVIDIA's control devices).
struct DeviceNode {
  std::string path;  // "/dev/nvidia0", the same inside and outside
  uint32_t major = 0;
  uint32_t minor = 0;
};

// An entry of the folder that becomes the sandbox's "/". The root is built from them (each
// bound read-only, symlinks recreated) on an empty root rather than by binding the folder
// whole, so that mount points for binds (/in, /data/in) can be made where the folder has none;
// it is made read-only once they are. Entries are the folder's top-level ones, except that one
// holding a bind target that does not exist is replaced by its own entries (list_root_entries).
struct RootEntry {
  std::string path;         // relative to the root: "usr", "data/models"
  std::string link_target;  // a symlink's target ("usr/bin"); empty for folders and files
};

// The environment the job gets: spec.env, and with GPUs CUDA_VISIBLE_DEVICES (0..n-1: only
// the given devices exist inside, and CUDA numbers what it sees from 0) and
// NVIDIA_VISIBLE_DEVICES (the host indices), replacing any the spec set.
std::vector<std::pair<std::string, std::string>> sandbox_env(const SandboxSpec& spec);

// Checks what can be checked without the host: name, argv, env, paths, limits, uid (never 0).
// Errors: kInvalidArgument naming the field.
core::Status validate_spec(const SandboxSpec& spec);

// ---- bubblewrap ----

struct BwrapPlan {
  std::string executable = "bwrap";
  std::filesystem::path root = "/";     // the host folder that becomes "/"
  std::vector<RootEntry> root_entries;  // empty: `root` is bound whole onto "/"
  std::vector<DeviceNode> devices;      // bound with --dev-bind
  int json_status_fd = -1;              // --json-status-fd when >= 0
  // A tmpfs on /var/tmp too (the root has one): it hides the runner's folders there, where the
  // attempts' writable folders live.
  bool private_var_tmp = false;
};

// The whole command line, executable first: new user, pid, ipc, uts and cgroup namespaces (and
// net unless spec.network), --die-with-parent, --new-session, --cap-drop ALL, --uid/--gid,
// the read-only root, /dev, /proc, a tmpfs /tmp, the binds in order, the devices, the root
// made read-only, --chdir, --clearenv and one --setenv per variable, then "--" and argv.
std::vector<std::string> bwrap_args(const SandboxSpec& spec, const BwrapPlan& plan);

// ---- OCI runtimes (runc, crun) ----

struct OciPlan {
  std::filesystem::path root = "/";     // the host folder whose entries make the root
  std::vector<RootEntry> root_entries;  // bound read-only (recursively) into `rootfs`
  std::filesystem::path rootfs;         // root.path: an empty folder the runner made
  std::string cgroups_path;             // linux.cgroupsPath, relative to the runtime's cgroup
  std::vector<DeviceNode> devices;      // linux.devices, allowed in linux.resources.devices
  bool private_var_tmp = false;         // as BwrapPlan::private_var_tmp
};

// config.json (OCI runtime-spec 1.0): the process as spec.uid/gid with no capabilities and
// no new privileges, argv, env, cwd; the root read-only; /proc, /dev (tmpfs with /dev/pts,
// /dev/shm, /dev/mqueue), a tmpfs /tmp and the binds; pid, ipc, uts, mount (and network
// unless spec.network) namespaces; memory (RAM + swap), CPU quota and pids limits; runc's
// default masked and read-only paths.
std::string oci_config_json(const SandboxSpec& spec, const OciPlan& plan);

// `<runtime> --root <state> --log <log> --log-format json run --bundle <bundle> --keep
// --no-new-keyring <name>`: in the foreground, the container kept after it exits so that its
// cgroup can still be read, the runtime's own errors in the log rather than the job's stderr.
std::vector<std::string> oci_run_args(const std::string& runtime,
                                      const std::filesystem::path& state,
                                      const std::filesystem::path& bundle,
                                      const std::filesystem::path& log, const std::string& name);
// `<runtime> --root <state> kill --all <name> <signal>` ("TERM", "KILL"): used only where the
// job has no cgroup of the runner's, which otherwise signals every process itself.
std::vector<std::string> oci_kill_args(const std::string& runtime,
                                       const std::filesystem::path& state, const std::string& name,
                                       std::string_view signal);
// `<runtime> --root <state> delete --force <name>`.
std::vector<std::string> oci_delete_args(const std::string& runtime,
                                         const std::filesystem::path& state,
                                         const std::string& name);

// ---- Docker and Podman engines ----

// `<engine> run --name N --memory B --memory-swap B --cpus C --pids-limit P --network
// none|bridge --user uid:gid --cap-drop ALL --security-opt no-new-privileges --read-only
// --tmpfs /tmp -w W -e K=V... -v src:dst[:ro]... [GPUs] IMAGE argv...`; GPUs are
// `--gpus "device=i,j"` for Docker, `--device nvidia.com/gpu=i` (CDI) for Podman. Without
// --rm: the runner asks `inspect` whether the OOM killer struck, then removes it.
std::vector<std::string> engine_run_args(const SandboxSpec& spec, const std::string& engine);
std::vector<std::string> engine_kill_args(const std::string& engine, const std::string& name,
                                          std::string_view signal);  // "TERM", "KILL"
std::vector<std::string> engine_inspect_args(const std::string& engine, const std::string& name);
std::vector<std::string> engine_remove_args(const std::string& engine, const std::string& name);

// ---- Words ----

// "SIGSEGV"; "signal 42" for numbers without a name.
std::string signal_name(int signal);
// "2s", "1.5s", "250ms".
std::string format_seconds(core::Duration duration);

// ---- Host look-ups (host_probe.cc) ----

// `name` when it holds a '/', else the first executable "<dir>/<name>" of $PATH; "" if none.
std::string find_executable(std::string_view name);
// options.oci_runtime, else the first of runc and crun in $PATH; "" if none.
std::string find_oci_runtime(const SandboxRunnerOptions& options);

struct BoundedRun {
  int exit_code = -1;  // 128 + N when killed by signal N
  bool timed_out = false;
  std::string output;  // standard output, when asked for
};
// Runs argv (argv[0] a path) with stdin and stderr on /dev/null, stdout captured (up to 1 MiB)
// when `capture` is set, as `as_user` (uid, gid) when this process is root; SIGKILL after
// `timeout`. Blocks the calling thread: for probing, not for the loop. Errors: kIo when it
// could not be started.
core::Result<BoundedRun> run_bounded(const std::vector<std::string>& argv, core::Duration timeout,
                                     bool capture = false,
                                     std::optional<std::pair<uid_t, gid_t>> as_user = {});

// The device nodes for `gpus`: <dev>/nvidiaN for each, then nvidiactl, nvidia-uvm,
// nvidia-uvm-tools and nvidia-modeset where they exist. Errors: kInvalidArgument for a GPU
// without its node.
core::Result<std::vector<DeviceNode>> gpu_device_nodes(const std::vector<uint32_t>& gpus,
                                                       const std::filesystem::path& dev = "/dev");

// The entries of `root` that make the sandbox's root for binds at `targets` (absolute paths
// inside it): the top-level ones except dev, proc and tmp (the sandbox gets its own), where a
// folder holding a target that does not exist in `root` is replaced by its own entries, and so
// on down the target's path. Sorted; sockets, devices and FIFOs are left out. Errors: kIo when
// `root` cannot be listed.
core::Result<std::vector<RootEntry>> list_root_entries(
    const std::filesystem::path& root, const std::vector<std::string>& targets = {});

}  // namespace synapse::compute
