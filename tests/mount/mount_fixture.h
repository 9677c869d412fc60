// A FileSystem mounted under a temporary folder for the mount's integration tests: the
// standalone FileSystem (fs::open_standalone) or the in-memory one, mounted at tmp/mnt and
// unmounted again in TearDown, also when a test failed (with umount2(MNT_DETACH) as the last
// resort, before the folder is removed).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include "memory_file_system.h"
#include "synapse/fs/standalone.h"
#include "synapse/mount/mount.h"
#include "test_util.h"
#include "tracing_file_system.h"

namespace synapse::testing {

enum class Backend { kStandalone, kMemory };

inline void PrintTo(Backend backend, std::ostream* out) {
  *out << (backend == Backend::kStandalone ? "standalone" : "memory");
}

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kStandalone ? "Standalone" : "Memory";
}

// Empty when this process can mount FUSE file systems, else why not.
inline std::string fuse_unusable_reason() {
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/fuse: ") + std::strerror(errno);
  ::close(fd);
  if (::geteuid() != 0 && ::access("/usr/bin/fusermount3", X_OK) != 0 &&
      ::access("/bin/fusermount3", X_OK) != 0) {
    return "not root and no fusermount3";
  }
  return "";
}

// Bounds a test that serves its own mount. A process stuck in one of its own FUSE requests
// cannot even exit (closing its files sends FLUSH to its own dead server threads), so on
// expiry the watchdog aborts the FUSE connection (umount2 MNT_FORCE) before aborting the
// process: the test fails instead of leaving an unkillable process behind.
class MountWatchdog {
 public:
  MountWatchdog(std::filesystem::path dir, std::chrono::seconds limit)
      : dir_(std::move(dir)), thread_([this, limit] { watch(limit); }) {}
  ~MountWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  void watch(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    if (done_cv_.wait_for(lock, limit, [this] { return done_; })) return;
    std::fprintf(stderr, "mount test: no progress after %llds; aborting the FUSE connection\n",
                 static_cast<long long>(limit.count()));
    ::umount2(dir_.c_str(), MNT_FORCE);
    ::umount2(dir_.c_str(), MNT_DETACH);
    std::abort();
  }

  std::filesystem::path dir_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

class MountedFixture : public ::testing::TestWithParam<Backend> {
 protected:
  // The longest one test may take, mounting and unmounting included.
  virtual std::chrono::seconds time_limit() const { return std::chrono::seconds(60); }

  void SetUp() override {
    if (const std::string why = fuse_unusable_reason(); !why.empty()) {
      GTEST_SKIP() << "FUSE is not usable here: " << why;
    }
    tmp_ = std::make_unique<TempDir>();
    mnt_ = tmp_->path() / "mnt";
    std::filesystem::create_directory(mnt_);
    watchdog_ = std::make_unique<MountWatchdog>(mnt_, time_limit());
    if (GetParam() == Backend::kStandalone) {
      auto opened = fs::open_standalone(tmp_->path() / "state");
      ASSERT_TRUE(opened) << opened.error().message();
      fs_ = std::move(*opened);
    } else {
      auto memory = std::make_unique<MemoryFileSystem>();
      memory_ = memory.get();
      fs_ = std::move(memory);
    }
    fs::FileSystem* served = fs_.get();
    if (std::getenv("SYNAPSE_MOUNT_TRACE") != nullptr) {
      tracing_ = std::make_unique<TracingFileSystem>(*fs_);
      served = tracing_.get();
    }
    mount::MountOptions options;
    options.dir = mnt_;
    auto started = mount::Mount::start(*served, options);
    ASSERT_TRUE(started) << started.error().message();
    mount_ = std::move(*started);
  }

  void TearDown() override {
    if (mount_) mount_->stop();
    mount_.reset();
    if (tmp_) ::umount2(mnt_.c_str(), MNT_DETACH);  // harmless when not mounted
    tracing_.reset();
    fs_.reset();
    watchdog_.reset();
    tmp_.reset();
  }

  // The path of `name` inside the mount.
  std::string at(const std::string& name) const { return (mnt_ / name).string(); }

  std::unique_ptr<TempDir> tmp_;
  std::filesystem::path mnt_;
  std::unique_ptr<MountWatchdog> watchdog_;
  std::unique_ptr<fs::FileSystem> fs_;
  MemoryFileSystem* memory_ = nullptr;          // fs_ when the backend is kMemory
  std::unique_ptr<TracingFileSystem> tracing_;  // between the mount and fs_ when tracing
  std::unique_ptr<mount::Mount> mount_;
};

}  // namespace synapse::testing
