#include "synapse/daemon/peer_cache.h"

#include <gtest/gtest.h>

#include "synapse/core/rng.h"
#include "test_util.h"

namespace synapse::daemon {
namespace {

std::vector<SavedPeer> some_peers(size_t count) {
  core::SeededRng rng(1);
  std::vector<SavedPeer> peers;
  for (size_t i = 0; i < count; ++i) {
    std::array<uint8_t, 32> id{};
    rng.fill(id);
    peers.push_back({crypto::NodeId(id), dht::Endpoint::ipv4({10, 0, static_cast<uint8_t>(i >> 8),
                                                              static_cast<uint8_t>(i)},
                                                             static_cast<uint16_t>(4000 + i))});
  }
  return peers;
}

TEST(PeerCache, EncodesAndDecodesPeers) {
  const std::vector<SavedPeer> peers = some_peers(5);
  auto decoded = decode_peer_cache(encode_peer_cache(peers));
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(*decoded, peers);
}

TEST(PeerCache, KeepsAtMostTheLimit) {
  const std::vector<SavedPeer> peers = some_peers(kMaxSavedPeers + 10);
  auto decoded = decode_peer_cache(encode_peer_cache(peers));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size(), kMaxSavedPeers);
}

TEST(PeerCache, SkipsBadEntriesButKeepsTheRest) {
  const std::string text = R"({"version": 1, "peers": [
    {"id": "zz", "address": "10.0.0.1:1"},
    {"id": ")" + std::string(64, 'b') +
                           R"(", "address": "not an address"},
    {"id": ")" + std::string(64, 'c') +
                           R"(", "address": "10.0.0.3:3"},
    7]})";
  auto decoded = decode_peer_cache(text);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ(decoded->front().address.to_string(), "10.0.0.3:3");
}

TEST(PeerCache, RejectsOtherVersionsAndGarbage) {
  EXPECT_FALSE(decode_peer_cache(R"({"version": 2, "peers": []})"));
  EXPECT_FALSE(decode_peer_cache("garbage"));
  EXPECT_FALSE(decode_peer_cache(R"({"version": 1})"));
}

TEST(PeerCache, SavesWithMode0600AndLoadsBack) {
  testing::TempDir dir;
  const std::vector<SavedPeer> peers = some_peers(3);
  ASSERT_TRUE(save_peer_cache(core::Env::posix(), dir / "peers.json", peers));
  EXPECT_EQ(std::filesystem::status(dir / "peers.json").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto loaded = load_peer_cache(core::Env::posix(), dir / "peers.json");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, peers);
}

TEST(PeerCache, MissingFileMeansNoPeers) {
  testing::TempDir dir;
  auto loaded = load_peer_cache(core::Env::posix(), dir / "peers.json");
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->empty());
}

}  // namespace
}  // namespace synapse::daemon
