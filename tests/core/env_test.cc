#include "synapse/core/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.h"

namespace synapse::core {
namespace {

using synapse::testing::TempDir;

TEST(PosixEnv, WritesAtomicallyWithTheRequestedModeAndReadsBack) {
  TempDir dir;
  Env& env = Env::posix();
  ASSERT_TRUE(env.write_file_atomic(dir / "secret", as_bytes("hello"), 0600, false));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(env.read_file(dir / "secret", 100).value(),
            Bytes(as_bytes("hello").begin(), as_bytes("hello").end()));
}

TEST(PosixEnv, RefusesToOverwriteUnlessAskedAndLeavesTheOldContent) {
  TempDir dir;
  Env& env = Env::posix();
  ASSERT_TRUE(env.write_file_atomic(dir / "f", as_bytes("one"), 0644, false));
  auto again = env.write_file_atomic(dir / "f", as_bytes("two"), 0644, false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(as_chars(env.read_file(dir / "f", 100).value()), "one");
  ASSERT_TRUE(env.write_file_atomic(dir / "f", as_bytes("two"), 0644, true));
  EXPECT_EQ(as_chars(env.read_file(dir / "f", 100).value()), "two");
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(PosixEnv, ReadFileRejectsFilesOverTheLimitAndReportsMissingOnes) {
  TempDir dir;
  Env& env = Env::posix();
  ASSERT_TRUE(env.write_file_atomic(dir / "big", Bytes(100, 'x'), 0644, false));
  EXPECT_EQ(env.read_file(dir / "big", 99).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(env.read_file(dir / "missing", 99).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(env.read_file(dir.path(), 99).error().code(), ErrorCode::kInvalidArgument);
}

TEST(PosixEnv, SequentialReadsFillBuffersUntilTheEnd) {
  TempDir dir;
  Env& env = Env::posix();
  ASSERT_TRUE(env.write_file_atomic(dir / "f", Bytes(10, 'a'), 0644, false));
  auto file = env.open_sequential(dir / "f").value();
  EXPECT_EQ(file->size_hint(), 10u);
  Bytes buffer(4);
  EXPECT_EQ(file->read(buffer).value(), 4u);
  EXPECT_EQ(file->read(buffer).value(), 4u);
  EXPECT_EQ(file->read(buffer).value(), 2u);
  EXPECT_EQ(file->read(buffer).value(), 0u);
}

TEST(PosixEnv, CreateDirsMakesParentsAndRejectsFiles) {
  TempDir dir;
  Env& env = Env::posix();
  ASSERT_TRUE(env.create_dirs(dir / "a/b/c", 0700));
  EXPECT_TRUE(env.exists(dir / "a/b/c").value());
  ASSERT_TRUE(env.create_dirs(dir / "a/b/c", 0700));
  ASSERT_TRUE(env.write_file_atomic(dir / "file", as_bytes("x"), 0644, false));
  EXPECT_FALSE(env.create_dirs(dir / "file", 0700));
  EXPECT_FALSE(env.exists(dir / "nope").value());
}

}  // namespace
}  // namespace synapse::core
