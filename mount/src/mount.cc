// Mount: the FUSE session, its loop thread, and stopping it cleanly.
#include "synapse/mount/mount.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fuse_adapter.h"
#include "spdlog/spdlog.h"

namespace synapse::mount {

namespace {

using core::ErrorCode;
using core::make_error;

constexpr auto kInitTimeout = std::chrono::seconds(10);
constexpr auto kStopWakeTimeout = std::chrono::seconds(5);

// libfuse's own messages go to the log instead of stderr.
void log_from_libfuse(enum fuse_log_level level, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof(text), format, args);
  std::string_view message(text);
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  if (level <= FUSE_LOG_ERR) {
    spdlog::error("libfuse: {}", message);
  } else if (level <= FUSE_LOG_NOTICE) {
    spdlog::warn("libfuse: {}", message);
  } else {
    spdlog::debug("libfuse: {}", message);
  }
}

// The loop thread and the workers it starts take no asynchronous signals: the daemon's handlers
// run on its own threads. Faults (SIGSEGV, ...) stay unblocked.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) {
    sigdelset(&set, sync);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Why mounting failed, when the FUSE device is the reason.
std::optional<core::Error> fuse_unavailable() {
  if (::access("/dev/fuse", F_OK) != 0) {
    return core::Error(ErrorCode::kUnsupported, "FUSE is not available: /dev/fuse is missing");
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return core::Error(ErrorCode::kPermissionDenied,
                       std::string("FUSE is not available: /dev/fuse: ") + std::strerror(errno));
  }
  return std::nullopt;
}

}  // namespace

// Tells the kernel to forget cached names and attributes the file system changed outside its
// requests (fs::KernelCache). Unknown names and inodes are fine (the kernel answers ENOENT).
class SessionCache final : public fs::KernelCache {
 public:
  void attach(fuse_session* session) {
    std::lock_guard lock(mu_);
    session_ = session;
  }
  void forget_entry(fs::Ino parent, std::string_view name) override {
    std::lock_guard lock(mu_);
    if (session_ == nullptr || name.empty()) return;
    (void)fuse_lowlevel_notify_inval_entry(session_, parent, name.data(), name.size());
  }
  void forget_content(fs::Ino ino) override {
    std::lock_guard lock(mu_);
    if (session_ == nullptr) return;
    (void)fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
  }

 private:
  std::mutex mu_;  // the session is detached (and destroyed) only while no call is inside
  fuse_session* session_ = nullptr;
};

struct Mount::State {
  MountOptions options;
  fs::FileSystem* fs = nullptr;
  std::unique_ptr<FuseAdapter> adapter;
  fuse_session* session = nullptr;
  SessionCache cache;
  std::thread loop;

  mutable std::mutex mutex;  // guards the flags below
  std::condition_variable changed;
  bool initialised = false;
  bool loop_done = false;
  int loop_result = 0;
  bool stopping = false;

  std::mutex stop_mutex;  // one stop() at a time
  bool stopped = false;

  void run_loop() {
    block_async_signals();
    fuse_loop_config* config = fuse_loop_cfg_create();
    int result = -ENOMEM;
    if (config != nullptr) {
      fuse_loop_cfg_set_max_threads(config, std::max(options.max_threads, 1u));
      fuse_loop_cfg_set_clone_fd(config, 1);
      result = fuse_session_loop_mt(session, config);
      fuse_loop_cfg_destroy(config);
    }
    bool expected;
    {
      std::lock_guard lock(mutex);
      loop_done = true;
      loop_result = result;
      expected = stopping;
    }
    changed.notify_all();
    if (!expected) {
      spdlog::warn("mount: {} was unmounted from outside synapse; no longer serving",
                   options.dir.string());
    } else if (result < 0) {
      spdlog::debug("mount: the session loop ended with {}", std::strerror(-result));
    }
  }
};

Mount::Mount(std::unique_ptr<State> state) : state_(std::move(state)) {}

Mount::~Mount() { stop(); }

const std::filesystem::path& Mount::dir() const { return state_->options.dir; }

bool Mount::serving() const {
  std::lock_guard lock(state_->mutex);
  return !state_->loop_done && !state_->stopping;
}

core::Result<std::unique_ptr<Mount>> Mount::start(fs::FileSystem& fs, MountOptions options) {
  SYNAPSE_RETURN_IF_ERROR(check_mount_point(options.dir));
  static std::once_flag log_once;
  std::call_once(log_once, [] { fuse_set_log_func(log_from_libfuse); });

  auto state = std::make_unique<State>();
  state->options = std::move(options);
  const std::string dir = state->options.dir.string();
  state->adapter =
      std::make_unique<FuseAdapter>(fs, state->options, Owner{::geteuid(), ::getegid()});
  State* raw = state.get();
  state->adapter->set_init_listener([raw] {
    {
      std::lock_guard lock(raw->mutex);
      raw->initialised = true;
    }
    raw->changed.notify_all();
  });

  std::string mount_options = "fsname=synapse,subtype=synapse,default_permissions";
  if (state->options.allow_other) mount_options += ",allow_other";
  std::vector<std::string> arguments = {"synapse", "-o", mount_options};
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  state->session = fuse_session_new(&args, &FuseAdapter::operations(), sizeof(fuse_lowlevel_ops),
                                    state->adapter.get());
  fuse_opt_free_args(&args);
  if (state->session == nullptr) {
    return make_error(ErrorCode::kInternal, "could not create the FUSE session for " + dir);
  }
  if (fuse_session_mount(state->session, dir.c_str()) != 0) {
    fuse_session_destroy(state->session);
    if (auto why = fuse_unavailable()) return tl::unexpected(*why);
    return make_error(ErrorCode::kIo, "could not mount FUSE at " + dir + " (see the log)");
  }
  try {
    state->loop = std::thread([raw] { raw->run_loop(); });
  } catch (const std::exception& e) {
    fuse_session_unmount(state->session);
    fuse_session_destroy(state->session);
    return make_error(ErrorCode::kInternal, std::string("starting the FUSE thread: ") + e.what());
  }
  std::unique_ptr<Mount> mount(new Mount(std::move(state)));
  State& s = *mount->state_;
  bool initialised;
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, kInitTimeout, [&] { return s.initialised || s.loop_done; });
    initialised = s.initialised && !s.loop_done;
  }
  if (!initialised) {
    mount->stop();
    return make_error(ErrorCode::kIo, "the kernel did not set up the FUSE mount at " + dir);
  }
  s.fs = &fs;
  s.cache.attach(s.session);
  fs.set_kernel_cache(&s.cache);
  spdlog::info("mount: serving {} (fuse.synapse, {} threads{})", dir, s.options.max_threads,
               s.options.allow_other ? ", allow_other" : "");
  return mount;
}

void Mount::stop() {
  State& s = *state_;
  std::lock_guard stop_lock(s.stop_mutex);
  if (s.stopped) return;
  s.stopped = true;
  const std::string dir = s.options.dir.string();
  bool done;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
    done = s.loop_done;
  }
  // No more notices to the kernel: one that waits for a request of this mount (an invalidation
  // waiting for a read to end) finishes while the workers still serve.
  if (s.fs != nullptr) s.fs->set_kernel_cache(nullptr);
  s.cache.attach(nullptr);
  fuse_session_exit(s.session);
  // The workers sit in read() on the FUSE device and only look at the exit flag between
  // requests. statfs always reaches the server (the kernel caches none), so one worker wakes,
  // answers it and leaves; the loop then cancels the others. The poke runs on a thread of its
  // own: when the loop ends by itself in the meantime, nobody answers it until the device is
  // closed below, which fails it with ENOTCONN.
  std::thread poke;
  if (!done) {
    try {
      poke = std::thread([dir] {
        struct statvfs ignored {};
        ::statvfs(dir.c_str(), &ignored);
      });
    } catch (const std::exception& e) {
      spdlog::warn("mount: could not start the thread that wakes the FUSE loop: {}", e.what());
    }
    std::unique_lock lock(s.mutex);
    done = s.changed.wait_for(lock, kStopWakeTimeout, [&] { return s.loop_done; });
  }
  if (!done) {
    // The mount is no longer reachable at dir (detached from outside while in use): detaching
    // it here ends the connection once its last user is gone.
    spdlog::warn("mount: {} does not answer; detaching it and waiting for its users", dir);
    ::umount2(dir.c_str(), MNT_DETACH);
  }
  if (s.loop.joinable()) s.loop.join();
  // Unmounts unless the kernel side is already gone, then closes the device.
  fuse_session_unmount(s.session);
  fuse_session_destroy(s.session);
  s.session = nullptr;
  if (poke.joinable()) poke.join();
  s.adapter->release_leftovers();
  spdlog::info("mount: unmounted {}", dir);
}

}  // namespace synapse::mount
