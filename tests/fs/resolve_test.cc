#include "synapse/fs/resolve.h"

#include <gtest/gtest.h>

#include <random>

#include "test_util.h"

namespace synapse::fs {
namespace {

constexpr uint64_t kSecond = uint64_t{1000} << 16;  // one second of HLC

Entry record(const std::string& name, EntryKind kind, uint64_t hlc, uint8_t writer,
             std::vector<Version> replaces = {}) {
  Entry entry;
  entry.name = name;
  entry.kind = kind;
  entry.version = Version{Hlc{hlc}, WriterId{writer}};
  entry.replaces = std::move(replaces);
  if (kind == EntryKind::kDirectory) entry.dirs = {DirId{writer}};
  return entry;
}

Version v(uint64_t hlc, uint8_t writer) { return Version{Hlc{hlc}, WriterId{writer}}; }

DirView resolve_layers(const std::vector<Layer>& layers) {
  std::vector<const Layer*> pointers;
  for (const Layer& layer : layers) pointers.push_back(&layer);
  return resolve(pointers);
}

Layer layer_of(std::vector<Entry> entries) {
  Layer layer;
  for (Entry& entry : entries) layer.entries[entry.name] = std::move(entry);
  return layer;
}

TEST(Resolve, NewerRecordThatKnewTheOldOneReplacesItWithoutConflict) {
  const Layer a = layer_of({record("f", EntryKind::kFile, 10 * kSecond, 1)});
  const Layer b = layer_of({record("f", EntryKind::kFile, 20 * kSecond, 2, {v(10 * kSecond, 1)})});
  const DirView view = resolve_layers({a, b});
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view.at("f").entry.version, v(20 * kSecond, 2));
  EXPECT_FALSE(view.at("f").conflict_copy);
}

TEST(Resolve, ConcurrentWritesKeepTheHighestVersionAndAConflictCopyOfTheOther) {
  const Layer a = layer_of({record("f", EntryKind::kFile, 1'700'000'000'000 << 16, 0xaa)});
  const Layer b = layer_of({record("f", EntryKind::kFile, (1'700'000'000'000 << 16) + 1, 0xbb)});
  // The same view whatever the order of the layers.
  const DirView view = resolve_layers({a, b});
  EXPECT_EQ(resolve_layers({b, a}).size(), view.size());
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view.at("f").entry.version.writer, WriterId{0xbb});
  const std::string copy = "f.conflict-aa000000-20231114T221320Z";
  ASSERT_TRUE(view.count(copy)) << view.rbegin()->first;
  EXPECT_TRUE(view.at(copy).conflict_copy);
  EXPECT_EQ(view.at(copy).base_name, "f");
}

TEST(Resolve, TombstoneHidesWhatItReplacedButNotAConcurrentWrite) {
  const Layer a = layer_of({record("f", EntryKind::kFile, 10, 1)});
  const Layer b = layer_of({record("f", EntryKind::kDeleted, 20, 2, {v(10, 1)})});
  EXPECT_TRUE(resolve_layers({a, b}).empty());
  const Layer c = layer_of({record("f", EntryKind::kFile, 15, 3)});
  const DirView view = resolve_layers({a, b, c});
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view.at("f").entry.version, v(15, 3));
}

TEST(Resolve, ConcurrentMkdirOfOneNameMergesIntoOneDirectory) {
  const Layer a = layer_of({record("d", EntryKind::kDirectory, 10, 1)});
  const Layer b = layer_of({record("d", EntryKind::kDirectory, 11, 2)});
  const DirView view = resolve_layers({a, b});
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view.at("d").entry.dirs, (std::vector<DirId>{DirId{1}, DirId{2}}));
  EXPECT_EQ(view.at("d").versions.size(), 2u);
}

TEST(Resolve, FileAndDirectoryOfOneNameBothSurvive) {
  const Layer a = layer_of({record("x", EntryKind::kDirectory, 10, 1)});
  const Layer b = layer_of({record("x", EntryKind::kFile, 11, 2)});
  const DirView view = resolve_layers({a, b});
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view.at("x").entry.kind, EntryKind::kFile);
}

TEST(Resolve, RecordOfAnotherNameReplacesTheRenamedOne) {
  const Layer a = layer_of({record("old", EntryKind::kFile, 10, 1)});
  const Layer b = layer_of({record("new", EntryKind::kFile, 20, 2, {v(10, 1)})});
  const DirView view = resolve_layers({a, b});
  ASSERT_EQ(view.size(), 1u);
  EXPECT_TRUE(view.count("new"));
}

TEST(Resolve, ConcurrentCreatesOfDifferentNamesBothSurvive) {
  const Layer a = layer_of({record("a", EntryKind::kFile, 10, 1)});
  const Layer b = layer_of({record("b", EntryKind::kFile, 10, 2)});
  EXPECT_EQ(resolve_layers({a, b}).size(), 2u);
}

}  // namespace
}  // namespace synapse::fs

namespace synapse::fs {
namespace {

bool same_view(const DirView& a, const DirView& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || !(ia->second.entry == ib->second.entry) ||
        ia->second.versions != ib->second.versions) {
      return false;
    }
  }
  return true;
}

// The incremental Resolver always shows what a full resolve() of the same layers shows.
TEST(Resolver, IncrementalChangesMatchAFullResolution) {
  const uint64_t seed = synapse::testing::test_seed();
  SCOPED_TRACE("SYNAPSE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<Layer> layers(3);
  std::vector<Version> versions;
  auto random_record = [&](uint8_t writer) {
    const std::string name = "n" + std::to_string(rng() % 8);
    const auto kinds = {EntryKind::kFile, EntryKind::kDirectory, EntryKind::kDeleted};
    Entry entry =
        record(name, *std::next(kinds.begin(), static_cast<long>(rng() % 3)), rng() % 1000, writer);
    for (size_t i = 0; i < rng() % 3 && !versions.empty(); ++i) {
      entry.replaces.push_back(versions[rng() % versions.size()]);
    }
    std::sort(entry.replaces.begin(), entry.replaces.end());
    entry.replaces.erase(std::unique(entry.replaces.begin(), entry.replaces.end()),
                         entry.replaces.end());
    versions.push_back(entry.version);
    return entry;
  };
  for (uint8_t w = 1; w <= 2; ++w) {
    for (int i = 0; i < 6; ++i) {
      Entry entry = random_record(w);
      layers[w].entries[entry.name] = entry;
    }
  }
  std::vector<const Layer*> pointers{&layers[0], &layers[1], &layers[2]};
  Resolver resolver;
  resolver.reset(pointers);
  for (int step = 0; step < 500; ++step) {
    // Layer 0 changes one record at a time, as this node's own layer does.
    Entry entry = random_record(0);
    auto it = layers[0].entries.find(entry.name);
    if (it != layers[0].entries.end()) resolver.remove(&it->second);
    if (rng() % 5 == 0) {
      if (it != layers[0].entries.end()) layers[0].entries.erase(it);
    } else {
      Entry& slot = layers[0].entries[entry.name];
      slot = entry;
      resolver.add(&slot);
    }
    ASSERT_TRUE(same_view(resolver.view(), resolve(pointers))) << "step " << step;
  }
}

}  // namespace
}  // namespace synapse::fs
