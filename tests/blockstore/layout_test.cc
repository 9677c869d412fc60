// dag-pb and UnixFS codecs.
#include <gtest/gtest.h>

#include "synapse/blockstore/block.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::blockstore {
namespace {

using core::Bytes;
using crypto::Cid;
using crypto::Codec;

Cid some_cid(uint8_t fill) {
  crypto::Sha256Digest digest;
  digest.fill(fill);
  return Cid::v1(Codec::kRaw, digest);
}

TEST(DagPb, EncodesLinksBeforeDataAndRoundTrips) {
  PbNode node{.links = {PbLink{some_cid(1), "", 10}, PbLink{some_cid(2), "x", std::nullopt}},
              .data = Bytes{1, 2, 3}};
  Bytes encoded = encode_pb_node(node);
  EXPECT_EQ(encoded[0], 0x12);  // field 2 (Links) first: canonical dag-pb
  EXPECT_EQ(decode_pb_node(encoded).value(), node);
  auto links = child_links(Cid::of(1, Codec::kDagPb, encoded), encoded).value();
  EXPECT_EQ(links, (std::vector<Cid>{some_cid(1), some_cid(2)}));
}

TEST(DagPb, HelloWorldLeafHashesToTheWellKnownCid) {
  UnixfsData unixfs{.type = UnixfsType::kFile, .data = Bytes{}, .filesize = 12};
  const std::string text = "hello world\n";
  unixfs.data = Bytes(text.begin(), text.end());
  Bytes encoded = encode_pb_node(PbNode{.links = {}, .data = encode_unixfs(unixfs)});
  EXPECT_EQ(Cid::of(0, Codec::kDagPb, encoded).to_string(),
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
}

TEST(DagPb, RejectsDataBeforeLinksUnknownFieldsAndTruncation) {
  // Data (field 1) followed by a link (field 2): not canonical.
  Bytes data_then_link = {0x0a, 0x00, 0x12, 0x00};
  EXPECT_FALSE(decode_pb_node(data_then_link));
  Bytes unknown_field = {0x1a, 0x00};
  EXPECT_FALSE(decode_pb_node(unknown_field));
  Bytes truncated = {0x0a, 0x05, 0x01};
  EXPECT_FALSE(decode_pb_node(truncated));
  Bytes link_without_hash = {0x12, 0x02, 0x18, 0x01};
  EXPECT_FALSE(decode_pb_node(link_without_hash));
  Bytes link_with_bad_cid = {0x12, 0x04, 0x0a, 0x02, 0x01, 0x55};
  auto bad = decode_pb_node(link_with_bad_cid);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("link hash"), std::string::npos);
}

TEST(DagPb, RawBlocksHaveNoLinks) {
  Bytes anything = {0xff, 0xff};
  EXPECT_TRUE(child_links(some_cid(3), anything).value().empty());
}

TEST(Unixfs, EncodesTheEmptyFileAsTheReferenceImporterDoes) {
  UnixfsData empty{.type = UnixfsType::kFile, .filesize = 0};
  EXPECT_EQ(encode_unixfs(empty), (Bytes{0x08, 0x02, 0x18, 0x00}));
}

TEST(Unixfs, RoundTripsEveryFieldAndAcceptsPackedBlocksizes) {
  UnixfsData full{.type = UnixfsType::kFile,
                  .data = Bytes{9, 9},
                  .filesize = 300,
                  .blocksizes = {100, 198},
                  .hash_type = 0x22,
                  .fanout = 256,
                  .mode = 0644,
                  .mtime = Bytes{0x08, 0x01}};
  EXPECT_EQ(decode_unixfs(encode_unixfs(full)).value(), full);
  Bytes packed = {0x08, 0x02, 0x22, 0x03, 0x64, 0xac, 0x02};  // blocksizes [100, 300] packed
  EXPECT_EQ(decode_unixfs(packed).value().blocksizes, (std::vector<uint64_t>{100, 300}));
}

TEST(Unixfs, RejectsMissingTypeUnknownTypeAndWrongWireTypes) {
  EXPECT_FALSE(decode_unixfs(Bytes{0x18, 0x00}));
  EXPECT_FALSE(decode_unixfs(Bytes{0x08, 0x09}));
  EXPECT_FALSE(decode_unixfs(Bytes{0x08, 0x02, 0x12, 0x01}));  // truncated Data
  EXPECT_FALSE(decode_unixfs(Bytes{0x08, 0x02, 0x10, 0x01}));  // Data as a varint
  EXPECT_FALSE(decode_unixfs(Bytes{0x08, 0x02, 0x48, 0x01}));  // unknown field 9
}

}  // namespace
}  // namespace synapse::blockstore
