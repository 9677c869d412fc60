#include "synapse/fs/entry.h"

#include <gtest/gtest.h>

namespace synapse::fs {
namespace {

Entry file_entry(const std::string& name, uint64_t hlc, uint8_t writer) {
  Entry entry;
  entry.name = name;
  entry.kind = EntryKind::kFile;
  entry.version = Version{Hlc{hlc}, WriterId{writer}};
  entry.size = 42;
  entry.mode = 0644;
  entry.mtime_ns = -5;
  entry.content = crypto::Cid::of(1, crypto::Codec::kRaw, core::Bytes{1, 2, 3});
  return entry;
}

TEST(HlcClock, GrowsWhenTheWallClockStallsOrStepsBack) {
  HlcClock clock;
  const Hlc a = clock.tick(1000);
  const Hlc b = clock.tick(1000);
  const Hlc c = clock.tick(900);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a.wall_ms(), 1000u);
  EXPECT_EQ(clock.tick(2000).wall_ms(), 2000u);
}

TEST(HlcClock, OrdersAfterWhatItObserved) {
  HlcClock clock;
  clock.observe(Hlc{(uint64_t{5000} << 16) + 7});
  EXPECT_GT(clock.tick(1000), Hlc{(uint64_t{5000} << 16) + 7});
}

TEST(LayerCodec, RoundTripsEveryKindOfEntry) {
  Layer layer;
  Entry file = file_entry("a.txt", 77, 1);
  file.replaces = {Version{Hlc{1}, WriterId{2}}, Version{Hlc{5}, WriterId{3}}};
  layer.entries["a.txt"] = file;
  Entry dir;
  dir.name = "d";
  dir.kind = EntryKind::kDirectory;
  dir.dirs = {DirId{1}, DirId{9}};
  dir.version = Version{Hlc{3}, WriterId{1}};
  layer.entries["d"] = dir;
  Entry link;
  link.name = "l";
  link.kind = EntryKind::kSymlink;
  link.target = "../x";
  layer.entries["l"] = link;
  Entry gone;
  gone.name = "gone";
  gone.kind = EntryKind::kDeleted;
  layer.entries["gone"] = gone;
  auto decoded = decode_layer(encode_layer(layer));
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(*decoded, layer);
}

TEST(LayerCodec, RejectsMalformedInput) {
  Layer layer;
  layer.entries["a"] = file_entry("a", 1, 1);
  core::Bytes bytes = encode_layer(layer);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_layer(core::ByteView(bytes).first(cut))) << cut;
  }
  bytes.push_back(0);
  EXPECT_FALSE(decode_layer(bytes));
  Layer bad;
  bad.entries["x/y"] = file_entry("x/y", 1, 1);
  EXPECT_FALSE(decode_layer(encode_layer(bad)));
  Layer dir_without_ids;
  dir_without_ids.entries["d"] = file_entry("d", 1, 1);
  dir_without_ids.entries["d"].kind = EntryKind::kDirectory;
  EXPECT_FALSE(decode_layer(encode_layer(dir_without_ids)));
}

}  // namespace
}  // namespace synapse::fs
