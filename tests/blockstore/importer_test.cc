#include "synapse/blockstore/importer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "memory_file.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/file_reader.h"
#include "synapse/blockstore/memory_store.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::blockstore {
namespace {

using core::Bytes;
using core::ErrorCode;
using synapse::testing::BytesFile;
using synapse::testing::GeneratedFile;

struct Fixture {
  std::string file;
  uint64_t size;
  std::string preset;
  std::string cid;
};

std::vector<Fixture> load_fixtures() {
  std::ifstream in(std::string(SYNAPSE_TEST_DATA_DIR) + "/cid_fixtures.tsv");
  std::vector<Fixture> fixtures;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Fixture f;
    fields >> f.file >> f.size >> f.preset >> f.cid;
    fixtures.push_back(f);
  }
  return fixtures;
}

// The fixture files, as described in the header of cid_fixtures.tsv.
uint8_t fixture_byte(const std::string& file, uint64_t i) {
  if (file == "hello.txt") return static_cast<uint8_t>("hello world\n"[i]);
  if (file == "test-1MiB") return static_cast<uint8_t>(i % 256);
  if (file == "seq-3MiB") return static_cast<uint8_t>((i * 13 + (i >> 10)) % 256);
  ADD_FAILURE() << "unknown fixture file " << file;
  return 0;
}

core::Result<ImportResult> import_bytes(BlockStore& store, const Bytes& data,
                                        const ImportOptions& options) {
  BytesFile file(data);
  return import_file(store, file, options, /*pin=*/true);
}

Bytes read_all(BlockStore& store, const crypto::Cid& root) {
  auto reader = FileReader::open(store, root);
  EXPECT_TRUE(reader) << reader.error().message();
  Bytes out;
  EXPECT_TRUE(reader->read(0, UINT64_MAX, [&](core::ByteView piece) {
    out.insert(out.end(), piece.begin(), piece.end());
    return core::ok();
  }));
  return out;
}

TEST(Importer, RootCidsMatchTheIpfsReferenceImporterForEveryFixtureAndPreset) {
  auto fixtures = load_fixtures();
  ASSERT_EQ(fixtures.size(), 12u);
  for (const Fixture& f : fixtures) {
    SCOPED_TRACE(f.file + " " + f.preset);
    auto store = make_memory_store();
    GeneratedFile file(f.size, [&](uint64_t i) { return fixture_byte(f.file, i); });
    auto result = import_file(*store, file, import_preset(f.preset).value(), true);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->root.to_string(), f.cid);
    EXPECT_EQ(result->file_size, f.size);
    // And the DAG reads back as the same bytes.
    Bytes back = read_all(*store, result->root);
    // Importing the same bytes from memory, on this thread, gives the same DAG.
    auto again =
        blockstore::import_bytes(*make_memory_store(), back, import_preset(f.preset).value(),
                                 /*pin=*/true);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->root.to_string(), f.cid);
    EXPECT_EQ(again->blocks, result->blocks);
    ASSERT_EQ(back.size(), f.size);
    for (uint64_t i = 0; i < f.size; ++i) ASSERT_EQ(back[i], fixture_byte(f.file, i)) << i;
  }
}

TEST(Importer, SingleThreadedAndTinyBatchesGiveTheSameRoot) {
  auto options = import_preset("kubo-default").value();
  auto generator = [](uint64_t i) { return static_cast<uint8_t>((i * 13 + (i >> 10)) % 256); };
  auto store = make_memory_store();
  GeneratedFile a(3158073, generator);
  auto parallel = import_file(*store, a, options, true, {}, 2, 16 << 20);
  GeneratedFile b(3158073, generator);
  auto serial = import_file(*store, b, options, true, {}, 1, 1);
  ASSERT_TRUE(parallel && serial);
  EXPECT_EQ(parallel->root, serial->root);
  EXPECT_EQ(serial->new_blocks, 0u);  // everything was already stored by the first import
}

TEST(Importer, BuildsABalancedTreeWithAtMostMaxLinksPerNode) {
  ImportOptions options{.chunk_size = 4, .raw_leaves = true, .cid_version = 1, .max_links = 3};
  Bytes data(4 * 10 + 1);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  auto store = make_memory_store();
  auto result = import_bytes(*store, data, options).value();
  // 11 leaves -> 4 parents (3,3,3,2) -> 2 parents (3,1) -> root (2).
  EXPECT_EQ(result.blocks, 11u + 4u + 2u + 1u);
  auto root = decode_pb_node(store->get(result.root).value()).value();
  ASSERT_EQ(root.links.size(), 2u);
  auto unixfs = decode_unixfs(*root.data).value();
  EXPECT_EQ(unixfs.filesize, data.size());
  EXPECT_EQ(unixfs.blocksizes, (std::vector<uint64_t>{36, 5}));
  EXPECT_EQ(read_all(*store, result.root), data);
}

TEST(Importer, PinsTheWholeDagOfTheRoot) {
  ImportOptions options{.chunk_size = 16, .raw_leaves = false, .cid_version = 0, .max_links = 4};
  Bytes data(1000, 7);  // identical chunks: one leaf block referenced many times
  data[999] = 8;
  auto store = make_memory_store();
  auto result = import_bytes(*store, data, options).value();
  auto pins = store->pins().value();
  ASSERT_EQ(pins.size(), 1u);
  EXPECT_EQ(pins[0].root, result.root.to_v1());  // the store lists roots in CIDv1 form
  EXPECT_TRUE(store->gc().has_value());
  EXPECT_EQ(read_all(*store, result.root), data);
  ASSERT_TRUE(store->unpin(result.root));
  auto gc = store->gc().value();
  EXPECT_EQ(gc.blocks_removed, result.new_blocks);
  EXPECT_EQ(store->stats().value().blocks, 0u);
}

TEST(Importer, AFailedReadLeavesNoNewBlocksBehind) {
  auto store = make_memory_store();
  Bytes existing(100, 1);
  ASSERT_TRUE(store->put(Block::make(crypto::Codec::kRaw, existing)));
  GeneratedFile file(
      10 << 20, [](uint64_t i) { return static_cast<uint8_t>(i); }, 5 << 20);
  auto result =
      import_file(*store, file, import_preset("v1-raw-256k").value(), true, {}, 2, 1 << 20);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kIo);
  EXPECT_EQ(store->stats().value().blocks, 1u);
}

TEST(Importer, AFullStoreFailsWithStoreFullAndKeepsNothingOfTheImport) {
  auto store = make_memory_store(3 << 20);
  // Every chunk differs, so nothing deduplicates.
  GeneratedFile file(8 << 20, [](uint64_t i) { return static_cast<uint8_t>(i * 7 + (i >> 18)); });
  auto result =
      import_file(*store, file, import_preset("v1-raw-256k").value(), true, {}, 2, 1 << 20);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kStoreFull);
  EXPECT_EQ(store->stats().value().blocks, 0u);
}

TEST(Importer, ReportsProgressAfterEveryBatch) {
  auto store = make_memory_store();
  GeneratedFile file(5 << 20, [](uint64_t i) { return static_cast<uint8_t>(i >> 3); });
  std::vector<uint64_t> reports;
  ImportCallbacks callbacks{.progress = [&](uint64_t done) { reports.push_back(done); }};
  ASSERT_TRUE(
      import_file(*store, file, import_preset("v1-raw-256k").value(), true, callbacks, 2, 1 << 20));
  ASSERT_GE(reports.size(), 5u);
  EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
  EXPECT_EQ(reports.back(), 5u << 20);
}

TEST(ImportOptions, RejectsImpossibleCombinationsAndUnknownPresets) {
  EXPECT_FALSE((ImportOptions{.chunk_size = 0}.validate()));
  EXPECT_FALSE((ImportOptions{.chunk_size = 2 << 20}.validate()));
  EXPECT_FALSE((ImportOptions{.max_links = 1}.validate()));
  EXPECT_FALSE((ImportOptions{.raw_leaves = true, .cid_version = 0}.validate()));
  auto bad = import_preset("kubo");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("kubo-default"), std::string::npos);
}

}  // namespace
}  // namespace synapse::blockstore
