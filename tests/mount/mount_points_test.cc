#include "mount_points.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "synapse/mount/mount.h"
#include "test_util.h"

namespace synapse::mount {
namespace {

using core::ErrorCode;
using synapse::testing::TempDir;

TEST(MountInfo, ParsesFieldsAndDecodesEscapes) {
  const auto entries = parse_mountinfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "40 36 0:52 / /home/a\\040b rw,nosuid,nodev shared:3 master:9 - fuse.synapse synapse "
      "rw,user_id=0\n"
      "garbage line\n"
      "41 36 0:53 / /plain rw - tmpfs none rw\n");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].mount_point, "/mnt2");
  EXPECT_EQ(entries[0].fs_type, "ext3");
  EXPECT_EQ(entries[0].source, "/dev/root");
  EXPECT_EQ(entries[0].major, 98u);
  EXPECT_EQ(entries[1].mount_point, "/home/a b");
  EXPECT_EQ(entries[1].fs_type, "fuse.synapse");
  EXPECT_EQ(entries[1].minor, 52u);
  EXPECT_EQ(entries[2].mount_point, "/plain");
  EXPECT_EQ(entries[2].fs_type, "tmpfs");
}

TEST(MountInfo, KnowsFuseTypes) {
  EXPECT_TRUE(is_fuse_type("fuse"));
  EXPECT_TRUE(is_fuse_type("fuse.synapse"));
  EXPECT_TRUE(is_fuse_type("fuseblk"));
  EXPECT_FALSE(is_fuse_type("fusectl"));
  EXPECT_FALSE(is_fuse_type("ext4"));
}

TEST(MountInfo, PathFormDropsTrailingSlashesAndDots) {
  EXPECT_EQ(mount_path_form("/"), "/");
  TempDir tmp;
  const auto real = std::filesystem::canonical(tmp.path());
  EXPECT_EQ(mount_path_form(tmp.path() / "mnt/"), real / "mnt");
  EXPECT_EQ(mount_path_form(tmp.path() / "x/../mnt"), real / "mnt");
}

TEST(MountInfo, FindsTheRootMount) {
  auto root = find_mount("/");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->mount_point, "/");
}

TEST(CheckMountPoint, AcceptsAnEmptyFolder) {
  TempDir tmp;
  std::filesystem::create_directory(tmp / "mnt");
  EXPECT_TRUE(check_mount_point(tmp / "mnt"));
  EXPECT_TRUE(check_mount_point((tmp / "mnt").string() + "/"));
}

TEST(CheckMountPoint, RejectsARelativePath) {
  auto status = check_mount_point("mnt");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message().find("mount point must be an absolute path"),
            std::string::npos);
}

TEST(CheckMountPoint, RejectsAMissingFolder) {
  TempDir tmp;
  auto status = check_mount_point(tmp / "missing");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
}

TEST(CheckMountPoint, RejectsAFile) {
  TempDir tmp;
  std::ofstream((tmp / "file").string()) << "x";
  auto status = check_mount_point(tmp / "file");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNotDirectory);
}

TEST(CheckMountPoint, RejectsANonEmptyFolder) {
  TempDir tmp;
  std::filesystem::create_directory(tmp / "mnt");
  std::ofstream((tmp / "mnt/.hidden").string()) << "x";
  auto status = check_mount_point(tmp / "mnt");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(status.error().message().find("is not empty"), std::string::npos);
}

TEST(CheckMountPoint, RejectsTheRootFolder) {
  auto status = check_mount_point("/");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(CheckMountPoint, RejectsAFolderSomethingIsMountedOn) {
  TempDir tmp;
  std::filesystem::create_directory(tmp / "mnt");
  if (::mount("none", (tmp / "mnt").c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  auto status = check_mount_point(tmp / "mnt");
  ::umount2((tmp / "mnt").c_str(), MNT_DETACH);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(status.error().message().find("is already mounted"), std::string::npos);
}

TEST(CleanStaleMount, LeavesOtherFileSystemsAlone) {
  TempDir tmp;
  std::filesystem::create_directory(tmp / "mnt");
  if (::mount("none", (tmp / "mnt").c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  auto status = clean_stale_mount(tmp / "mnt");
  const bool still_mounted = find_mount(tmp / "mnt").has_value();
  ::umount2((tmp / "mnt").c_str(), MNT_DETACH);
  EXPECT_TRUE(status);
  EXPECT_TRUE(still_mounted);
}

}  // namespace
}  // namespace synapse::mount
