// Path-level operations (synapse/fs/paths.h), the commit observer and content information of
// the shared tree, on the file systems of a MemorySwarm.
#include "synapse/fs/paths.h"

#include <gtest/gtest.h>

#include <mutex>

#include "memory_swarm.h"
#include "synapse/blockstore/importer.h"

namespace synapse::fs {
namespace {

using testing::MemorySwarm;

core::ByteView bytes_of(std::string_view text) { return core::as_bytes(text); }

TEST(Tree, WritesReadsAppendsAndListsByPath) {
  MemorySwarm swarm(1, 1);
  Tree tree(swarm.fs(0));
  ASSERT_TRUE(tree.make_dirs("a/b/c"));
  ASSERT_TRUE(tree.make_dirs("a/b"));  // existing: fine
  ASSERT_TRUE(tree.write("a/b/c/file", bytes_of("hello")));
  ASSERT_TRUE(tree.append("a/b/c/file", bytes_of(" world")));
  ASSERT_TRUE(tree.append("a/new", bytes_of("x")));
  EXPECT_EQ(tree.read("a/b/c/file", 100).value_or("?"), "hello world");
  EXPECT_EQ(tree.read_range("a/b/c/file", 6, 3).value_or("?"), "wor");
  EXPECT_EQ(tree.read("a/new", 100).value_or("?"), "x");
  auto too_long = tree.read("a/b/c/file", 4);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), core::ErrorCode::kInvalidArgument);
  auto entries = tree.list("a");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_TRUE(*tree.exists("a/b"));
  EXPECT_FALSE(*tree.exists("a/nothing"));
  EXPECT_FALSE(*tree.exists("nothing/at/all"));
  EXPECT_EQ(tree.stat("a/b").value().type, FileType::kDirectory);
  EXPECT_EQ(tree.make_dirs("a/new/x").error().code(), core::ErrorCode::kNotDirectory);
}

TEST(Tree, RenamesRemovesTreesAndFollowsSymlinks) {
  MemorySwarm swarm(1, 2);
  Tree tree(swarm.fs(0));
  ASSERT_TRUE(tree.make_dirs("src/deep/er"));
  ASSERT_TRUE(tree.write("src/deep/er/f", bytes_of("1")));
  ASSERT_TRUE(tree.write("src/g", bytes_of("2")));
  ASSERT_TRUE(tree.symlink("src/link", "../elsewhere"));
  EXPECT_EQ(tree.readlink("src/link").value_or("?"), "../elsewhere");
  ASSERT_TRUE(tree.rename("src", "dst"));
  EXPECT_FALSE(*tree.exists("src"));
  EXPECT_EQ(tree.read("dst/deep/er/f", 10).value_or("?"), "1");
  ASSERT_TRUE(tree.write("other", bytes_of("3")));
  EXPECT_EQ(tree.rename("other", "dst/g", RenameMode::kNoReplace).error().code(),
            core::ErrorCode::kAlreadyExists);
  ASSERT_TRUE(tree.remove_tree("dst"));
  EXPECT_FALSE(*tree.exists("dst"));
  ASSERT_TRUE(tree.remove_tree("dst"));  // nothing there: fine
  std::vector<std::string> seen;
  ASSERT_TRUE(tree.walk("", 100, [&](const std::string& path, const Attr&) {
    seen.push_back(path);
    return true;
  }));
  EXPECT_EQ(seen, std::vector<std::string>{"other"});
}

TEST(Tree, WalkVisitsParentsFirstAndStopsAtItsLimit) {
  MemorySwarm swarm(1, 3);
  Tree tree(swarm.fs(0));
  ASSERT_TRUE(tree.make_dirs("d/e"));
  ASSERT_TRUE(tree.write("d/e/f", bytes_of("x")));
  ASSERT_TRUE(tree.write("d/g", bytes_of("y")));
  std::vector<std::string> seen;
  ASSERT_TRUE(tree.walk("d", 10, [&](const std::string& path, const Attr&) {
    seen.push_back(path);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"d/e", "d/e/f", "d/g"}));
  EXPECT_EQ(tree.walk("d", 2, [](auto&, auto&) { return true; }).error().code(),
            core::ErrorCode::kStoreFull);
  seen.clear();
  ASSERT_TRUE(tree.walk("d", 10, [&](const std::string& path, const Attr& attr) {
    seen.push_back(path);
    return attr.type != FileType::kDirectory;  // do not descend
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"d/e", "d/g"}));
}

TEST(Tree, LeavesNoInodeHeld) {
  MemorySwarm swarm(1, 4);
  Tree tree(swarm.fs(0));
  ASSERT_TRUE(tree.make_dirs("x/y"));
  const uint64_t before = swarm.fs(0).statfs().value().files;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(tree.write("x/y/f" + std::to_string(i), bytes_of("data")));
    ASSERT_TRUE(tree.read("x/y/f" + std::to_string(i), 10));
    ASSERT_TRUE(tree.content("x/y/f" + std::to_string(i)));
  }
  // Listing a folder makes inodes for its entries; they go when the folder is forgotten.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(tree.list("x/y").value().size(), 50u);
  EXPECT_LE(swarm.fs(0).statfs().value().files, before);
  ASSERT_TRUE(tree.remove_tree("x"));
  EXPECT_LE(swarm.fs(0).statfs().value().files, before);
}

TEST(SharedFs, ContentInfoNamesTheCommittedRootAndItsWriter) {
  MemorySwarm swarm(2, 5);
  Tree a(swarm.fs(0)), b(swarm.fs(1));
  const std::string data(300'000, 'z');
  ASSERT_TRUE(a.write("f", bytes_of(data)));
  swarm.settle();
  auto info = b.content("f");
  ASSERT_TRUE(info) << info.error().message();
  ASSERT_TRUE(info->content);
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(info->writer, a.content("f").value().writer);
  EXPECT_NE(info->writer, fs::WriterId{});
  EXPECT_TRUE(swarm.store(0).has(*info->content).value_or(false));
  ASSERT_TRUE(a.write("empty", {}));
  EXPECT_FALSE(a.content("empty").value().content);
  ASSERT_TRUE(a.make_dirs("dir"));
  EXPECT_EQ(a.content("dir").error().code(), core::ErrorCode::kIsDirectory);
}

TEST(SharedFs, TheObserverHearsClosesAndRenamesOfThisNodeOnly) {
  MemorySwarm swarm(2, 6);
  std::mutex mu;
  std::vector<CommitNotice> heard;
  swarm.fs(0).set_commit_observer([&](const CommitNotice& notice) {
    std::lock_guard lock(mu);
    heard.push_back(notice);
  });
  Tree a(swarm.fs(0)), b(swarm.fs(1));
  ASSERT_TRUE(a.make_dirs("jobs"));
  ASSERT_TRUE(a.write("jobs/one.toml", bytes_of("x")));
  ASSERT_TRUE(a.write("tmp.toml", bytes_of("y")));
  ASSERT_TRUE(a.rename("tmp.toml", "jobs/two.toml"));
  ASSERT_TRUE(b.write("jobs-elsewhere", bytes_of("z")));  // another node's writes: not heard
  std::set<std::string> paths;
  for (const CommitNotice& notice : heard) {
    paths.insert(notice.path);
    EXPECT_FALSE(notice.open_for_writing) << notice.path;
  }
  EXPECT_EQ(paths, (std::set<std::string>{"jobs/one.toml", "tmp.toml", "jobs/two.toml"}));
}

TEST(SharedFs, TheObserverTellsWhetherAnotherHandleStillWrites) {
  MemorySwarm swarm(1, 7);
  std::vector<CommitNotice> heard;
  swarm.fs(0).set_commit_observer([&](const CommitNotice& notice) { heard.push_back(notice); });
  FileSystem& fs = swarm.fs(0);
  auto created = fs.create(kRootIno, "spec.toml", 0644, OpenFlags{.write = true});
  ASSERT_TRUE(created);
  auto second = fs.open(created->first.ino, OpenFlags{.write = true});
  ASSERT_TRUE(second);
  const std::string text = "command = [\"true\"]\n";
  ASSERT_TRUE(fs.write(created->second.handle, 0, bytes_of(text)));
  ASSERT_TRUE(fs.flush(created->second.handle));
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_TRUE(heard.back().open_for_writing);
  ASSERT_TRUE(fs.release(created->second.handle));
  EXPECT_TRUE(heard.back().open_for_writing);
  ASSERT_TRUE(fs.flush(second->handle));
  EXPECT_FALSE(heard.back().open_for_writing);
  EXPECT_EQ(heard.back().path, "spec.toml");
  ASSERT_TRUE(fs.release(second->handle));
}

}  // namespace
}  // namespace synapse::fs

namespace synapse::fs {
namespace {

TEST(SharedFs, ARenameOutOfAMergedFolderRemovesTheSource) {
  MemorySwarm swarm(3, 8);
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(Tree(swarm.fs(i)).make_dirs("jobs"));
  swarm.settle();
  Tree tree(swarm.fs(0));
  ASSERT_TRUE(tree.write("jobs/a.toml", bytes_of("x")));
  ASSERT_TRUE(tree.make_dir("jobs/a"));
  ASSERT_TRUE(tree.rename("jobs/a.toml", "jobs/a/spec.toml", RenameMode::kNoReplace));
  EXPECT_FALSE(*tree.exists("jobs/a.toml"));
  swarm.settle();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(*Tree(swarm.fs(i)).exists("jobs/a.toml")) << i;
    EXPECT_TRUE(*Tree(swarm.fs(i)).exists("jobs/a/spec.toml")) << i;
  }
}

}  // namespace
}  // namespace synapse::fs

namespace synapse::fs {
namespace {

// What `tail -f` does on another node: keeps the file open, asks for its size, reads on.
TEST(SharedFs, AFileOpenForReadingFollowsWhatAnotherNodeAppends) {
  MemorySwarm swarm(2, 9);
  Tree writer(swarm.fs(0)), reader_tree(swarm.fs(1));
  ASSERT_TRUE(writer.write("log", bytes_of("one\n")));
  swarm.settle();
  FileSystem& reader = swarm.fs(1);
  auto attr = reader.lookup(kRootIno, "log");
  ASSERT_TRUE(attr);
  auto opened = reader.open(attr->ino, OpenFlags{});
  ASSERT_TRUE(opened);
  std::vector<uint8_t> buffer(64);
  EXPECT_EQ(reader.read(opened->handle, 0, buffer).value_or(0), 4u);
  ASSERT_TRUE(writer.append("log", bytes_of("two\n")));
  swarm.settle();
  EXPECT_EQ(reader.getattr(attr->ino).value().size, 8u);
  auto n = reader.read(opened->handle, 4, buffer);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n)), "two\n");

  // A handle of this node writing the file keeps it as this node has it (POSIX within a node).
  auto writing = reader.open(attr->ino, OpenFlags{.write = true});
  ASSERT_TRUE(writing);
  ASSERT_TRUE(writer.append("log", bytes_of("three\n")));
  swarm.settle();
  (void)reader.getattr(attr->ino);
  EXPECT_EQ(reader.read(opened->handle, 8, buffer).value_or(99), 0u);
  ASSERT_TRUE(reader.release(writing->handle));
  (void)reader.getattr(attr->ino);
  n = reader.read(opened->handle, 8, buffer);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n)), "three\n");
  ASSERT_TRUE(reader.release(opened->handle));
  reader.forget(attr->ino, 1);
  (void)reader_tree;
}

}  // namespace
}  // namespace synapse::fs
