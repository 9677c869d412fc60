// The shared file system across several nodes of a MemorySwarm: propagation, conflicts,
// partitions, restarts, the read-only trees.
#include <gtest/gtest.h>

#include <random>

#include "memory_swarm.h"
#include "path_ops.h"
#include "synapse/blockstore/importer.h"

namespace synapse::fs {
namespace {

using testing::make_dir;
using testing::MemorySwarm;
using testing::move;
using testing::read_file;
using testing::remove;
using testing::resolve_path;
using testing::snapshot;
using testing::write_file;

TEST(SharedFs, FileWrittenOnOneNodeIsReadOnTheOthers) {
  MemorySwarm swarm(3, 1);
  ASSERT_TRUE(make_dir(swarm.fs(0), "/docs"));
  ASSERT_TRUE(write_file(swarm.fs(0), "/docs/a.txt", "hello"));
  swarm.settle();
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(read_file(swarm.fs(i), "/docs/a.txt").value_or("?"), "hello") << i;
  }
  ASSERT_TRUE(write_file(swarm.fs(2), "/docs/a.txt", "hello again"));
  swarm.settle();
  EXPECT_EQ(read_file(swarm.fs(0), "/docs/a.txt").value_or("?"), "hello again");
  EXPECT_EQ(snapshot(swarm.fs(0)), snapshot(swarm.fs(1)));
}

TEST(SharedFs, CommittedFileIsVisibleLocallyBeforeItIsPublished) {
  MemorySwarm swarm(2, 2);
  ASSERT_TRUE(write_file(swarm.fs(0), "/a", "x"));
  EXPECT_EQ(read_file(swarm.fs(0), "/a").value_or("?"), "x");
  EXPECT_FALSE(resolve_path(swarm.fs(1), "/a"));
  swarm.settle();
  EXPECT_TRUE(resolve_path(swarm.fs(1), "/a"));
}

TEST(SharedFs, NamespaceChangesPropagate) {
  MemorySwarm swarm(2, 3);
  FileSystem& a = swarm.fs(0);
  ASSERT_TRUE(make_dir(a, "/d"));
  ASSERT_TRUE(make_dir(a, "/d/sub"));
  ASSERT_TRUE(write_file(a, "/d/f", "0123456789"));
  ASSERT_TRUE(write_file(a, "/d/gone", "x"));
  auto d = resolve_path(a, "/d");
  ASSERT_TRUE(d);
  ASSERT_TRUE(a.symlink(*d, "link", "f"));
  swarm.settle();
  ASSERT_EQ(snapshot(swarm.fs(1)).size(), 5u);

  ASSERT_TRUE(remove(a, "/d/gone"));
  ASSERT_TRUE(move(a, "/d/f", "/d/sub/g"));
  auto g = resolve_path(a, "/d/sub/g");
  ASSERT_TRUE(g);
  ASSERT_TRUE(a.setattr(*g, SetAttr{.mode = 0600, .size = 4}, std::nullopt));
  ASSERT_TRUE(a.rmdir(*d, "sub").error().code() == core::ErrorCode::kNotEmpty);
  swarm.settle();
  const auto tree = snapshot(swarm.fs(1));
  EXPECT_EQ(tree,
            (std::map<std::string, std::string>{
                {"/d", "<dir>"}, {"/d/link", "-> f"}, {"/d/sub", "<dir>"}, {"/d/sub/g", "0123"}}));
  auto attr = swarm.fs(1).getattr(resolve_path(swarm.fs(1), "/d/sub/g").value());
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->mode, 0600u);
  EXPECT_EQ(attr->size, 4u);
}

TEST(SharedFs, ConcurrentWritesToOnePathLeaveOneConflictCopyOnEveryNode) {
  MemorySwarm swarm(3, 4);
  swarm.partition({1});
  ASSERT_TRUE(write_file(swarm.fs(0), "/report", "from zero"));
  swarm.advance(1000);
  ASSERT_TRUE(write_file(swarm.fs(1), "/report", "from one"));
  swarm.settle();
  swarm.heal();
  const auto tree = snapshot(swarm.fs(0));
  ASSERT_EQ(tree.size(), 2u);
  EXPECT_EQ(tree.at("/report"), "from one");  // the higher clock keeps the name
  const auto copy = std::next(tree.begin());
  EXPECT_EQ(copy->first.rfind("/report.conflict-01000000-", 0), 0u) << copy->first;
  EXPECT_EQ(copy->second, "from zero");
  for (size_t i = 1; i < 3; ++i) EXPECT_EQ(snapshot(swarm.fs(i)), tree) << i;

  // Removing the conflict copy keeps the file; the removal reaches everyone.
  ASSERT_TRUE(remove(swarm.fs(2), copy->first));
  swarm.settle();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(snapshot(swarm.fs(i)), (std::map<std::string, std::string>{{"/report", "from one"}}));
  }
}

TEST(SharedFs, ConcurrentMkdirOfOneNameMerges) {
  MemorySwarm swarm(2, 5);
  swarm.partition({1});
  ASSERT_TRUE(make_dir(swarm.fs(0), "/shared"));
  ASSERT_TRUE(write_file(swarm.fs(0), "/shared/a", "A"));
  ASSERT_TRUE(make_dir(swarm.fs(1), "/shared"));
  ASSERT_TRUE(write_file(swarm.fs(1), "/shared/b", "B"));
  swarm.settle();
  swarm.heal();
  const std::map<std::string, std::string> expected{
      {"/shared", "<dir>"}, {"/shared/a", "A"}, {"/shared/b", "B"}};
  EXPECT_EQ(snapshot(swarm.fs(0)), expected);
  EXPECT_EQ(snapshot(swarm.fs(1)), expected);
  // Writing into the merged directory works from either side.
  ASSERT_TRUE(write_file(swarm.fs(1), "/shared/c", "C"));
  swarm.settle();
  EXPECT_EQ(read_file(swarm.fs(0), "/shared/c").value_or("?"), "C");
}

TEST(SharedFs, PartitionedSidesHealToOneTreeAndLoseNothing) {
  const uint64_t seed = synapse::testing::test_seed();
  SCOPED_TRACE("SYNAPSE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  MemorySwarm swarm(4, seed);
  ASSERT_TRUE(make_dir(swarm.fs(0), "/w"));
  swarm.settle();
  for (size_t i = 1; i < 4; ++i) ASSERT_TRUE(resolve_path(swarm.fs(i), "/w"));  // seen by all
  swarm.partition({2, 3});
  // Every write's content is unique. Per name, the last write on each side of the partition
  // was seen by nobody who wrote later: it must survive, under its name or as a conflict copy.
  std::map<std::pair<int, std::string>, std::string> last_per_side;
  std::set<std::string> names;
  for (int step = 0; step < 200; ++step) {
    const size_t node = rng() % 4;
    const std::string name = "/w/f" + std::to_string(rng() % 6);
    const std::string content = "n" + std::to_string(node) + "s" + std::to_string(step);
    auto written = write_file(swarm.fs(node), name, content);
    ASSERT_TRUE(written) << name << ": " << written.error().message();
    last_per_side[{node >= 2 ? 1 : 0, name}] = content;
    names.insert(name);
    swarm.advance(rng() % 50);
    if (step % 7 == 0) swarm.settle();
  }
  swarm.settle();
  swarm.heal();
  const auto tree = snapshot(swarm.fs(0));
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(snapshot(swarm.fs(i)), tree) << i;
  std::set<std::string> contents;
  for (const auto& [path, content] : tree) contents.insert(content);
  for (const auto& [side_name, content] : last_per_side) {
    EXPECT_TRUE(contents.count(content)) << side_name.second << " lost " << content;
  }
  for (const std::string& name : names) EXPECT_TRUE(tree.count(name)) << name;
}

TEST(SharedFs, ContentFetchedFromOthersIsEvictedLeastRecentlyUsedFirst) {
  MemorySwarm swarm(2, 9);
  swarm.set_cache_bytes(50'000);
  swarm.restart(1);
  for (const char* name : {"/a", "/b", "/c"}) {
    ASSERT_TRUE(write_file(swarm.fs(0), name, std::string(30'000, name[1])));
  }
  ASSERT_TRUE(write_file(swarm.fs(1), "/own", std::string(60'000, 'o')));
  swarm.settle();
  const uint64_t own_blocks = swarm.store(1).stats()->blocks;
  for (const char* name : {"/a", "/b", "/c"}) {
    ASSERT_EQ(read_file(swarm.fs(1), name).value_or("?"), std::string(30'000, name[1]));
  }
  swarm.fs(1).tick();
  // One 30 kB file fits in 50 kB: /c, the most recent, stays; /a and /b are gone. The node's own
  // file is pinned and stays whatever its size.
  const uint64_t cached_blocks = swarm.store(1).stats()->blocks - own_blocks;
  EXPECT_GT(cached_blocks, 0u);
  EXPECT_LE(cached_blocks, 10u);  // one file of 4 KiB chunks plus its root
  EXPECT_EQ(read_file(swarm.fs(1), "/own").value_or("?"), std::string(60'000, 'o'));
  // Evicted content is fetched again when read.
  EXPECT_EQ(read_file(swarm.fs(1), "/a").value_or("?"), std::string(30'000, 'a'));
}

TEST(SharedFs, CountsReadsOfOthersContentAsCacheHitsAndMisses) {
  MemorySwarm swarm(2, 4);
  ASSERT_TRUE(write_file(swarm.fs(0), "/theirs", "from node 0"));
  ASSERT_TRUE(write_file(swarm.fs(1), "/mine", "from node 1"));
  swarm.settle();
  ASSERT_EQ(read_file(swarm.fs(1), "/theirs").value_or("?"), "from node 0");  // fetched
  ASSERT_EQ(read_file(swarm.fs(1), "/theirs").value_or("?"), "from node 0");  // cached
  ASSERT_EQ(read_file(swarm.fs(1), "/mine").value_or("?"), "from node 1");    // own: not counted
  const CacheStats stats = swarm.fs(1).cache_stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.files, 1u);
  EXPECT_GT(stats.bytes, 0u);
}

TEST(SharedFs, RestartKeepsCommittedFilesThatWereNotPublishedYet) {
  MemorySwarm swarm(2, 6);
  ASSERT_TRUE(write_file(swarm.fs(0), "/a", "first"));
  swarm.settle();
  ASSERT_TRUE(write_file(swarm.fs(0), "/a", "second"));
  ASSERT_TRUE(write_file(swarm.fs(0), "/b", "new"));
  swarm.restart(0);  // without publishing: the journal has the records
  EXPECT_EQ(read_file(swarm.fs(0), "/a").value_or("?"), "second");
  swarm.settle();
  EXPECT_EQ(read_file(swarm.fs(1), "/b").value_or("?"), "new");
}

TEST(SharedFs, RenameFlagsBehaveLikeRenameat2) {
  MemorySwarm swarm(1, 7);
  FileSystem& fs = swarm.fs(0);
  ASSERT_TRUE(write_file(fs, "/a", "A"));
  ASSERT_TRUE(write_file(fs, "/b", "B"));
  EXPECT_EQ(move(fs, "/a", "/b", RenameMode::kNoReplace).error().code(),
            core::ErrorCode::kAlreadyExists);
  ASSERT_TRUE(move(fs, "/a", "/b", RenameMode::kExchange));
  EXPECT_EQ(read_file(fs, "/a").value_or("?"), "B");
  EXPECT_EQ(read_file(fs, "/b").value_or("?"), "A");
  EXPECT_EQ(move(fs, "/a", "/c", RenameMode::kExchange).error().code(), core::ErrorCode::kNotFound);
  ASSERT_TRUE(move(fs, "/a", "/b"));
  EXPECT_EQ(snapshot(fs), (std::map<std::string, std::string>{{"/b", "B"}}));
  ASSERT_TRUE(make_dir(fs, "/d"));
  ASSERT_TRUE(make_dir(fs, "/d/e"));
  EXPECT_EQ(move(fs, "/d", "/d/e/f").error().code(), core::ErrorCode::kInvalidArgument);
}

TEST(SharedFs, ContentIsReadableByCidUnderTheCidTree) {
  MemorySwarm swarm(2, 8);
  ASSERT_TRUE(write_file(swarm.fs(0), "/a", std::string(10000, 'z')));
  // Import something straight into node 0's store, as `synapse add` does.
  core::Bytes data(5000, 7);
  struct Input final : core::SequentialFile {
    explicit Input(const core::Bytes& d) : data(d) {}
    core::Result<size_t> read(std::span<uint8_t> out) override {
      const size_t n = std::min(out.size(), data.size() - at);
      std::copy_n(data.begin() + static_cast<ptrdiff_t>(at), n, out.begin());
      at += n;
      return n;
    }
    std::optional<uint64_t> size_hint() const override { return data.size(); }
    const core::Bytes& data;
    size_t at = 0;
  } input(data);
  auto imported = blockstore::import_file(swarm.store(0), input, {}, true);
  ASSERT_TRUE(imported);
  const std::string path = "/.cid/" + imported->root.to_string();
  auto content = read_file(swarm.fs(1), path);
  ASSERT_TRUE(content) << content.error().message();
  EXPECT_EQ(*content, std::string(5000, '\7'));
  auto ino = resolve_path(swarm.fs(1), path);
  EXPECT_TRUE(swarm.fs(1).getattr(*ino)->read_only);
  EXPECT_EQ(swarm.fs(1).open(*ino, OpenFlags{.write = true}).error().code(),
            core::ErrorCode::kPermissionDenied);
  EXPECT_FALSE(resolve_path(swarm.fs(1), "/.cid/not-a-cid"));
  auto peers = read_file(swarm.fs(1), "/.peers/peer-a");
  EXPECT_EQ(peers.value_or("?"), "address 10.0.0.1\n");
}

}  // namespace
}  // namespace synapse::fs
