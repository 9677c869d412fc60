#include "synapse/exchange/peer_scores.h"

#include <gtest/gtest.h>

#include <vector>

namespace synapse::exchange {
namespace {

using namespace std::chrono_literals;
using crypto::NodeId;

const core::MonoTime kStart = core::MonoTime{} + 1000s;

NodeId peer(uint32_t n) {
  std::array<uint8_t, NodeId::kSize> bytes{};
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  bytes[31] = 0x5a;
  return NodeId(bytes);
}

// `count` 256 KiB blocks, each taking 10 ms: about 25 MiB/s.
void deliver(PeerScores& scores, const NodeId& id, int count, core::MonoTime now) {
  for (int i = 0; i < count; ++i) scores.on_block(id, 256 * 1024, 10ms, 10ms, now);
}

TEST(PeerScores, AnUnknownPeerScoresOneHalfAndIsNotBackedOff) {
  PeerScores scores;
  EXPECT_DOUBLE_EQ(scores.score(peer(1)), 0.5);
  EXPECT_FALSE(scores.backed_off(peer(1), kStart));
  EXPECT_EQ(scores.find(peer(1)), nullptr);
  EXPECT_TRUE(scores.records().empty());
}

TEST(PeerScores, SuccessesRaiseTheScoreAboveAFailingPeers) {
  PeerScores scores;
  const NodeId good = peer(1);
  const NodeId failing = peer(2);
  double previous = 0;
  for (int i = 0; i < 10; ++i) {
    deliver(scores, good, 1, kStart + i * 1s);
    const double now = scores.score(good);
    EXPECT_GT(now, previous) << "after " << i + 1 << " blocks";
    previous = now;
    scores.on_failure(failing, kStart + i * 1s);
  }
  EXPECT_GT(scores.score(good), 0.5);
  EXPECT_LT(scores.score(failing), 0.5);
  EXPECT_GT(scores.score(good), scores.score(failing));
  EXPECT_LE(scores.score(good), 1.0);
  EXPECT_GT(scores.score(failing), 0.0);

  const PeerRecord* record = scores.find(good);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->blocks_received, 10u);
  EXPECT_EQ(record->bytes_received, 10u * 256 * 1024);
  EXPECT_EQ(record->failures, 0u);
  EXPECT_NEAR(record->latency_ms, 10.0, 1e-9);
  EXPECT_NEAR(record->throughput, 256.0 * 1024 / 0.01, 1.0);
  EXPECT_EQ(scores.find(failing)->failures, 10u);
}

TEST(PeerScores, AFasterPeerScoresHigherThanASlowerOneWithTheSameRecord) {
  PeerScores scores;
  for (int i = 0; i < 5; ++i) {
    scores.on_block(peer(1), 256 * 1024, 5ms, 5ms, kStart);
    scores.on_block(peer(2), 256 * 1024, 500ms, 500ms, kStart);
  }
  EXPECT_GT(scores.score(peer(1)), scores.score(peer(2)));
  EXPECT_LT(scores.find(peer(1))->latency_ms, scores.find(peer(2))->latency_ms);
}

TEST(PeerScores, MovingAveragesWeighTheNewestSampleByOneFifth) {
  PeerScores scores;
  scores.on_block(peer(1), 1000, 100ms, 1s, kStart);
  EXPECT_NEAR(scores.find(peer(1))->latency_ms, 100.0, 1e-9);
  EXPECT_NEAR(scores.find(peer(1))->throughput, 1000.0, 1e-9);
  scores.on_block(peer(1), 1000, 200ms, 500ms, kStart);
  EXPECT_NEAR(scores.find(peer(1))->latency_ms, 100.0 + 0.2 * 100.0, 1e-9);
  EXPECT_NEAR(scores.find(peer(1))->throughput, 1000.0 + 0.2 * 1000.0, 1e-9);
}

TEST(PeerScores, ABadBlockLowersTheScoreAndBacksThePeerOff) {
  PeerScores scores;
  const NodeId id = peer(1);
  deliver(scores, id, 5, kStart);
  const double before = scores.score(id);
  ASSERT_FALSE(scores.backed_off(id, kStart));

  scores.on_bad_block(id, kStart);
  EXPECT_LT(scores.score(id), before);
  EXPECT_NEAR(scores.score(id), before / 2, 1e-12);  // each corrupt block halves it
  EXPECT_LT(scores.score(id), 0.5);                  // below a peer never seen
  EXPECT_EQ(scores.find(id)->bad_blocks, 1u);
  EXPECT_TRUE(scores.backed_off(id, kStart));
  EXPECT_TRUE(scores.backed_off(id, kStart + 59s));
  EXPECT_FALSE(scores.backed_off(id, kStart + 60s));

  // A second corrupt block: two minutes.
  scores.on_bad_block(id, kStart + 60s);
  EXPECT_NEAR(scores.score(id), before / 4, 1e-12);
  EXPECT_TRUE(scores.backed_off(id, kStart + 60s + 119s));
  EXPECT_FALSE(scores.backed_off(id, kStart + 60s + 120s));
  // Good blocks do not lift the backoff early.
  deliver(scores, id, 3, kStart + 61s);
  EXPECT_TRUE(scores.backed_off(id, kStart + 62s));
}

TEST(PeerScores, ThreeConsecutiveFailuresBackThePeerOffUntilTheBackoffPasses) {
  PeerScores scores;
  const NodeId id = peer(1);
  scores.on_failure(id, kStart);
  scores.on_failure(id, kStart);
  EXPECT_FALSE(scores.backed_off(id, kStart));
  scores.on_failure(id, kStart);
  EXPECT_TRUE(scores.backed_off(id, kStart));
  EXPECT_TRUE(scores.backed_off(id, kStart + 999ms));
  EXPECT_FALSE(scores.backed_off(id, kStart + 1s));
  EXPECT_EQ(scores.find(id)->consecutive_failures, 3u);

  // The fourth failure in a row doubles it.
  scores.on_failure(id, kStart + 1s);
  EXPECT_TRUE(scores.backed_off(id, kStart + 2s + 999ms));
  EXPECT_FALSE(scores.backed_off(id, kStart + 3s));

  // Many more: capped at five minutes.
  core::MonoTime now = kStart + 10s;
  for (int i = 0; i < 30; ++i) scores.on_failure(id, now);
  EXPECT_TRUE(scores.backed_off(id, now + 5min - 1ms));
  EXPECT_FALSE(scores.backed_off(id, now + 5min));
}

TEST(PeerScores, ASuccessBetweenFailuresResetsTheCount) {
  PeerScores scores;
  const NodeId id = peer(1);
  scores.on_failure(id, kStart);
  scores.on_failure(id, kStart);
  deliver(scores, id, 1, kStart);
  EXPECT_EQ(scores.find(id)->consecutive_failures, 0u);
  scores.on_failure(id, kStart);
  scores.on_failure(id, kStart);
  EXPECT_FALSE(scores.backed_off(id, kStart));
  EXPECT_EQ(scores.find(id)->failures, 4u);
}

TEST(PeerScores, OrderPutsBackedOffPeersLastAndBetterScoresFirst) {
  PeerScores scores;
  const NodeId best = peer(1);
  const NodeId good = peer(2);
  const NodeId unknown = peer(3);
  const NodeId failing = peer(4);
  const NodeId backed_off = peer(5);
  deliver(scores, best, 20, kStart);
  deliver(scores, good, 3, kStart);
  scores.on_failure(failing, kStart);
  // A fast peer that just failed three times in a row: a high score, but backed off.
  deliver(scores, backed_off, 40, kStart);
  for (int i = 0; i < 3; ++i) scores.on_failure(backed_off, kStart);
  ASSERT_TRUE(scores.backed_off(backed_off, kStart));
  ASSERT_GT(scores.score(backed_off), scores.score(good));
  ASSERT_GT(scores.score(best), scores.score(good));
  ASSERT_GT(scores.score(good), scores.score(unknown));
  ASSERT_GT(scores.score(unknown), scores.score(failing));

  const std::vector<NodeId> input = {backed_off, failing, unknown, good, best};
  EXPECT_EQ(scores.order(input, kStart),
            (std::vector<NodeId>{best, good, unknown, failing, backed_off}));
  // Once the backoff has passed it is ordered by its score again.
  const std::vector<NodeId> later = scores.order(input, kStart + 1s);
  EXPECT_EQ(later.back(), failing);
  EXPECT_EQ(later.front(), scores.score(backed_off) > scores.score(best) ? backed_off : best);
  EXPECT_EQ(std::count(later.begin(), later.end(), backed_off), 1);
  // Equal scores keep their given order.
  EXPECT_EQ(scores.order({peer(9), peer(8), peer(7)}, kStart),
            (std::vector<NodeId>{peer(9), peer(8), peer(7)}));
}

TEST(PeerScores, WindowGrowsWithTheScoreWithinItsBounds) {
  PeerScores scores;
  const NodeId fast = peer(1);
  const NodeId unknown = peer(2);
  const NodeId corrupt = peer(3);
  for (int i = 0; i < 50; ++i) scores.on_block(fast, 1 << 20, 1ms, 1ms, kStart);  // ~1 GiB/s
  scores.on_bad_block(corrupt, kStart);
  scores.on_bad_block(corrupt, kStart);

  const size_t w_fast = scores.window(fast, 4, 64);
  const size_t w_unknown = scores.window(unknown, 4, 64);
  const size_t w_corrupt = scores.window(corrupt, 4, 64);
  EXPECT_EQ(w_unknown, 32u);  // one half of the maximum
  EXPECT_GT(w_fast, w_unknown);
  EXPECT_LE(w_fast, 64u);
  EXPECT_GE(w_fast, 55u);  // a near-perfect peer gets nearly the maximum
  EXPECT_LT(w_corrupt, w_unknown);
  EXPECT_EQ(w_corrupt, 4u);  // clamped to the minimum

  for (const NodeId& id : {fast, unknown, corrupt}) {
    for (auto [lo, hi] : {std::pair<size_t, size_t>{1, 1}, {4, 4}, {8, 16}, {1, 1000}}) {
      const size_t w = scores.window(id, lo, hi);
      EXPECT_GE(w, lo);
      EXPECT_LE(w, hi);
    }
  }
  EXPECT_GE(scores.window(fast, 1, 1000), scores.window(unknown, 1, 1000));
  EXPECT_GE(scores.window(unknown, 1, 1000), scores.window(corrupt, 1, 1000));
}

TEST(PeerScores, RemembersAtMostMaxPeersForgettingTheLeastRecentlySeen) {
  PeerScores scores;
  for (uint32_t i = 0; i < PeerScores::kMaxPeers; ++i) {
    scores.on_failure(peer(i), kStart + std::chrono::milliseconds(i));
  }
  EXPECT_EQ(scores.records().size(), PeerScores::kMaxPeers);
  scores.on_failure(peer(0), kStart + 1h);  // seen again: now the newest
  scores.on_failure(peer(100000), kStart + 2h);
  EXPECT_EQ(scores.records().size(), PeerScores::kMaxPeers);
  EXPECT_NE(scores.find(peer(0)), nullptr);
  EXPECT_EQ(scores.find(peer(1)), nullptr);  // the oldest was forgotten
  EXPECT_NE(scores.find(peer(2)), nullptr);
  EXPECT_NE(scores.find(peer(100000)), nullptr);
}

}  // namespace
}  // namespace synapse::exchange
