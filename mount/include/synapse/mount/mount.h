// The FUSE mount: serves a fs::FileSystem at a directory through libfuse3's low-level API
// (docs/mount.md). Only mount/src touches libfuse.
//
// Threads: Mount::start() runs libfuse's multi-threaded session loop on a thread of its own,
// which starts up to MountOptions::max_threads workers; every FUSE operation calls the
// FileSystem from one of those workers, concurrently. start() and stop() may be called from
// any thread, but not from inside a FileSystem call made by this mount (stop() waits for the
// workers). The loop threads block the asynchronous signals (SIGINT, SIGTERM, ...) so that
// they reach the daemon's own handlers; the mount installs no signal handler.
//
// Lifetimes: the FileSystem must outlive the Mount. Destroying a Mount stops it.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "synapse/core/result.h"
#include "synapse/fs/file_system.h"

namespace synapse::mount {

struct MountOptions {
  // Where to mount: an absolute path to an existing, empty directory (check_mount_point()).
  std::filesystem::path dir;
  // Most FUSE requests served at once (libfuse worker threads).
  unsigned max_threads = 8;
  // Lets users other than the mounting one use the mount (-o allow_other; for a non-root
  // mounter /etc/fuse.conf must say user_allow_other). The kernel checks every access against
  // the mode bits (-o default_permissions) either way.
  bool allow_other = ::geteuid() == 0;
  // Seconds the kernel may cache a name lookup / the attributes of an inode.
  double entry_timeout = 1.0;
  double attr_timeout = 0.5;
  // Told of every request served: its operation ("lookup", "read", ...) and how long it took
  // until answered. Runs on the libfuse thread that served it, so it must be thread-safe and
  // quick (a metrics histogram); it must not throw. Unset: nobody is told.
  std::function<void(const char* op, std::chrono::nanoseconds took)> on_operation;
};

// Checks that `dir` can take a new mount: absolute (kInvalidArgument), existing (kNotFound), a
// directory (kNotDirectory), not already a mount point, dead FUSE mounts included
// (kFailedPrecondition "... is already mounted"), and empty (kFailedPrecondition "... is not
// empty"). Never touches a FUSE mount's files, so a hung FUSE server cannot block it.
core::Status check_mount_point(const std::filesystem::path& dir);

// If `dir` is a FUSE mount whose server is gone (its statfs fails with ENOTCONN: a daemon that
// died without unmounting), detaches it (umount2 MNT_DETACH, else `fusermount3 -u -z`) and logs
// a warning saying so. Leaves everything else alone: live FUSE mounts, FUSE mounts that do not
// answer within 2 s, other file systems, plain directories. Fails (kPermissionDenied, kIo) only
// when a dead mount could not be detached.
core::Status clean_stale_mount(const std::filesystem::path& dir);

class Mount {
 public:
  // Checks the mount point (check_mount_point()), mounts `fs` there as "synapse" of type
  // fuse.synapse, starts serving on a thread of its own and returns once the kernel has
  // initialised the connection. Errors: those of check_mount_point(); kUnsupported when
  // /dev/fuse is missing, kPermissionDenied when it may not be opened or the mount is refused,
  // kIo when mounting or the kernel's handshake fails.
  static core::Result<std::unique_ptr<Mount>> start(fs::FileSystem& fs, MountOptions options);

  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // Stops serving, unmounts and joins the threads; idempotent. Also works when the kernel side
  // is already gone (`fusermount3 -u`, `umount -l`). Releases the FileSystem handles that the
  // kernel still held open, so what was written through them is committed. Blocks while a
  // process is inside a request that the FileSystem has not answered yet (its calls time out).
  void stop();

  // False once the mount has stopped serving: after stop(), or when it was unmounted from
  // outside (the kernel closed the connection).
  bool serving() const;

  const std::filesystem::path& dir() const;

 private:
  struct State;
  explicit Mount(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace synapse::mount
