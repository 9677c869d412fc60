// Starting and stopping mounts, and the checks around them: mount-point validation against real
// mounts, stopping after an unmount from outside, handles left open at unmount, and cleaning a
// dead FUSE mount.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "child_process.h"
#include "memory_file_system.h"
#include "mount_fixture.h"
#include "synapse/mount/mount.h"
#include "test_util.h"

namespace synapse::testing {
namespace {

using core::ErrorCode;

// The file-system type mountinfo lists at `dir` ("" when nothing is mounted there).
std::string mounted_type(const std::filesystem::path& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field;
    fields >> id >> parent >> dev >> root >> point;
    if (point != dir.string()) continue;
    while (fields >> field && field != "-") {
    }
    fields >> found;
  }
  return found;
}

class MountLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = fuse_unusable_reason(); !why.empty()) {
      GTEST_SKIP() << "FUSE is not usable here: " << why;
    }
    tmp_ = std::make_unique<TempDir>();
    mnt_ = tmp_->path() / "mnt";
    std::filesystem::create_directory(mnt_);
    watchdog_ = std::make_unique<MountWatchdog>(mnt_, std::chrono::seconds(60));
  }
  void TearDown() override {
    if (tmp_) {
      for (int i = 0; i < 4 && ::umount2(mnt_.c_str(), MNT_DETACH) == 0; ++i) {
      }
    }
    watchdog_.reset();
  }

  core::Result<std::unique_ptr<mount::Mount>> start(mount::MountOptions options = {}) {
    options.dir = mnt_;
    return mount::Mount::start(fs_, options);
  }

  MemoryFileSystem fs_;
  std::unique_ptr<TempDir> tmp_;
  std::filesystem::path mnt_;
  std::unique_ptr<MountWatchdog> watchdog_;
};

TEST_F(MountLifecycle, StartedMountShowsAsFuseSynapseAndServes) {
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
  EXPECT_EQ(mounted_type(mnt_), "fuse.synapse");
  EXPECT_TRUE((*mount)->serving());
  EXPECT_EQ((*mount)->dir(), mnt_);
  ASSERT_EQ(::mkdir((mnt_ / "dir").c_str(), 0755), 0) << std::strerror(errno);
  auto attr = fs_.lookup(fs::kRootIno, "dir");
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->type, fs::FileType::kDirectory);
}

TEST_F(MountLifecycle, TellsTheObserverOfEveryServedOperationAndItsDuration) {
  std::mutex mutex;
  std::map<std::string, int> seen;
  std::chrono::nanoseconds total{0};
  mount::MountOptions options;
  options.on_operation = [&](const char* op, std::chrono::nanoseconds took) {
    std::lock_guard lock(mutex);
    ++seen[op];
    total += took;
  };
  auto mount = start(options);
  ASSERT_TRUE(mount) << mount.error().message();
  ASSERT_EQ(::mkdir((mnt_ / "dir").c_str(), 0755), 0) << std::strerror(errno);
  struct stat st {};
  ASSERT_EQ(::stat((mnt_ / "dir").c_str(), &st), 0) << std::strerror(errno);
  (*mount)->stop();
  std::lock_guard lock(mutex);
  EXPECT_GE(seen["mkdir"], 1);
  EXPECT_GE(seen["lookup"] + seen["getattr"], 1);
  EXPECT_GT(total.count(), 0);
}

TEST_F(MountLifecycle, StopUnmountsAndIsIdempotent) {
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
  (*mount)->stop();
  EXPECT_FALSE((*mount)->serving());
  EXPECT_EQ(mounted_type(mnt_), "");
  (*mount)->stop();
  EXPECT_TRUE(mount::check_mount_point(mnt_)) << "the folder can take a mount again";
  mount->reset();  // the destructor stops again: harmless
}

TEST_F(MountLifecycle, MountCanBeStartedAgainAfterStop) {
  for (int round = 0; round < 3; ++round) {
    auto mount = start();
    ASSERT_TRUE(mount) << mount.error().message();
    std::ofstream((mnt_ / ("file" + std::to_string(round))).string()) << "round " << round;
    (*mount)->stop();
  }
  auto entries = fs_.readdir(fs::kRootIno);
  ASSERT_TRUE(entries);
  EXPECT_EQ(entries->size(), 3u);
}

TEST_F(MountLifecycle, StopAfterAnUnmountFromOutsideReturns) {
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
  ASSERT_EQ(run_quiet("fusermount3 -u " + mnt_.string()), 0);
  EXPECT_EQ(mounted_type(mnt_), "");
  (*mount)->stop();
  EXPECT_FALSE((*mount)->serving());
  EXPECT_EQ(mounted_type(mnt_), "");
}

TEST_F(MountLifecycle, StopWithAFileStillOpenReleasesItsHandle) {
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
  const int fd = ::open((mnt_ / "open").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::write(fd, "kept", 4), 4);
  EXPECT_EQ(fs_.open_handles(), 1u);
  (*mount)->stop();
  EXPECT_EQ(fs_.open_handles(), 0u);
  EXPECT_EQ(mounted_type(mnt_), "");
  ::close(fd);  // the connection is gone: fails, harmlessly
  auto attr = fs_.lookup(fs::kRootIno, "open");
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->size, 4u);
}

TEST_F(MountLifecycle, SecondMountOnTheSameFolderFailsAsAlreadyMounted) {
  auto first = start();
  ASSERT_TRUE(first) << first.error().message();
  auto second = start();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(second.error().message().find("is already mounted"), std::string::npos)
      << second.error().message();
  EXPECT_TRUE((*first)->serving());
}

TEST_F(MountLifecycle, StartOnANonEmptyFolderFails) {
  std::ofstream((mnt_ / "stray").string()) << "x";
  auto mount = start();
  ASSERT_FALSE(mount);
  EXPECT_EQ(mount.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(mount.error().message().find("is not empty"), std::string::npos);
  EXPECT_EQ(mounted_type(mnt_), "");
}

TEST_F(MountLifecycle, StartOnARelativePathFailsWithInvalidArgument) {
  mount::MountOptions options;
  options.dir = "relative/mnt";
  auto mount = mount::Mount::start(fs_, options);
  ASSERT_FALSE(mount);
  EXPECT_EQ(mount.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(MountLifecycle, CleanStaleMountLeavesALiveMountAlone) {
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
  ASSERT_TRUE(mount::clean_stale_mount(mnt_));
  EXPECT_EQ(mounted_type(mnt_), "fuse.synapse");
  EXPECT_TRUE((*mount)->serving());
  struct stat st {};
  EXPECT_EQ(::stat(mnt_.c_str(), &st), 0) << std::strerror(errno);
}

TEST_F(MountLifecycle, CleanStaleMountOfAPlainFolderDoesNothing) {
  ASSERT_TRUE(mount::clean_stale_mount(mnt_));
  EXPECT_TRUE(std::filesystem::is_directory(mnt_));
  EXPECT_TRUE(mount::check_mount_point(mnt_));
}

// A FUSE mount whose server is gone: mounted by hand on a /dev/fuse descriptor that is then
// closed, which is what the kernel sees when a daemon dies without unmounting.
TEST_F(MountLifecycle, CleanStaleMountDetachesADeadFuseMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting by hand needs root";
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  const std::string data = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
  ASSERT_EQ(::mount("synapse", mnt_.c_str(), "fuse.synapse", MS_NOSUID | MS_NODEV, data.c_str()), 0)
      << std::strerror(errno);
  ::close(fd);
  struct stat st {};
  EXPECT_EQ(::stat(mnt_.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTCONN);
  auto busy = mount::check_mount_point(mnt_);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition);

  auto cleaned = mount::clean_stale_mount(mnt_);
  ASSERT_TRUE(cleaned) << cleaned.error().message();
  EXPECT_EQ(mounted_type(mnt_), "");
  EXPECT_TRUE(mount::check_mount_point(mnt_));
  auto mount = start();
  ASSERT_TRUE(mount) << mount.error().message();
}

}  // namespace
}  // namespace synapse::testing
