// Whole networks in the deterministic simulator (label "sim"). Every test prints its seed on
// failure; SYNAPSE_SEED=<seed> replays a run exactly.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dht/sim/simulator.h"
#include "synapse/core/rng.h"

namespace synapse::dht::sim {
namespace {

using namespace std::chrono_literals;

class SimTest : public ::testing::Test {
 protected:
  // Builds a simulator from `options` with the test's seed ($SYNAPSE_SEED or `fallback`).
  Simulator& make(SimOptions options, uint64_t fallback) {
    options.seed = seed_from_env(fallback);
    seed_ = options.seed;
    sim_.emplace(options);
    return *sim_;
  }
  std::string trace() const {
    return "seed " + std::to_string(seed_) + " (replay with SYNAPSE_SEED=" + std::to_string(seed_) +
           ")";
  }

  SignedValue value(const crypto::NodeIdentity& writer, uint64_t seq, const Key& key,
                    std::string_view text) {
    auto data = core::as_bytes(text);
    return *SignedValue::sign(writer, key, seq, 24 * 3600, core::Bytes(data.begin(), data.end()));
  }
  PutResult put(size_t from, const SignedValue& value) {
    std::optional<PutResult> result;
    sim_->node(from).put(value, sim_->now(), [&](PutResult r) { result = r; });
    EXPECT_TRUE(sim_->run_until([&] { return result.has_value(); }, 120s));
    return result.value_or(PutResult{});
  }
  // Gets `key` from each of `readers` concurrently (one every 5 ms); returns, per reader, the
  // (writer, seq) pairs it saw.
  std::vector<std::set<std::pair<crypto::Ed25519PublicKey, uint64_t>>> get_all(
      const std::vector<size_t>& readers, const Key& key) {
    std::vector<std::set<std::pair<crypto::Ed25519PublicKey, uint64_t>>> seen(readers.size());
    size_t done = 0;
    for (size_t i = 0; i < readers.size(); ++i) {
      sim_->at(sim_->now() + 5ms * static_cast<int64_t>(i), [&, i] {
        sim_->node(readers[i]).get(key, sim_->now(), [&, i](GetResult result) {
          for (const SignedValue& v : result.values) seen[i].insert({v.writer, v.seq});
          ++done;
        });
      });
    }
    EXPECT_TRUE(sim_->run_until([&] { return done == readers.size(); }, 10min));
    return seen;
  }
  std::vector<size_t> live_nodes(int side = -1) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < sim_->size(); ++i) {
      if (sim_->alive(i) && (side < 0 || sim_->side(i) == side)) out.push_back(i);
    }
    return out;
  }
  std::vector<size_t> sample(size_t count) {
    std::vector<size_t> out;
    for (size_t i = 0; i < count; ++i) out.push_back(sim_->random_alive());
    return out;
  }

  uint64_t seed_ = 0;
  std::optional<Simulator> sim_;
  core::SeededRng rng_{1234};
  crypto::NodeIdentity alice_ = crypto::NodeIdentity::generate(rng_);
  crypto::NodeIdentity bob_ = crypto::NodeIdentity::generate(rng_);
};

TEST_F(SimTest, AThousandNodesFindTheClosestNodeInFewHops) {
  Simulator& sim = make({}, 1);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(1000, 1ms), 1000u);
  const LookupReport report = run_lookups(sim, 500, 10ms);
  EXPECT_EQ(report.completed, 500u);
  EXPECT_EQ(report.success_rate(), 1.0);
  EXPECT_LE(quantile(report.hops, 0.5), 3);
  EXPECT_LE(quantile(report.hops, 0.99), 5);

  // A put is readable from every node, and listeners everywhere hear of the next version.
  const Key key = random_id(rng_);
  EXPECT_EQ(put(17, value(alice_, 1, key, "v1")).stored, 20u);
  std::map<size_t, int> heard;
  for (size_t listener : {3u, 300u, 600u, 900u}) {
    sim.node(listener).listen(key, 1h, sim.now(), [&heard, listener](const SignedValue& v) {
      if (v.seq == 2) ++heard[listener];
    });
  }
  const auto everyone = live_nodes();
  const auto seen = get_all(everyone, key);
  for (size_t i = 0; i < everyone.size(); ++i) {
    ASSERT_EQ(seen[i].size(), 1u) << "node " << everyone[i];
  }
  put(500, value(alice_, 2, key, "v2"));
  sim.run_for(5s);
  EXPECT_EQ(heard.size(), 4u);
  for (const auto& [listener, count] : heard) EXPECT_EQ(count, 1) << listener;
}

TEST_F(SimTest, TenThousandNodesMeetTheLookupGoals) {
  Simulator& sim = make({}, 2);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(10'000, 1ms), 10'000u);
  const LookupReport report = run_lookups(sim, 1000, 10ms);
  EXPECT_EQ(report.completed, 1000u);
  EXPECT_EQ(report.success_rate(), 1.0);
  EXPECT_LE(quantile(report.hops, 0.5), 3);
  EXPECT_LE(quantile(report.hops, 0.99), 5);
  std::printf("10k nodes: success %.4f hops p50 %.0f p99 %.0f requests p50 %.0f; %llu messages\n",
              report.success_rate(), quantile(report.hops, 0.5), quantile(report.hops, 0.99),
              quantile(report.messages, 0.5), static_cast<unsigned long long>(sim.stats().sent));

  const Key key = random_id(rng_);
  put(sim.random_alive(), value(alice_, 1, key, "a"));
  put(sim.random_alive(), value(bob_, 7, key, "b"));
  const auto readers = sample(200);
  const auto seen = get_all(readers, key);
  for (size_t i = 0; i < readers.size(); ++i) {
    EXPECT_EQ(seen[i].size(), 2u) << "node " << readers[i];
  }
}

TEST_F(SimTest, LookupsSurviveTwentyPercentSilentDeaths) {
  Simulator& sim = make({}, 3);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(1000, 1ms), 1000u);
  const Key key = random_id(rng_);
  put(5, value(alice_, 1, key, "before"));
  for (size_t killed = 0; killed < 200;) {
    const size_t index = sim.uniform(sim.size());
    if (index != 5 && sim.alive(index)) {
      sim.kill(index);
      ++killed;
    }
  }
  const LookupReport report = run_lookups(sim, 500, 10ms);
  EXPECT_EQ(report.completed, 500u);
  EXPECT_GE(report.success_rate(), 0.99);
  EXPECT_LE(quantile(report.hops, 0.5), 3);
  EXPECT_LE(quantile(report.hops, 0.99), 5);
  // The value survives on its remaining replicas.
  const auto readers = sample(100);
  const auto seen = get_all(readers, key);
  for (size_t i = 0; i < readers.size(); ++i) EXPECT_EQ(seen[i].size(), 1u) << readers[i];
}

TEST_F(SimTest, LookupsAndValuesSurviveALossyNetwork) {
  SimOptions options;
  options.loss = 0.05;
  Simulator& sim = make(options, 4);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(1000, 1ms), 1000u);
  const LookupReport report = run_lookups(sim, 500, 10ms);
  EXPECT_EQ(report.completed, 500u);
  EXPECT_GE(report.success_rate(), 0.99);
  const Key key = random_id(rng_);
  EXPECT_GE(put(9, value(alice_, 1, key, "lossy")).acked, 15u);
  const auto readers = sample(200);
  const auto seen = get_all(readers, key);
  size_t found = 0;
  for (const auto& s : seen) found += s.size();
  EXPECT_GE(found, 198u);  // a get can lose every copy only if ~20 replies in a row vanish
  EXPECT_GT(sim.stats().lost, 0u);
}

TEST_F(SimTest, ValuesAndLookupsSurviveChurn) {
  Simulator& sim = make({}, 5);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(1000, 1ms), 1000u);
  std::vector<Key> keys;
  for (int i = 0; i < 5; ++i) {
    keys.push_back(random_id(rng_));
    put(sim.random_alive(), value(alice_, 1, keys.back(), "churn"));
  }
  // 10% of the nodes replaced per minute for 5 minutes: half the network turns over.
  schedule_churn(sim, 0.10, 1000, 5min);
  const LookupReport report = run_lookups(sim, 3000, 100ms);
  EXPECT_GE(report.completed, 2970u);  // lookups die with their node
  EXPECT_GE(report.success_rate(), 0.95);
  sim.run_for(1min);
  size_t replaced = 0;
  for (size_t i = 1000; i < sim.size(); ++i) replaced += sim.alive(i) ? 1 : 0;
  EXPECT_GT(replaced, 350u);
  // Values written before the churn were re-replicated onto the nodes that joined.
  const auto readers = sample(100);
  for (const Key& key : keys) {
    const auto seen = get_all(readers, key);
    size_t found = 0;
    for (const auto& s : seen) found += s.size();
    EXPECT_EQ(found, readers.size());
  }
}

TEST_F(SimTest, APartitionThatHealsMergesTheValuesOfBothSides) {
  Simulator& sim = make({}, 6);
  SCOPED_TRACE(trace());
  ASSERT_EQ(sim.grow(1000, 1ms), 1000u);
  for (size_t i = 0; i < sim.size(); ++i) sim.set_side(i, static_cast<uint8_t>(sim.uniform(2)));
  sim.run_for(2min);  // both sides notice the other is gone
  const auto side_a = live_nodes(0);
  const auto side_b = live_nodes(1);
  const Key shared = random_id(rng_);
  const Key only_a = random_id(rng_);
  const Key only_b = random_id(rng_);
  EXPECT_GE(put(side_a[0], value(alice_, 1, shared, "from a")).acked, 10u);
  EXPECT_GE(put(side_b[0], value(bob_, 1, shared, "from b")).acked, 10u);
  put(side_a[1], value(alice_, 1, only_a, "a"));
  put(side_b[1], value(bob_, 1, only_b, "b"));
  // During the partition each side reads its own writes.
  auto seen = get_all({side_a[5], side_b[5]}, shared);
  EXPECT_EQ(seen[0].size(), 1u);
  EXPECT_EQ(seen[1].size(), 1u);

  sim.heal();
  sim.run_for(20min);
  const auto everyone = live_nodes();
  for (const Key& key : {shared, only_a, only_b}) {
    const size_t expected = key == shared ? 2 : 1;
    seen = get_all(everyone, key);
    size_t complete = 0;
    for (const auto& s : seen) complete += s.size() == expected ? 1 : 0;
    EXPECT_EQ(complete, everyone.size()) << "key " << key.short_id();
  }
}

TEST_F(SimTest, TheSameSeedReplaysTheSameRun) {
  auto run = [](uint64_t seed) {
    SimOptions options;
    options.seed = seed;
    options.loss = 0.02;
    Simulator sim(options);
    sim.grow(300, 1ms);
    const LookupReport report = run_lookups(sim, 100, 10ms);
    return std::make_tuple(sim.stats().sent, sim.stats().lost, sim.stats().events, report.hops,
                           report.messages, sim.now());
  };
  const uint64_t seed = seed_from_env(7);
  SCOPED_TRACE("seed " + std::to_string(seed));
  EXPECT_EQ(run(seed), run(seed));
  EXPECT_NE(run(seed), run(seed + 1));
}

}  // namespace
}  // namespace synapse::dht::sim
