#include "attrs.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace synapse::mount {
namespace {

fs::Attr file(uint32_t mode, bool read_only = false) {
  fs::Attr attr;
  attr.ino = 42;
  attr.type = fs::FileType::kRegular;
  attr.mode = mode;
  attr.read_only = read_only;
  return attr;
}

TEST(Attrs, StatCarriesTypeModeSizeTimesAndTheOwner) {
  fs::Attr attr = file(0640);
  attr.size = 1025;
  attr.nlink = 1;
  attr.mtime_ns = 1'600'000'000'123'456'789;
  attr.ctime_ns = 1'700'000'000'000'000'001;
  const struct stat st = to_stat(attr, Owner{1000, 100});
  EXPECT_EQ(st.st_ino, 42u);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
  EXPECT_EQ(st.st_size, 1025);
  EXPECT_EQ(st.st_blocks, 3);
  EXPECT_EQ(st.st_blksize, kPreferredIoSize);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 100u);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123'456'789);
  EXPECT_EQ(st.st_atim.tv_sec, st.st_mtim.tv_sec);
  EXPECT_EQ(st.st_atim.tv_nsec, st.st_mtim.tv_nsec);
  EXPECT_EQ(st.st_ctim.tv_sec, 1'700'000'000);
  EXPECT_EQ(st.st_ctim.tv_nsec, 1);
}

TEST(Attrs, TypesGetTheirFormatBits) {
  fs::Attr attr = file(0755);
  attr.type = fs::FileType::kDirectory;
  EXPECT_TRUE(S_ISDIR(to_stat(attr, {}).st_mode));
  attr.type = fs::FileType::kSymlink;
  EXPECT_TRUE(S_ISLNK(to_stat(attr, {}).st_mode));
}

TEST(Attrs, ReadOnlyEntriesLoseTheirWriteBits) {
  EXPECT_EQ(effective_mode(file(0666, true)), 0444u);
  EXPECT_EQ(effective_mode(file(0755, true)), 0555u);
  EXPECT_EQ(effective_mode(file(04755)), 04755u);
  EXPECT_EQ(effective_mode(file(0100644)), 0644u) << "only permission bits pass";
}

TEST(Attrs, NanosecondsConvertBothWaysAlsoBeforeTheEpoch) {
  for (int64_t ns : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1'500'000'000'999'999'999},
                     int64_t{-1'500'000'001}}) {
    const timespec time = ns_to_timespec(ns);
    EXPECT_GE(time.tv_nsec, 0) << ns;
    EXPECT_LT(time.tv_nsec, 1'000'000'000) << ns;
    EXPECT_EQ(timespec_to_ns(time), ns);
  }
  EXPECT_EQ(ns_to_timespec(-1).tv_sec, -1);
  EXPECT_EQ(ns_to_timespec(-1).tv_nsec, 999'999'999);
}

TEST(Attrs, AccessUsesOwnerGroupOrOtherBits) {
  const Owner owner{1000, 100};
  const fs::Attr attr = file(0750);
  EXPECT_EQ(check_access(attr, owner, Caller{1000, false}, R_OK | W_OK | X_OK), 0);
  EXPECT_EQ(check_access(attr, owner, Caller{2000, true}, R_OK | X_OK), 0);
  EXPECT_EQ(check_access(attr, owner, Caller{2000, true}, W_OK), EACCES);
  EXPECT_EQ(check_access(attr, owner, Caller{2000, false}, R_OK), EACCES);
  EXPECT_EQ(check_access(attr, owner, Caller{2000, false}, F_OK), 0);
  EXPECT_EQ(check_access(file(0604), owner, Caller{2000, true}, R_OK), EACCES)
      << "the group bits apply to the group, even when the other bits are wider";
}

TEST(Attrs, RootMayReadAndWriteButExecutesOnlyWithAnXBit) {
  const Owner owner{1000, 100};
  EXPECT_EQ(check_access(file(0000), owner, Caller{0, false}, R_OK | W_OK), 0);
  EXPECT_EQ(check_access(file(0644), owner, Caller{0, false}, X_OK), EACCES);
  EXPECT_EQ(check_access(file(0744), owner, Caller{0, false}, X_OK), 0);
  fs::Attr dir = file(0000);
  dir.type = fs::FileType::kDirectory;
  EXPECT_EQ(check_access(dir, owner, Caller{0, false}, X_OK), 0);
}

TEST(Attrs, WritingAReadOnlyEntryIsDeniedToEveryone) {
  const Owner owner{1000, 100};
  EXPECT_EQ(check_access(file(0644, true), owner, Caller{1000, false}, W_OK), EACCES);
  EXPECT_EQ(check_access(file(0644, true), owner, Caller{0, false}, W_OK), EACCES);
  EXPECT_EQ(check_access(file(0644, true), owner, Caller{1000, false}, R_OK), 0);
}

}  // namespace
}  // namespace synapse::mount
