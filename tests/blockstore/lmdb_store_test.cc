// What only the LMDB store has: files on disk, reopening, several processes.
#include "synapse/blockstore/lmdb_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

#include "disk_corruption.h"
#include "synapse/blockstore/block.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/core/rng.h"
#include "test_util.h"

namespace synapse::blockstore {
namespace {

using core::ErrorCode;
using crypto::Cid;
using crypto::Codec;
using synapse::testing::flip_on_disk;

class LmdbStore : public ::testing::Test {
 protected:
  void TearDown() override { store_.reset(); }

  std::filesystem::path folder() const { return dir_.path() / "store"; }
  std::filesystem::path data_file() const { return folder() / "data.mdb"; }

  void open(uint64_t capacity = UINT64_MAX, bool sync = false) {
    store_.reset();
    auto opened = open_lmdb_store(folder(), {.capacity = capacity, .sync = sync});
    ASSERT_TRUE(opened) << opened.error().message();
    store_ = std::move(*opened);
  }

  Block raw(size_t size) { return Block::make(Codec::kRaw, testing::random_bytes(rng_, size)); }

  void write_file(const std::filesystem::path& path, const core::Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }

  testing::TempDir dir_;
  core::SeededRng rng_{0x1d8};
  std::unique_ptr<BlockStore> store_;
};

TEST_F(LmdbStore, BlocksPinsAndCountersSurviveReopen) {
  open(UINT64_MAX, /*sync=*/true);
  std::vector<Block> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(raw(1000 * i + 1));
  ASSERT_TRUE(store_->put_many(blocks));
  PbNode node;
  for (int i = 0; i < 3; ++i) node.links.push_back(PbLink{.cid = blocks[i].cid()});
  Block root = Block::make(Codec::kDagPb, encode_pb_node(node));
  ASSERT_TRUE(store_->put(root));
  ASSERT_TRUE(store_->pin(root.cid()));
  ASSERT_TRUE(store_->pin(root.cid()));
  const StoreStats before = store_->stats().value();

  store_.reset();
  open(UINT64_MAX, /*sync=*/true);
  for (const Block& block : blocks) EXPECT_EQ(store_->get(block.cid()).value(), block.data());
  EXPECT_EQ(store_->references(blocks[0].cid()).value(), 2u);
  EXPECT_EQ(store_->references(blocks[5].cid()).value(), 0u);
  auto pins = store_->pins().value();
  ASSERT_EQ(pins.size(), 1u);
  EXPECT_EQ(pins[0].root, root.cid());
  EXPECT_EQ(pins[0].count, 2u);
  StoreStats after = store_->stats().value();
  EXPECT_EQ(after.blocks, before.blocks);
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(after.referenced, 4u);
  EXPECT_EQ(after.pinned_roots, 1u);
}

TEST_F(LmdbStore, ABlockCorruptedOnDiskIsReportedAndRemoved) {
  open();
  Block big = raw(100 * 1024);  // overflow pages
  Block small = raw(200);       // inside a leaf page
  ASSERT_TRUE(store_->put_many(std::vector<Block>{big, small}));
  store_.reset();

  EXPECT_EQ(flip_on_disk(data_file(), big.data()), 1);
  EXPECT_EQ(flip_on_disk(data_file(), small.data()), 1);

  open();
  auto big_read = store_->get(big.cid());
  ASSERT_FALSE(big_read);
  EXPECT_EQ(big_read.error().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(store_->has(big.cid()).value());
  auto verified = store_->verify().value();
  ASSERT_EQ(verified.corrupt.size(), 1u);
  EXPECT_EQ(verified.corrupt[0], small.cid());
  StoreStats s = store_->stats().value();
  EXPECT_EQ(s.corrupt_removed, 2u);
  EXPECT_EQ(s.blocks, 0u);
  EXPECT_EQ(s.bytes, 0u);

  store_.reset();
  open();
  EXPECT_EQ(store_->stats().value().corrupt_removed, 2u);
  EXPECT_EQ(store_->get(small.cid()).error().code(), ErrorCode::kNotFound);
}

TEST_F(LmdbStore, AFolderOfGarbageFilesFailsToOpenCleanly) {
  std::filesystem::create_directories(folder());
  write_file(data_file(), testing::random_bytes(rng_, 64 * 1024));
  write_file(folder() / "lock.mdb", testing::random_bytes(rng_, 8192));
  auto opened = open_lmdb_store(folder(), {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorrupt) << opened.error().message();
  EXPECT_NE(opened.error().message().find(folder().string()), std::string::npos);

  write_file(data_file(), core::Bytes{'n', 'o', 't', ' ', 'l', 'm', 'd', 'b'});
  opened = open_lmdb_store(folder(), {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorrupt) << opened.error().message();
}

TEST_F(LmdbStore, APathThatIsAFileIsNotAStore) {
  write_file(dir_.path() / "file", core::Bytes{1, 2, 3});
  auto opened = open_lmdb_store(dir_.path() / "file", {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kIo) << opened.error().message();
}

TEST_F(LmdbStore, CapacityHoldsAcrossReopen) {
  constexpr uint64_t kCapacity = 1 << 20;
  open(kCapacity);
  ASSERT_TRUE(store_->put(raw(700 * 1024)));
  store_.reset();
  open(kCapacity);
  Block next = raw(400 * 1024);
  auto added = store_->put(next);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kStoreFull);
  EXPECT_NE(added.error().message().find("would exceed the capacity of 1.0 MiB"), std::string::npos)
      << added.error().message();
  store_.reset();
  open(2 * kCapacity);
  EXPECT_EQ(store_->put(next).value(), 1u);
  // A smaller capacity than what is stored keeps the blocks and refuses new ones.
  store_.reset();
  open(kCapacity / 2);
  EXPECT_EQ(store_->stats().value().bytes, 1100u * 1024);
  EXPECT_EQ(store_->put(raw(1)).error().code(), ErrorCode::kStoreFull);
  EXPECT_EQ(store_->put(next).value(), 0u);
}

TEST_F(LmdbStore, TheDataFileGrowsWithWhatIsStoredNotWithTheMapSize) {
  open();
  std::vector<Block> blocks;
  for (int i = 0; i < 16; ++i) blocks.push_back(raw(256 * 1024));
  ASSERT_TRUE(store_->put_many(blocks));
  EXPECT_LT(std::filesystem::file_size(data_file()), 8u << 20);
  // Space freed by gc is reused.
  ASSERT_EQ(store_->gc().value().blocks_removed, 16u);
  blocks.clear();
  for (int i = 0; i < 16; ++i) blocks.push_back(raw(256 * 1024));
  ASSERT_TRUE(store_->put_many(blocks));
  EXPECT_LT(std::filesystem::file_size(data_file()), 12u << 20);
}

TEST_F(LmdbStore, TwoProcessesShareOneStore) {
  Block from_child = raw(5000);
  Block from_parent = raw(6000);
  open();
  ASSERT_TRUE(store_->put(from_parent));
  // An LMDB environment must not be used across fork(): each process opens its own.
  store_.reset();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto child = open_lmdb_store(folder(), {});
    if (!child) ::_exit(2);
    if (!(*child)->put(from_child)) ::_exit(3);
    auto seen = (*child)->get(from_parent.cid());
    if (!seen || *seen != from_parent.data()) ::_exit(4);
    child->reset();
    ::_exit(0);
  }
  open();  // possibly while the child has it open too
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(store_->get(from_child.cid()).value(), from_child.data());
  EXPECT_EQ(store_->stats().value().blocks, 2u);
}

}  // namespace
}  // namespace synapse::blockstore
