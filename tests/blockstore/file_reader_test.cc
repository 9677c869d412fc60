#include "synapse/blockstore/file_reader.h"

#include <gtest/gtest.h>

#include "counting_store.h"
#include "memory_file.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/importer.h"
#include "synapse/blockstore/memory_store.h"

namespace synapse::blockstore {
namespace {

using core::Bytes;
using core::ErrorCode;
using synapse::testing::BytesFile;
using synapse::testing::CountingStore;

Bytes pattern(size_t size) {
  Bytes data(size);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 31 + (i >> 8));
  return data;
}

crypto::Cid import(BlockStore& store, const Bytes& data, const ImportOptions& options) {
  BytesFile file(data);
  auto result = import_file(store, file, options, true);
  EXPECT_TRUE(result) << result.error().message();
  return result->root;
}

core::Result<Bytes> read_range(BlockStore& store, const crypto::Cid& root, uint64_t offset,
                               uint64_t length, unsigned read_ahead = 0) {
  SYNAPSE_ASSIGN_OR_RETURN(FileReader reader, FileReader::open(store, root));
  Bytes out;
  SYNAPSE_RETURN_IF_ERROR(reader.read(
      offset, length,
      [&](core::ByteView piece) {
        out.insert(out.end(), piece.begin(), piece.end());
        return core::ok();
      },
      read_ahead));
  return out;
}

TEST(FileReader, EveryRangeOfADeepDagReadsBackExactly) {
  for (bool raw : {true, false}) {
    SCOPED_TRACE(raw ? "raw leaves" : "dag-pb leaves");
    ImportOptions options{
        .chunk_size = 7, .raw_leaves = raw, .cid_version = raw ? 1 : 0, .max_links = 3};
    Bytes data = pattern(200);
    auto store = make_memory_store();
    crypto::Cid root = import(*store, data, options);
    EXPECT_EQ(FileReader::open(*store, root).value().size(), data.size());
    for (uint64_t offset = 0; offset <= data.size() + 1; offset += 3) {
      for (uint64_t length : {0ull, 1ull, 6ull, 7ull, 8ull, 50ull, 1000ull}) {
        for (unsigned read_ahead : {0u, 1u, 4u}) {
          Bytes got = read_range(*store, root, offset, length, read_ahead).value();
          uint64_t begin = std::min<uint64_t>(offset, data.size());
          uint64_t end = std::min<uint64_t>(data.size(), offset + length);
          ASSERT_EQ(got, Bytes(data.begin() + begin, data.begin() + end))
              << "offset " << offset << " length " << length << " read-ahead " << read_ahead;
        }
      }
    }
  }
}

TEST(FileReader, ARangeReadTouchesOnlyTheBlocksOnItsPath) {
  ImportOptions options{.chunk_size = 1024, .raw_leaves = true, .cid_version = 1, .max_links = 4};
  Bytes data = pattern(64 * 1024);  // 64 leaves, 16 + 4 + 1 interior nodes: depth 3
  auto memory = make_memory_store();
  crypto::Cid root = import(*memory, data, options);
  CountingStore store(*memory);
  auto reader = FileReader::open(store, root).value();
  store.gets.clear();
  Bytes got;
  ASSERT_TRUE(reader.read(37 * 1024 + 5, 10, [&](core::ByteView piece) {
    got.insert(got.end(), piece.begin(), piece.end());
    return core::ok();
  }));
  EXPECT_EQ(got, Bytes(data.begin() + 37 * 1024 + 5, data.begin() + 37 * 1024 + 15));
  EXPECT_EQ(store.gets.size(), 4u);  // root, two interior nodes, one leaf
  // A range spanning two leaves touches both, still nothing else, also with read-ahead.
  for (unsigned read_ahead : {0u, 8u}) {
    store.gets.clear();
    ASSERT_TRUE(reader.read(
        40 * 1024 - 1, 2, [](core::ByteView) { return core::ok(); }, read_ahead));
    EXPECT_EQ(store.gets.size(), 6u) << "read-ahead " << read_ahead;
  }
}

TEST(FileReader, ReadAheadStopsAtTheFirstErrorAndReportsIt) {
  ImportOptions options{.chunk_size = 10, .raw_leaves = true, .cid_version = 1, .max_links = 4};
  Bytes data = pattern(100);
  auto store = make_memory_store();
  crypto::Cid root = import(*store, data, options);
  ASSERT_TRUE(store->unpin(root));
  ASSERT_TRUE(
      store->remove(crypto::Cid::of(1, crypto::Codec::kRaw, core::ByteView(data).subspan(50, 10))));
  Bytes got;
  auto reader = FileReader::open(*store, root).value();
  auto status = reader.read(
      0, 100,
      [&](core::ByteView piece) {
        got.insert(got.end(), piece.begin(), piece.end());
        return core::ok();
      },
      8);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(got, Bytes(data.begin(), data.begin() + 50));  // everything before the gap, in order
}

TEST(FileReader, ARawRootIsTheWholeFile) {
  auto store = make_memory_store();
  Bytes data = pattern(100);
  crypto::Cid root = import(*store, data, import_preset("v1-raw-256k").value());
  EXPECT_EQ(root.codec(), crypto::Codec::kRaw);
  EXPECT_EQ(read_range(*store, root, 10, 5).value(), Bytes(data.begin() + 10, data.begin() + 15));
}

TEST(FileReader, AMissingLeafIsNotFoundAndTheRestStillReads) {
  ImportOptions options{.chunk_size = 10, .raw_leaves = true, .cid_version = 1, .max_links = 4};
  Bytes data = pattern(100);
  auto store = make_memory_store();
  crypto::Cid root = import(*store, data, options);
  ASSERT_TRUE(store->unpin(root));
  crypto::Cid third_leaf =
      crypto::Cid::of(1, crypto::Codec::kRaw, core::ByteView(data).subspan(20, 10));
  ASSERT_TRUE(store->remove(third_leaf));
  EXPECT_EQ(read_range(*store, root, 0, 100).error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(read_range(*store, root, 30, 70));
}

TEST(FileReader, InconsistentSizesAreReportedAsCorrupt) {
  auto store = make_memory_store();
  Block leaf = Block::make(crypto::Codec::kRaw, Bytes(10, 1));
  ASSERT_TRUE(store->put(leaf));
  // The parent claims the leaf holds 11 bytes.
  UnixfsData unixfs{.type = UnixfsType::kFile, .filesize = 11, .blocksizes = {11}};
  PbNode node{.links = {PbLink{leaf.cid(), "", 10}}, .data = encode_unixfs(unixfs)};
  Block parent = Block::make(crypto::Codec::kDagPb, encode_pb_node(node));
  ASSERT_TRUE(store->put(parent));
  EXPECT_EQ(read_range(*store, parent.cid(), 0, 11).error().code(), ErrorCode::kCorrupt);
}

TEST(FileReader, DirectoriesAreNotFiles) {
  auto store = make_memory_store();
  PbNode dir{.links = {}, .data = encode_unixfs(UnixfsData{.type = UnixfsType::kDirectory})};
  Block block = Block::make(crypto::Codec::kDagPb, encode_pb_node(dir));
  ASSERT_TRUE(store->put(block));
  auto reader = FileReader::open(*store, block.cid());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(reader.error().message().find("directory"), std::string::npos);
}

}  // namespace
}  // namespace synapse::blockstore
