#include "staged_file.h"

#include <gtest/gtest.h>

#include <random>

#include "synapse/blockstore/importer.h"
#include "synapse/blockstore/memory_store.h"
#include "test_util.h"

namespace synapse::fs {
namespace {

using testing::TempDir;
using testing::test_seed;

constexpr uint64_t kChunk = 1024;

blockstore::ImportOptions small_chunks() {
  blockstore::ImportOptions options;
  options.chunk_size = kChunk;
  return options;
}

// Commits the staged content the way the file system does, returning its root.
std::optional<crypto::Cid> commit(blockstore::BlockStore& store, StagedFile& file) {
  if (file.size() == 0) return std::nullopt;
  auto content = file.content();
  auto imported = blockstore::import_file(store, *content, small_chunks(), true, {}, 1);
  EXPECT_TRUE(imported) << imported.error().message();
  return imported->root;
}

core::Bytes read_all(StagedFile& file) {
  core::Bytes out(file.size());
  auto n = file.read(0, out);
  EXPECT_TRUE(n);
  EXPECT_EQ(*n, out.size());
  return out;
}

TEST(StagedFile, RandomWritesTruncatesAndCommitsMatchAModel) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("SYNAPSE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  auto store = blockstore::make_memory_store();
  auto file =
      StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, small_chunks());
  ASSERT_TRUE(file);
  core::Bytes model;
  for (int step = 0; step < 3000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5) {
      const uint64_t offset = rng() % (model.size() + 3 * kChunk);
      core::Bytes data(1 + rng() % (2 * kChunk));
      for (auto& byte : data) byte = static_cast<uint8_t>(rng());
      ASSERT_TRUE((*file)->write(offset, data));
      if (model.size() < offset + data.size()) model.resize(offset + data.size());
      std::copy(data.begin(), data.end(), model.begin() + static_cast<ptrdiff_t>(offset));
    } else if (op < 7) {
      const uint64_t size = rng() % (model.size() + 2 * kChunk);
      ASSERT_TRUE((*file)->truncate(size));
      model.resize(size);
    } else if (op < 8) {
      ASSERT_TRUE((*file)->rebase(commit(*store, **file)));
      EXPECT_FALSE((*file)->dirty());
    } else {
      const uint64_t offset = rng() % (model.size() + 1);
      core::Bytes out(rng() % (3 * kChunk));
      auto n = (*file)->read(offset, out);
      ASSERT_TRUE(n);
      const size_t expected = std::min<size_t>(out.size(), model.size() - offset);
      ASSERT_EQ(*n, expected) << "step " << step;
      ASSERT_TRUE(std::equal(out.begin(), out.begin() + static_cast<ptrdiff_t>(expected),
                             model.begin() + static_cast<ptrdiff_t>(offset)))
          << "step " << step;
    }
    ASSERT_EQ((*file)->size(), model.size());
  }
  EXPECT_EQ(read_all(**file), model);
}

TEST(StagedFile, RewritingOneChunkOfALargeFileStoresOnlyThatChunk) {
  TempDir dir;
  auto store = blockstore::make_memory_store();
  auto file =
      StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, small_chunks());
  ASSERT_TRUE(file);
  core::Bytes data(200 * kChunk);
  std::mt19937_64 rng(7);
  for (auto& byte : data) byte = static_cast<uint8_t>(rng());
  ASSERT_TRUE((*file)->write(0, data));
  auto root = commit(*store, **file);
  ASSERT_TRUE((*file)->rebase(root));
  const uint64_t before = store->stats()->blocks;
  ASSERT_TRUE((*file)->write(100 * kChunk + 10, core::Bytes{1, 2, 3}));
  commit(*store, **file);
  // One new leaf plus the interior nodes on its path (two levels at 174 links) and the root.
  EXPECT_LE(store->stats()->blocks - before, 3u);
}

}  // namespace
}  // namespace synapse::fs

namespace synapse::fs {
namespace {

// Reads go straight to the leaf that holds them, for every DAG shape the importer makes.
TEST(StagedFile, ReadsAnyRangeOfACommittedDagOfEveryPreset) {
  std::mt19937_64 rng(11);
  core::Bytes data(3 * 1024 * 1024 + 12345);
  for (auto& byte : data) byte = static_cast<uint8_t>(rng());
  for (const std::string_view preset : blockstore::import_preset_names()) {
    SCOPED_TRACE(std::string(preset));
    auto store = blockstore::make_memory_store();
    const auto options = blockstore::import_preset(preset).value();
    auto imported = blockstore::import_bytes(*store, data, options, false);
    ASSERT_TRUE(imported);
    testing::TempDir dir;
    auto file = StagedFile::open(*store, core::Env::posix(), dir.path(), imported->root, options);
    ASSERT_TRUE(file);
    ASSERT_EQ((*file)->size(), data.size());
    for (int i = 0; i < 200; ++i) {
      const uint64_t offset = rng() % data.size();
      core::Bytes out(1 + rng() % (600 * 1024));
      auto n = (*file)->read(offset, out);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_EQ(*n, std::min<size_t>(out.size(), data.size() - offset));
      ASSERT_TRUE(std::equal(out.begin(), out.begin() + static_cast<ptrdiff_t>(*n),
                             data.begin() + static_cast<ptrdiff_t>(offset)));
    }
  }
}

}  // namespace
}  // namespace synapse::fs

namespace synapse::fs {
namespace {

TEST(StagedFile, AFileWrittenFrontToBackIsChunkedAsItIsWrittenAndGetsTheImportersRoot) {
  std::mt19937_64 rng(5);
  core::Bytes data(50 * kChunk + 517);
  for (auto& byte : data) byte = static_cast<uint8_t>(rng());
  testing::TempDir dir;
  auto store = blockstore::make_memory_store();
  auto file =
      StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, small_chunks());
  ASSERT_TRUE(file);
  for (size_t at = 0; at < data.size();) {
    const size_t n = std::min<size_t>(1 + rng() % (3 * kChunk), data.size() - at);
    ASSERT_TRUE((*file)->write(at, std::span(data).subspan(at, n)));
    at += n;
    // What was written so far reads back, from stored leaves and the tail in memory.
    core::Bytes back(at);
    ASSERT_EQ((*file)->read(0, back).value_or(0), at);
    ASSERT_TRUE(std::equal(back.begin(), back.end(), data.begin()));
  }
  ASSERT_TRUE((*file)->streaming());
  auto root = (*file)->finish_stream();
  ASSERT_TRUE(root && *root);
  auto expected =
      blockstore::import_bytes(*blockstore::make_memory_store(), data, small_chunks(), false);
  EXPECT_EQ(**root, expected->root);
  EXPECT_EQ(read_all(**file), data);
  // Every block of the DAG is stored and the root pinned.
  EXPECT_EQ(store->pins()->size(), 1u);
  EXPECT_TRUE(store->verify()->corrupt.empty());
}

TEST(StagedFile, AWriteBehindTheEndStopsStreamingAndKeepsTheContent) {
  testing::TempDir dir;
  auto store = blockstore::make_memory_store();
  auto file =
      StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, small_chunks());
  ASSERT_TRUE(file);
  core::Bytes data(5 * kChunk + 3, 'a');
  ASSERT_TRUE((*file)->write(0, data));
  ASSERT_TRUE((*file)->write(kChunk + 1, core::Bytes{'b'}));
  data[kChunk + 1] = 'b';
  EXPECT_FALSE((*file)->streaming());
  EXPECT_EQ(read_all(**file), data);
}

}  // namespace
}  // namespace synapse::fs
