#include "synapse/dht/routing_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "synapse/core/rng.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;

core::MonoTime at(int seconds) { return core::MonoTime{} + std::chrono::seconds(seconds); }

Contact contact_in_bucket(const NodeId& self, int bucket, core::Rng& rng, uint32_t address) {
  return {random_id_in_bucket(self, bucket, rng), PeerAddress::from_u32(address)};
}

class RoutingTableTest : public ::testing::Test {
 protected:
  core::SeededRng rng_{7};
  NodeId self_ = random_id(rng_);
};

TEST_F(RoutingTableTest, RandomIdInBucketFallsInThatBucket) {
  for (int bucket : {0, 1, 7, 8, 9, 100, 254, 255}) {
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(common_prefix_length(self_, random_id_in_bucket(self_, bucket, rng_)), bucket);
    }
  }
}

TEST_F(RoutingTableTest, ClosenessFollowsTheXorMetric) {
  const NodeId target = random_id(rng_);
  for (int i = 0; i < 200; ++i) {
    const NodeId a = random_id(rng_);
    const NodeId b = random_id(rng_);
    EXPECT_EQ(closer(a, b, target), distance(a, target) < distance(b, target));
    EXPECT_FALSE(closer(a, a, target));
  }
}

TEST_F(RoutingTableTest, InsertsContactsIntoBucketsByPrefixLength) {
  RoutingTable table(self_, {});
  for (int bucket = 0; bucket < 10; ++bucket) {
    auto result = table.observe(contact_in_bucket(self_, bucket, rng_, bucket), at(0));
    EXPECT_EQ(result.outcome, RoutingTable::Outcome::kInserted);
    EXPECT_FALSE(result.ping.has_value());
    EXPECT_EQ(table.bucket(bucket).size(), 1u);
  }
  EXPECT_EQ(table.size(), 10u);
  EXPECT_EQ(table.bucket_count(), 10);
}

TEST_F(RoutingTableTest, IgnoresItsOwnId) {
  RoutingTable table(self_, {});
  EXPECT_EQ(table.observe({self_, PeerAddress::from_u32(1)}, at(0)).outcome,
            RoutingTable::Outcome::kSelf);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(RoutingTableTest, MovesAContactSeenAgainToTheEndAndUpdatesItsAddress) {
  RoutingTable table(self_, {});
  const Contact first = contact_in_bucket(self_, 0, rng_, 1);
  const Contact second = contact_in_bucket(self_, 0, rng_, 2);
  table.observe(first, at(0));
  table.observe(second, at(1));
  const Contact moved{first.id, PeerAddress::from_u32(99)};
  EXPECT_EQ(table.observe(moved, at(2)).outcome, RoutingTable::Outcome::kUpdated);
  ASSERT_EQ(table.bucket(0).size(), 2u);
  EXPECT_EQ(table.bucket(0).front().contact, second);
  EXPECT_EQ(table.bucket(0).back().contact, moved);
  EXPECT_EQ(table.bucket(0).back().last_seen, at(2));
}

TEST_F(RoutingTableTest, KeepsAtMostKPerBucketAndCachesTheRest) {
  RoutingTableOptions options;
  options.k = 4;
  options.replacement_cache_size = 2;
  RoutingTable table(self_, options);
  for (uint32_t i = 0; i < 4; ++i) table.observe(contact_in_bucket(self_, 0, rng_, i), at(0));
  for (uint32_t i = 4; i < 8; ++i) {
    EXPECT_EQ(table.observe(contact_in_bucket(self_, 0, rng_, i), at(1)).outcome,
              RoutingTable::Outcome::kCached);
  }
  EXPECT_EQ(table.bucket(0).size(), 4u);
  ASSERT_EQ(table.replacements(0).size(), 2u);  // the two most recent
  EXPECT_EQ(table.replacements(0).back().contact.address, PeerAddress::from_u32(7));
}

TEST_F(RoutingTableTest, AsksToPingTheOldestEntryOnlyWhenItIsIdle) {
  RoutingTableOptions options;
  options.k = 2;
  options.ping_after_idle = 30s;
  RoutingTable table(self_, options);
  const Contact oldest = contact_in_bucket(self_, 0, rng_, 1);
  table.observe(oldest, at(0));
  table.observe(contact_in_bucket(self_, 0, rng_, 2), at(0));
  // Not idle yet: no ping.
  EXPECT_FALSE(table.observe(contact_in_bucket(self_, 0, rng_, 3), at(10)).ping.has_value());
  auto result = table.observe(contact_in_bucket(self_, 0, rng_, 4), at(40));
  ASSERT_TRUE(result.ping.has_value());
  EXPECT_EQ(*result.ping, oldest);
  // One probe at a time.
  EXPECT_FALSE(table.observe(contact_in_bucket(self_, 0, rng_, 5), at(41)).ping.has_value());
}

TEST_F(RoutingTableTest, EvictsStaleNodeWhenBucketFull) {
  RoutingTableOptions options;
  options.k = 2;
  RoutingTable table(self_, options);
  const Contact stale = contact_in_bucket(self_, 0, rng_, 1);
  const Contact live = contact_in_bucket(self_, 0, rng_, 2);
  const Contact newcomer = contact_in_bucket(self_, 0, rng_, 3);
  table.observe(stale, at(0));
  table.observe(live, at(0));
  auto result = table.observe(newcomer, at(100));
  ASSERT_TRUE(result.ping.has_value());
  EXPECT_EQ(*result.ping, stale);
  // The ping times out: the newcomer takes the stale entry's place.
  EXPECT_TRUE(table.on_failure(stale.id));
  EXPECT_FALSE(table.contains(stale.id));
  EXPECT_TRUE(table.contains(newcomer.id));
  EXPECT_TRUE(table.replacements(0).empty());
  EXPECT_EQ(table.evicted_count(), 1u);
}

TEST_F(RoutingTableTest, KeepsTheOldEntryWhenItAnswersThePing) {
  RoutingTableOptions options;
  options.k = 2;
  RoutingTable table(self_, options);
  const Contact old_entry = contact_in_bucket(self_, 0, rng_, 1);
  const Contact other = contact_in_bucket(self_, 0, rng_, 2);
  const Contact newcomer = contact_in_bucket(self_, 0, rng_, 3);
  table.observe(old_entry, at(0));
  table.observe(other, at(0));
  ASSERT_TRUE(table.observe(newcomer, at(100)).ping.has_value());
  EXPECT_EQ(table.observe(old_entry, at(101)).outcome, RoutingTable::Outcome::kUpdated);
  EXPECT_TRUE(table.contains(old_entry.id));
  EXPECT_FALSE(table.contains(newcomer.id));
  ASSERT_EQ(table.replacements(0).size(), 1u);
  EXPECT_EQ(table.replacements(0).front().contact, newcomer);
}

TEST_F(RoutingTableTest, ANewcomerReplacesAFailingEntryAtOnce) {
  RoutingTableOptions options;
  options.k = 2;
  RoutingTable table(self_, options);
  const Contact failing = contact_in_bucket(self_, 0, rng_, 1);
  table.observe(failing, at(0));
  table.observe(contact_in_bucket(self_, 0, rng_, 2), at(0));
  EXPECT_FALSE(table.on_failure(failing.id));  // no replacement yet: kept, marked
  EXPECT_EQ(table.find(failing.id)->failures, 1);
  const Contact newcomer = contact_in_bucket(self_, 0, rng_, 3);
  EXPECT_EQ(table.observe(newcomer, at(1)).outcome, RoutingTable::Outcome::kReplacedStale);
  EXPECT_FALSE(table.contains(failing.id));
  EXPECT_TRUE(table.contains(newcomer.id));
}

TEST_F(RoutingTableTest, RemovesAnEntryAfterMaxFailuresWithoutReplacement) {
  RoutingTableOptions options;
  options.max_failures = 3;
  RoutingTable table(self_, options);
  const Contact dead = contact_in_bucket(self_, 3, rng_, 1);
  table.observe(dead, at(0));
  EXPECT_FALSE(table.on_failure(dead.id));
  EXPECT_FALSE(table.on_failure(dead.id));
  EXPECT_TRUE(table.on_failure(dead.id));
  EXPECT_EQ(table.size(), 0u);
  // A message from it resets the count.
  table.observe(dead, at(1));
  table.on_failure(dead.id);
  table.observe(dead, at(2));
  EXPECT_EQ(table.find(dead.id)->failures, 0);
}

TEST_F(RoutingTableTest, ClosestLeavesOutFailingEntriesAndTheExcludedId) {
  RoutingTable table(self_, {});
  const Contact a = contact_in_bucket(self_, 0, rng_, 1);
  const Contact b = contact_in_bucket(self_, 1, rng_, 2);
  const Contact c = contact_in_bucket(self_, 2, rng_, 3);
  for (const Contact& x : {a, b, c}) table.observe(x, at(0));
  table.on_failure(b.id);
  auto found = table.closest(a.id, 10);
  EXPECT_EQ(found.size(), 2u);
  found = table.closest(a.id, 10, &a.id);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], c);
}

TEST_F(RoutingTableTest, ClosestMatchesABruteForceSort) {
  RoutingTableOptions options;
  options.k = 8;
  RoutingTable table(self_, options);
  std::vector<Contact> all;
  for (uint32_t i = 0; i < 2000; ++i) {
    // Mostly near buckets, like a real table.
    const int bucket = static_cast<int>(rng_.next() % 12);
    const Contact contact = contact_in_bucket(self_, bucket, rng_, i);
    if (table.observe(contact, at(0)).outcome == RoutingTable::Outcome::kInserted) {
      all.push_back(contact);
    }
  }
  ASSERT_EQ(all.size(), table.size());
  std::vector<NodeId> targets = {self_};
  for (int i = 0; i < 50; ++i) targets.push_back(random_id(rng_));
  for (int i = 0; i < 50; ++i) {
    targets.push_back(random_id_in_bucket(self_, static_cast<int>(rng_.next() % 16), rng_));
  }
  for (const NodeId& target : targets) {
    for (size_t n : {1u, 5u, 20u, 200u}) {
      std::vector<Contact> expected = all;
      std::sort(expected.begin(), expected.end(),
                [&](const Contact& x, const Contact& y) { return closer(x.id, y.id, target); });
      expected.resize(std::min(n, expected.size()));
      EXPECT_EQ(table.closest(target, n), expected);
    }
  }
}

TEST_F(RoutingTableTest, HandsOutFailingEntriesForProbingOnce) {
  RoutingTable table(self_, {});
  const Contact a = contact_in_bucket(self_, 1, rng_, 1);
  const Contact b = contact_in_bucket(self_, 2, rng_, 2);
  table.observe(a, at(0));
  table.observe(b, at(0));
  EXPECT_TRUE(table.take_probes(5).empty());
  table.on_failure(a.id);
  EXPECT_EQ(table.take_probes(5), std::vector<Contact>{a});
  EXPECT_TRUE(table.take_probes(5).empty());  // already out
  table.on_failure(a.id);                     // the probe failed too
  EXPECT_EQ(table.find(a.id)->failures, 2);
  EXPECT_EQ(table.take_probes(5), std::vector<Contact>{a});
  table.observe(a, at(1));  // it answered
  EXPECT_TRUE(table.take_probes(5).empty());
}

TEST_F(RoutingTableTest, RemembersEvictedContactsForRevival) {
  RoutingTableOptions options;
  options.max_failures = 1;
  options.evicted_memory = 2;
  RoutingTable table(self_, options);
  std::vector<Contact> contacts;
  for (uint32_t i = 0; i < 3; ++i) {
    contacts.push_back(contact_in_bucket(self_, 5, rng_, i));
    table.observe(contacts.back(), at(0));
  }
  for (const Contact& c : contacts) table.on_failure(c.id);
  EXPECT_EQ(table.size(), 0u);
  ASSERT_EQ(table.evicted_count(), 2u);  // bounded: the oldest fell out
  EXPECT_EQ(table.take_evicted(), contacts[1]);
  table.remember_evicted(contacts[1]);  // did not answer: back of the ring
  EXPECT_EQ(table.take_evicted(), contacts[2]);
  EXPECT_EQ(table.take_evicted(), contacts[1]);
  EXPECT_FALSE(table.take_evicted().has_value());
}

TEST_F(RoutingTableTest, TracksWhenEachBucketWasLastRefreshed) {
  RoutingTable table(self_, {});
  table.observe(contact_in_bucket(self_, 3, rng_, 1), at(0));
  EXPECT_EQ(table.last_refreshed(3), core::MonoTime{});
  table.mark_refreshed(random_id_in_bucket(self_, 3, rng_), at(50));
  EXPECT_EQ(table.last_refreshed(3), at(50));
  EXPECT_EQ(table.last_refreshed(2), core::MonoTime{});
  const uint64_t generation = table.generation();
  table.observe(contact_in_bucket(self_, 4, rng_, 2), at(51));
  EXPECT_GT(table.generation(), generation);
}

}  // namespace
}  // namespace synapse::dht
