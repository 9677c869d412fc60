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
  auto file = StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, kChunk);
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
  auto file = StagedFile::open(*store, core::Env::posix(), dir.path(), std::nullopt, kChunk);
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
