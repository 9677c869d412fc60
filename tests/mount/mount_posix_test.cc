// POSIX behaviour through the mount: one test per operation, with plain system calls, errors
// included. Runs on the standalone FileSystem and on the in-memory one (a failure on the first
// only points at fs/, on both at the mount).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mount_fixture.h"

namespace synapse::testing {
namespace {

// Expects `expr` to fail with -1 and errno `err`.
#define EXPECT_ERRNO(expr, err)                                                                   \
  do {                                                                                            \
    errno = 0;                                                                                    \
    const long result_ = static_cast<long>(expr);                                                 \
    const int errno_ = errno;                                                                     \
    EXPECT_EQ(result_, -1) << #expr;                                                              \
    EXPECT_EQ(errno_, err) << #expr << " failed with " << std::strerror(errno_) << " instead of " \
                           << std::strerror(err);                                                 \
  } while (0)

#define ASSERT_SYSCALL(expr) ASSERT_NE((expr), -1) << #expr << ": " << std::strerror(errno)
#define EXPECT_SYSCALL(expr) EXPECT_NE((expr), -1) << #expr << ": " << std::strerror(errno)

constexpr uid_t kNobody = 65534;

int renameat2(const std::string& from, const std::string& to, unsigned flags) {
  return static_cast<int>(
      ::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

// Writes `data` to `path` (open with `flags`, write, close); true when every call succeeded.
bool write_file(const std::string& path, const std::string& data,
                int flags = O_WRONLY | O_CREAT | O_TRUNC, mode_t mode = 0644) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return false;
  const bool written = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && written;
}

// The whole content of `path`, or "<errno text>" when it cannot be read.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("<") + std::strerror(errno) + ">";
  std::string out;
  char buffer[65536];
  ssize_t count;
  while ((count = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, count);
  ::close(fd);
  return count < 0 ? std::string("<read failed>") : out;
}

std::string random_text(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::set<std::string> list_dir(const std::string& path) {
  std::set<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return {"<opendir failed>"};
  while (const dirent* entry = ::readdir(dir)) names.insert(entry->d_name);
  ::closedir(dir);
  return names;
}

// Runs `body` in a child process as uid/gid 65534 (nobody) and returns what it returned (an
// errno value, 0 for success), or -1 when the child could not become nobody. Only for root.
int as_nobody(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(255);
    }
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status) == 255 ? -1 : WEXITSTATUS(status);
}

class MountPosix : public MountedFixture {
 protected:
  // The root's listing without the FileSystem's own trees (.cid/, .peers/ at the root).
  std::set<std::string> list_root() const {
    std::set<std::string> names = list_dir(mnt_.string());
    names.erase(".cid");
    names.erase(".peers");
    return names;
  }
};

// --- files: create, read, write ---------------------------------------------------------------

TEST_P(MountPosix, CreateWriteCloseThenReadBackGivesTheSameBytes) {
  const std::string data = random_text(100'000, 1);
  ASSERT_TRUE(write_file(at("file"), data));
  EXPECT_EQ(read_file(at("file")), data);
}

TEST_P(MountPosix, LargeFileWrittenInPiecesReadsBackWhole) {
  const std::string data = random_text(3 * 1024 * 1024 + 12345, 2);
  const int fd = ::open(at("big").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_SYSCALL(fd);
  for (size_t offset = 0; offset < data.size(); offset += 1 << 20) {
    const size_t count = std::min<size_t>(1 << 20, data.size() - offset);
    ASSERT_EQ(::write(fd, data.data() + offset, count), static_cast<ssize_t>(count));
  }
  ASSERT_SYSCALL(::close(fd));
  EXPECT_TRUE(read_file(at("big")) == data);
  const int reader = ::open(at("big").c_str(), O_RDONLY);
  ASSERT_SYSCALL(reader);
  char buffer[4096];
  ASSERT_EQ(::pread(reader, buffer, sizeof(buffer), 1'000'003), 4096);
  EXPECT_EQ(std::string(buffer, 4096), data.substr(1'000'003, 4096));
  EXPECT_EQ(::pread(reader, buffer, sizeof(buffer), data.size() - 10), 10);
  EXPECT_EQ(::pread(reader, buffer, sizeof(buffer), data.size() + 10), 0);
  ::close(reader);
}

TEST_P(MountPosix, PwriteBeyondTheEndLeavesAZeroFilledHole) {
  const int fd = ::open(at("sparse").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_SYSCALL(fd);
  ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(fd, "tail", 4, 1'000'000), 4);
  ASSERT_SYSCALL(::close(fd));
  std::string expected(1'000'004, '\0');
  expected.replace(0, 4, "head");
  expected.replace(1'000'000, 4, "tail");
  EXPECT_TRUE(read_file(at("sparse")) == expected);
}

TEST_P(MountPosix, OpenWithAppendWritesAtTheEnd) {
  ASSERT_TRUE(write_file(at("log"), "one\n"));
  ASSERT_TRUE(write_file(at("log"), "two\n", O_WRONLY | O_APPEND));
  const int fd = ::open(at("log").c_str(), O_RDWR | O_APPEND);
  ASSERT_SYSCALL(fd);
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  ASSERT_EQ(::write(fd, "three\n", 6), 6);
  ::close(fd);
  EXPECT_EQ(read_file(at("log")), "one\ntwo\nthree\n");
}

TEST_P(MountPosix, OpenWithTruncEmptiesTheFile) {
  ASSERT_TRUE(write_file(at("file"), "some content"));
  const int fd = ::open(at("file").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_SYSCALL(fd);
  struct stat st {};
  ASSERT_SYSCALL(::fstat(fd, &st));
  EXPECT_EQ(st.st_size, 0);
  ::close(fd);
  EXPECT_EQ(read_file(at("file")), "");
}

TEST_P(MountPosix, OpenExclusiveOnAnExistingFileFailsWithEexist) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::open(at("file").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
}

TEST_P(MountPosix, OpenOfAMissingFileWithoutCreateFailsWithEnoent) {
  EXPECT_ERRNO(::open(at("missing").c_str(), O_RDONLY), ENOENT);
  EXPECT_ERRNO(::open(at("no/such/dir").c_str(), O_RDONLY), ENOENT);
}

TEST_P(MountPosix, OpenOfADirectoryForWritingFailsWithEisdir) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  EXPECT_ERRNO(::open(at("dir").c_str(), O_WRONLY), EISDIR);
}

TEST_P(MountPosix, PathThroughAFileFailsWithEnotdir) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::open(at("file/inner").c_str(), O_RDONLY), ENOTDIR);
  EXPECT_ERRNO(::mkdir(at("file/inner").c_str(), 0755), ENOTDIR);
}

TEST_P(MountPosix, NameLongerThan255BytesFailsWithEnametoolong) {
  const std::string longest(255, 'n');
  const std::string too_long(256, 'n');
  EXPECT_TRUE(write_file(at(longest), "fits"));
  EXPECT_EQ(read_file(at(longest)), "fits");
  EXPECT_ERRNO(::open(at(too_long).c_str(), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
  EXPECT_ERRNO(::mkdir(at(too_long).c_str(), 0755), ENAMETOOLONG);
  struct stat st {};
  EXPECT_ERRNO(::stat(at(too_long).c_str(), &st), ENAMETOOLONG);
  EXPECT_ERRNO(::symlink("target", at(too_long).c_str()), ENAMETOOLONG);
  EXPECT_ERRNO(::rename(at(longest).c_str(), at(too_long).c_str()), ENAMETOOLONG);
}

TEST_P(MountPosix, FsyncAndFdatasyncOfAWrittenFileSucceed) {
  const int fd = ::open(at("file").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_SYSCALL(fd);
  ASSERT_EQ(::write(fd, "durable", 7), 7);
  EXPECT_SYSCALL(::fsync(fd));
  EXPECT_SYSCALL(::fdatasync(fd));
  ASSERT_SYSCALL(::close(fd));
  EXPECT_EQ(read_file(at("file")), "durable");
}

TEST_P(MountPosix, UnlinkedFileStaysReadableThroughAnOpenDescriptor) {
  ASSERT_TRUE(write_file(at("file"), "still here"));
  const int fd = ::open(at("file").c_str(), O_RDONLY);
  ASSERT_SYSCALL(fd);
  ASSERT_SYSCALL(::unlink(at("file").c_str()));
  char buffer[32] = {};
  EXPECT_EQ(::pread(fd, buffer, sizeof(buffer), 0), 10);
  EXPECT_STREQ(buffer, "still here");
  ::close(fd);
}

// close() returns before the kernel's RELEASE of the descriptor is served, so the next open()
// of the same file can race with it.
TEST_P(MountPosix, ReopeningRightAfterCloseSeesItsOwnWrites) {
  ASSERT_TRUE(write_file(at("file"), ""));
  for (int round = 0; round < 200; ++round) {
    const int fd = ::open(at("file").c_str(), O_RDWR);
    ASSERT_SYSCALL(fd);
    ASSERT_EQ(::pwrite(fd, "x", 1, round), 1);
    struct stat st {};
    ASSERT_SYSCALL(::fstat(fd, &st));
    ASSERT_EQ(st.st_size, round + 1) << "round " << round;
    ASSERT_SYSCALL(::close(fd));
  }
  EXPECT_EQ(read_file(at("file")), std::string(200, 'x'));
}

TEST_P(MountPosix, ParallelWritersToDifferentFilesAllLand) {
  constexpr int kWriters = 4;
  std::vector<std::thread> writers;
  std::vector<bool> ok(kWriters, false);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back(
        [&, i] { ok[i] = write_file(at("w" + std::to_string(i)), random_text(1 << 20, 100 + i)); });
  }
  for (auto& writer : writers) writer.join();
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_TRUE(ok[i]) << i;
    EXPECT_TRUE(read_file(at("w" + std::to_string(i))) == random_text(1 << 20, 100 + i)) << i;
  }
}

// --- attributes ---------------------------------------------------------------------------------

TEST_P(MountPosix, StatReportsTypeSizeModeAndTheMountingUser) {
  ASSERT_TRUE(write_file(at("file"), "12345", O_WRONLY | O_CREAT | O_TRUNC, 0640));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u & ~0u);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_GE(st.st_nlink, 1u);
  EXPECT_EQ(st.st_blocks, 1);
  ASSERT_SYSCALL(::stat(mnt_.c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_ino, 1u);
}

TEST_P(MountPosix, StatOfAMissingNameFailsWithEnoent) {
  struct stat st {};
  EXPECT_ERRNO(::stat(at("missing").c_str(), &st), ENOENT);
  EXPECT_ERRNO(::lstat(at("missing").c_str(), &st), ENOENT);
}

TEST_P(MountPosix, FstatSeesTheSizeWrittenThroughTheDescriptor) {
  const int fd = ::open(at("file").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_SYSCALL(fd);
  ASSERT_EQ(::pwrite(fd, "abc", 3, 100), 3);
  struct stat st {};
  ASSERT_SYSCALL(::fstat(fd, &st));
  EXPECT_EQ(st.st_size, 103);
  ::close(fd);
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_EQ(st.st_size, 103);
}

TEST_P(MountPosix, FtruncateShrinksAndGrowsWithZeros) {
  ASSERT_TRUE(write_file(at("file"), "0123456789"));
  const int fd = ::open(at("file").c_str(), O_RDWR);
  ASSERT_SYSCALL(fd);
  ASSERT_SYSCALL(::ftruncate(fd, 4));
  ASSERT_SYSCALL(::ftruncate(fd, 8));
  struct stat st {};
  ASSERT_SYSCALL(::fstat(fd, &st));
  EXPECT_EQ(st.st_size, 8);
  ::close(fd);
  EXPECT_EQ(read_file(at("file")), std::string("0123\0\0\0\0", 8));
}

TEST_P(MountPosix, TruncateByPathChangesTheSize) {
  ASSERT_TRUE(write_file(at("file"), "0123456789"));
  ASSERT_SYSCALL(::truncate(at("file").c_str(), 3));
  EXPECT_EQ(read_file(at("file")), "012");
  ASSERT_SYSCALL(::truncate(at("file").c_str(), 5));
  EXPECT_EQ(read_file(at("file")), std::string("012\0\0", 5));
  EXPECT_ERRNO(::truncate(at("missing").c_str(), 1), ENOENT);
}

TEST_P(MountPosix, ChmodChangesThePermissionBits) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  ASSERT_SYSCALL(::chmod(at("file").c_str(), 0600));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_SYSCALL(::chmod(at("file").c_str(), 0755));
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_P(MountPosix, ChownToTheMountingUserSucceedsAndToAnyoneElseFailsWithEperm) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_SYSCALL(::chown(at("file").c_str(), ::geteuid(), ::getegid()));
  EXPECT_ERRNO(::chown(at("file").c_str(), ::geteuid() + 1000, static_cast<gid_t>(-1)), EPERM);
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_P(MountPosix, UtimensatSetsTheModificationTime) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  const timespec times[2] = {{1'500'000'000, 0}, {1'600'000'000, 123'456'789}};
  ASSERT_SYSCALL(::utimensat(AT_FDCWD, at("file").c_str(), times, 0));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123'456'789);
}

TEST_P(MountPosix, UtimensatWithNowSetsTheCurrentTime) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  const timespec old_times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
  ASSERT_SYSCALL(::utimensat(AT_FDCWD, at("file").c_str(), old_times, 0));
  const time_t before = ::time(nullptr);
  ASSERT_SYSCALL(::utimensat(AT_FDCWD, at("file").c_str(), nullptr, 0));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_GE(st.st_mtim.tv_sec, before - 1);
  EXPECT_LE(st.st_mtim.tv_sec, ::time(nullptr) + 1);
}

TEST_P(MountPosix, WriteMovesTheModificationTimeForward) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  const timespec old_times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
  ASSERT_SYSCALL(::utimensat(AT_FDCWD, at("file").c_str(), old_times, 0));
  ASSERT_TRUE(write_file(at("file"), "y", O_WRONLY));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("file").c_str(), &st));
  EXPECT_GT(st.st_mtim.tv_sec, 1'000'000'000);
}

// --- directories --------------------------------------------------------------------------------

TEST_P(MountPosix, MkdirCreatesADirectoryWithTheGivenMode) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0750));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("dir").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u & ~0u);
  ASSERT_SYSCALL(::mkdir(at("dir/sub").c_str(), 0755));
  EXPECT_TRUE(write_file(at("dir/sub/file"), "deep"));
  EXPECT_EQ(read_file(at("dir/sub/file")), "deep");
}

TEST_P(MountPosix, MkdirOfAnExistingNameFailsWithEexist) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  EXPECT_ERRNO(::mkdir(at("dir").c_str(), 0755), EEXIST);
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::mkdir(at("file").c_str(), 0755), EEXIST);
}

TEST_P(MountPosix, RmdirRemovesAnEmptyDirectory) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  ASSERT_SYSCALL(::rmdir(at("dir").c_str()));
  struct stat st {};
  EXPECT_ERRNO(::stat(at("dir").c_str(), &st), ENOENT);
  EXPECT_ERRNO(::rmdir(at("dir").c_str()), ENOENT);
}

TEST_P(MountPosix, RmdirOfANonEmptyDirectoryFailsWithEnotempty) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  ASSERT_TRUE(write_file(at("dir/file"), "x"));
  EXPECT_ERRNO(::rmdir(at("dir").c_str()), ENOTEMPTY);
  EXPECT_EQ(read_file(at("dir/file")), "x");
}

TEST_P(MountPosix, RmdirOfAFileFailsWithEnotdir) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::rmdir(at("file").c_str()), ENOTDIR);
}

TEST_P(MountPosix, ReaddirListsDotDotDotAndEveryEntry) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  ASSERT_TRUE(write_file(at("dir/a"), "1"));
  ASSERT_SYSCALL(::mkdir(at("dir/b").c_str(), 0755));
  ASSERT_SYSCALL(::symlink("a", at("dir/c").c_str()));
  EXPECT_EQ(list_dir(at("dir")), (std::set<std::string>{".", "..", "a", "b", "c"}));
  DIR* dir = ::opendir(at("dir").c_str());
  ASSERT_NE(dir, nullptr);
  std::map<std::string, unsigned char> types;
  while (const dirent* entry = ::readdir(dir)) types[entry->d_name] = entry->d_type;
  ::closedir(dir);
  EXPECT_EQ(types["a"], DT_REG);
  EXPECT_EQ(types["b"], DT_DIR);
  EXPECT_EQ(types["c"], DT_LNK);
  EXPECT_EQ(types["."], DT_DIR);
}

TEST_P(MountPosix, ReaddirOfALargeDirectoryListsEveryEntryExactlyOnce) {
  ASSERT_SYSCALL(::mkdir(at("many").c_str(), 0755));
  std::set<std::string> expected = {".", ".."};
  for (int i = 0; i < 300; ++i) {
    const std::string name = "entry-" + std::to_string(i) + "-" + std::string(100, 'x');
    ASSERT_TRUE(write_file(at("many/" + name), ""));
    expected.insert(name);
  }
  DIR* dir = ::opendir(at("many").c_str());
  ASSERT_NE(dir, nullptr);
  std::vector<std::string> seen;
  while (const dirent* entry = ::readdir(dir)) seen.emplace_back(entry->d_name);
  ::closedir(dir);
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), expected);
}

TEST_P(MountPosix, RewinddirSeesEntriesCreatedAfterOpendir) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  ASSERT_TRUE(write_file(at("dir/first"), ""));
  DIR* dir = ::opendir(at("dir").c_str());
  ASSERT_NE(dir, nullptr);
  std::set<std::string> before;
  while (const dirent* entry = ::readdir(dir)) before.insert(entry->d_name);
  ASSERT_TRUE(write_file(at("dir/second"), ""));
  ::rewinddir(dir);
  std::set<std::string> after;
  while (const dirent* entry = ::readdir(dir)) after.insert(entry->d_name);
  ::closedir(dir);
  EXPECT_EQ(before, (std::set<std::string>{".", "..", "first"}));
  EXPECT_EQ(after, (std::set<std::string>{".", "..", "first", "second"}));
}

TEST_P(MountPosix, OpendirOfAFileFailsWithEnotdir) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  errno = 0;
  EXPECT_EQ(::opendir(at("file").c_str()), nullptr);
  EXPECT_EQ(errno, ENOTDIR);
}

// --- unlink and rename --------------------------------------------------------------------------

TEST_P(MountPosix, UnlinkRemovesAFile) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  ASSERT_SYSCALL(::unlink(at("file").c_str()));
  EXPECT_EQ(list_root().count("file"), 0u);
  EXPECT_ERRNO(::unlink(at("file").c_str()), ENOENT);
}

TEST_P(MountPosix, UnlinkOfADirectoryFailsWithEisdir) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  EXPECT_ERRNO(::unlink(at("dir").c_str()), EISDIR);
}

TEST_P(MountPosix, RenameMovesAFileBetweenDirectories) {
  ASSERT_SYSCALL(::mkdir(at("a").c_str(), 0755));
  ASSERT_SYSCALL(::mkdir(at("b").c_str(), 0755));
  ASSERT_TRUE(write_file(at("a/file"), "moved"));
  ASSERT_SYSCALL(::rename(at("a/file").c_str(), at("b/renamed").c_str()));
  EXPECT_EQ(read_file(at("b/renamed")), "moved");
  struct stat st {};
  EXPECT_ERRNO(::stat(at("a/file").c_str(), &st), ENOENT);
}

TEST_P(MountPosix, RenameOntoAnExistingFileReplacesIt) {
  ASSERT_TRUE(write_file(at("new"), "new content"));
  ASSERT_TRUE(write_file(at("old"), "old content"));
  ASSERT_SYSCALL(::rename(at("new").c_str(), at("old").c_str()));
  EXPECT_EQ(read_file(at("old")), "new content");
  EXPECT_EQ(list_root(), (std::set<std::string>{".", "..", "old"}));
}

TEST_P(MountPosix, RenameOfADirectoryKeepsItsContent) {
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  ASSERT_TRUE(write_file(at("dir/file"), "inside"));
  ASSERT_SYSCALL(::rename(at("dir").c_str(), at("moved").c_str()));
  EXPECT_EQ(read_file(at("moved/file")), "inside");
  EXPECT_EQ(list_dir(at("moved")), (std::set<std::string>{".", "..", "file"}));
}

TEST_P(MountPosix, RenameOfAMissingNameFailsWithEnoent) {
  EXPECT_ERRNO(::rename(at("missing").c_str(), at("other").c_str()), ENOENT);
}

TEST_P(MountPosix, RenameOfADirectoryOntoANonEmptyDirectoryFailsWithEnotempty) {
  ASSERT_SYSCALL(::mkdir(at("a").c_str(), 0755));
  ASSERT_SYSCALL(::mkdir(at("b").c_str(), 0755));
  ASSERT_TRUE(write_file(at("b/file"), "x"));
  EXPECT_ERRNO(::rename(at("a").c_str(), at("b").c_str()), ENOTEMPTY);
}

TEST_P(MountPosix, RenameOfAFileOntoADirectoryFailsWithEisdir) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  ASSERT_SYSCALL(::mkdir(at("dir").c_str(), 0755));
  EXPECT_ERRNO(::rename(at("file").c_str(), at("dir").c_str()), EISDIR);
  EXPECT_ERRNO(::rename(at("dir").c_str(), at("file").c_str()), ENOTDIR);
}

TEST_P(MountPosix, RenameNoReplaceOntoExistingNameFailsWithEexist) {
  ASSERT_TRUE(write_file(at("a"), "a"));
  ASSERT_TRUE(write_file(at("b"), "b"));
  EXPECT_ERRNO(renameat2(at("a"), at("b"), RENAME_NOREPLACE), EEXIST);
  EXPECT_EQ(read_file(at("a")), "a");
  EXPECT_EQ(read_file(at("b")), "b");
}

TEST_P(MountPosix, RenameNoReplaceOntoAFreeNameMovesTheFile) {
  ASSERT_TRUE(write_file(at("a"), "a"));
  ASSERT_SYSCALL(renameat2(at("a"), at("c"), RENAME_NOREPLACE));
  EXPECT_EQ(read_file(at("c")), "a");
  EXPECT_EQ(list_root(), (std::set<std::string>{".", "..", "c"}));
}

TEST_P(MountPosix, RenameExchangeSwapsTwoNames) {
  ASSERT_TRUE(write_file(at("a"), "content of a"));
  ASSERT_SYSCALL(::mkdir(at("d").c_str(), 0755));
  ASSERT_TRUE(write_file(at("d/inner"), "x"));
  ASSERT_SYSCALL(renameat2(at("a"), at("d"), RENAME_EXCHANGE));
  EXPECT_EQ(read_file(at("d")), "content of a");
  EXPECT_EQ(read_file(at("a/inner")), "x");
}

TEST_P(MountPosix, RenameExchangeWithAMissingNameFailsWithEnoent) {
  ASSERT_TRUE(write_file(at("a"), "a"));
  EXPECT_ERRNO(renameat2(at("a"), at("missing"), RENAME_EXCHANGE), ENOENT);
}

TEST_P(MountPosix, RenameWithWhiteoutFailsWithEinval) {
  ASSERT_TRUE(write_file(at("a"), "a"));
  errno = 0;
  const int result = renameat2(at("a"), at("b"), RENAME_WHITEOUT);
  const int error = errno;
  EXPECT_EQ(result, -1);
  // Root reaches the mount (EINVAL); others are stopped by the kernel (EPERM).
  EXPECT_TRUE(error == EINVAL || error == EPERM) << std::strerror(error);
  EXPECT_EQ(read_file(at("a")), "a");
}

// --- symlinks -----------------------------------------------------------------------------------

TEST_P(MountPosix, SymlinkAndReadlinkRoundTripTheTarget) {
  ASSERT_SYSCALL(::symlink("some/relative/target", at("link").c_str()));
  char buffer[256] = {};
  ASSERT_EQ(::readlink(at("link").c_str(), buffer, sizeof(buffer)), 20);
  EXPECT_STREQ(buffer, "some/relative/target");
  struct stat st {};
  ASSERT_SYSCALL(::lstat(at("link").c_str(), &st));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 20);
}

TEST_P(MountPosix, OpenThroughASymlinkReadsItsTarget) {
  ASSERT_TRUE(write_file(at("file"), "target content"));
  ASSERT_SYSCALL(::symlink("file", at("link").c_str()));
  EXPECT_EQ(read_file(at("link")), "target content");
  ASSERT_SYSCALL(::symlink("missing", at("dangling").c_str()));
  EXPECT_ERRNO(::open(at("dangling").c_str(), O_RDONLY), ENOENT);
}

TEST_P(MountPosix, SymlinkOntoAnExistingNameFailsWithEexist) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::symlink("target", at("file").c_str()), EEXIST);
}

TEST_P(MountPosix, ReadlinkOfAFileFailsWithEinval) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  char buffer[16];
  EXPECT_ERRNO(::readlink(at("file").c_str(), buffer, sizeof(buffer)), EINVAL);
}

// --- statfs, access and permissions
// ---------------------------------------------------------------

TEST_P(MountPosix, StatfsReportsTheNameLimitAndABlockSize) {
  struct statvfs vfs {};
  ASSERT_SYSCALL(::statvfs(mnt_.c_str(), &vfs));
  EXPECT_EQ(vfs.f_namemax, 255u);
  EXPECT_GT(vfs.f_bsize, 0u);
  EXPECT_GT(vfs.f_frsize, 0u);
  EXPECT_LE(vfs.f_bfree, vfs.f_blocks);
  EXPECT_LE(vfs.f_bavail, vfs.f_blocks);
  struct statfs raw {};
  ASSERT_SYSCALL(::statfs(mnt_.c_str(), &raw));
  EXPECT_EQ(static_cast<unsigned long>(raw.f_type), 0x65735546ul);  // FUSE_SUPER_MAGIC
}

TEST_P(MountPosix, AccessReportsExistenceAndTheOwnersBits) {
  ASSERT_TRUE(write_file(at("file"), "x", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  EXPECT_SYSCALL(::access(at("file").c_str(), F_OK));
  EXPECT_SYSCALL(::access(at("file").c_str(), R_OK | W_OK));
  EXPECT_ERRNO(::access(at("missing").c_str(), F_OK), ENOENT);
  // Nobody may execute a file without any x bit, root included.
  EXPECT_ERRNO(::access(at("file").c_str(), X_OK), EACCES);
}

// The kernel checks the mode bits (default_permissions). Root passes every check, so as root
// the test runs as nobody in a child process (the mount has allow_other then).
TEST_P(MountPosix, WritingAFileWithoutWriteBitFailsWithEacces) {
  ASSERT_TRUE(write_file(at("file"), "x", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (::geteuid() != 0) {
    ASSERT_SYSCALL(::chmod(at("file").c_str(), 0444));
    EXPECT_ERRNO(::open(at("file").c_str(), O_WRONLY), EACCES);
    EXPECT_ERRNO(::access(at("file").c_str(), W_OK), EACCES);
    return;
  }
  const int root = ::open(mnt_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_SYSCALL(root);
  const int read_result = as_nobody([root] {
    const int fd = ::openat(root, "file", O_RDONLY);
    return fd < 0 ? errno : 0;
  });
  const int write_result = as_nobody([root] {
    const int fd = ::openat(root, "file", O_WRONLY);
    return fd < 0 ? errno : 0;
  });
  const int access_result =
      as_nobody([root] { return ::faccessat(root, "file", W_OK, 0) == 0 ? 0 : errno; });
  ::close(root);
  EXPECT_EQ(read_result, 0) << std::strerror(read_result);
  EXPECT_EQ(write_result, EACCES) << std::strerror(write_result);
  EXPECT_EQ(access_result, EACCES) << std::strerror(access_result);
}

TEST_P(MountPosix, EnteringADirectoryWithoutSearchBitFailsWithEacces) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs another user: run as root";
  ASSERT_SYSCALL(::mkdir(at("private").c_str(), 0700));
  ASSERT_TRUE(write_file(at("private/file"), "secret"));
  ASSERT_SYSCALL(::mkdir(at("public").c_str(), 0755));
  ASSERT_TRUE(write_file(at("public/file"), "open"));
  const int root = ::open(mnt_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_SYSCALL(root);
  const int public_result = as_nobody([root] {
    const int fd = ::openat(root, "public/file", O_RDONLY);
    return fd < 0 ? errno : 0;
  });
  const int private_result = as_nobody([root] {
    const int fd = ::openat(root, "private/file", O_RDONLY);
    return fd < 0 ? errno : 0;
  });
  ::close(root);
  EXPECT_EQ(public_result, 0) << std::strerror(public_result);
  EXPECT_EQ(private_result, EACCES) << std::strerror(private_result);
}

// --- what is not supported
// ------------------------------------------------------------------------

TEST_P(MountPosix, HardLinkFailsWithEperm) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  EXPECT_ERRNO(::link(at("file").c_str(), at("hard").c_str()), EPERM);
  EXPECT_EQ(list_root(), (std::set<std::string>{".", "..", "file"}));
}

TEST_P(MountPosix, MknodOfAFifoFailsWithEperm) {
  EXPECT_ERRNO(::mknod(at("fifo").c_str(), S_IFIFO | 0644, 0), EPERM);
  EXPECT_ERRNO(::mkfifo(at("fifo2").c_str(), 0644), EPERM);
  EXPECT_ERRNO(::mknod(at("socket").c_str(), S_IFSOCK | 0644, 0), EPERM);
}

TEST_P(MountPosix, MknodOfADeviceFailsWithEperm) {
  EXPECT_ERRNO(::mknod(at("null").c_str(), S_IFCHR | 0644, makedev(1, 3)), EPERM);
}

TEST_P(MountPosix, MknodOfARegularFileCreatesAnEmptyFile) {
  ASSERT_SYSCALL(::mknod(at("plain").c_str(), S_IFREG | 0600, 0));
  struct stat st {};
  ASSERT_SYSCALL(::stat(at("plain").c_str(), &st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_ERRNO(::mknod(at("plain").c_str(), S_IFREG | 0600, 0), EEXIST);
}

TEST_P(MountPosix, ExtendedAttributesFailWithEnotsup) {
  ASSERT_TRUE(write_file(at("file"), "x"));
  char buffer[64];
  EXPECT_ERRNO(::getxattr(at("file").c_str(), "user.test", buffer, sizeof(buffer)), ENOTSUP);
  EXPECT_ERRNO(::setxattr(at("file").c_str(), "user.test", "v", 1, 0), ENOTSUP);
  EXPECT_ERRNO(::listxattr(at("file").c_str(), buffer, sizeof(buffer)), ENOTSUP);
  EXPECT_ERRNO(::removexattr(at("file").c_str(), "user.test"), ENOTSUP);
}

INSTANTIATE_TEST_SUITE_P(Backends, MountPosix,
                         ::testing::Values(Backend::kStandalone, Backend::kMemory), backend_name);

}  // namespace
}  // namespace synapse::testing
