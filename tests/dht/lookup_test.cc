#include "synapse/dht/lookup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "synapse/core/rng.h"

namespace synapse::dht {
namespace {

class LookupTest : public ::testing::Test {
 protected:
  Contact make_contact() {
    return {random_id(rng_), PeerAddress::from_u32(static_cast<uint32_t>(next_address_++))};
  }
  std::vector<Contact> make_contacts(size_t n) {
    std::vector<Contact> out;
    for (size_t i = 0; i < n; ++i) out.push_back(make_contact());
    return out;
  }
  std::vector<Contact> sorted(std::vector<Contact> contacts, const NodeId& target) {
    std::sort(contacts.begin(), contacts.end(),
              [&](const Contact& a, const Contact& b) { return closer(a.id, b.id, target); });
    return contacts;
  }

  core::SeededRng rng_{11};
  uint32_t next_address_ = 1;
  NodeId self_ = random_id(rng_);
  NodeId target_ = random_id(rng_);
};

TEST_F(LookupTest, QueriesAtMostAlphaClosestFirst) {
  LookupOptions options;
  options.alpha = 3;
  auto start = make_contacts(10);
  Lookup lookup(self_, target_, options, start);
  const auto expected = sorted(start, target_);
  std::vector<Contact> queried;
  while (auto next = lookup.next()) queried.push_back(*next);
  ASSERT_EQ(queried.size(), 3u);
  EXPECT_EQ(queried, std::vector<Contact>(expected.begin(), expected.begin() + 3));
  EXPECT_EQ(lookup.active(), 3u);
  EXPECT_FALSE(lookup.done());
}

TEST_F(LookupTest, QueriesTheKClosestAtOnceWhenAnAnswerNamesNobodyCloser) {
  LookupOptions options;
  options.k = 8;
  options.alpha = 3;
  options.widen = true;
  auto start = make_contacts(12);
  const auto expected = sorted(start, target_);
  Lookup lookup(self_, target_, options, start);
  std::vector<Contact> queried;
  while (auto next = lookup.next()) queried.push_back(*next);
  ASSERT_EQ(queried.size(), 3u);

  // An answer naming a closer node keeps the limit at alpha.
  Contact closest{random_id(rng_), PeerAddress::from_u32(999)};
  while (!closer(closest.id, expected[0].id, target_)) closest.id = random_id(rng_);
  ASSERT_TRUE(lookup.on_response(queried[0].id, std::vector<Contact>{closest}));
  auto next = lookup.next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->id, closest.id);
  EXPECT_FALSE(lookup.next().has_value());

  // An answer naming nobody closer than the closest known: every remaining one of the k
  // closest goes out at once.
  ASSERT_TRUE(lookup.on_response(closest.id, expected));
  size_t more = 0;
  while (lookup.next()) ++more;
  EXPECT_EQ(lookup.active(), 8u - 2u);  // k closest minus the two that answered
  EXPECT_EQ(more, 8u - 2u - 2u);        // minus the two still in flight
}

TEST_F(LookupTest, TerminatesWhenTheKClosestResponded) {
  LookupOptions options;
  options.k = 4;
  options.alpha = 2;
  auto start = make_contacts(8);
  Lookup lookup(self_, target_, options, start);
  const auto expected = sorted(start, target_);
  size_t answered = 0;
  while (!lookup.done()) {
    auto next = lookup.next();
    ASSERT_TRUE(next.has_value());
    EXPECT_TRUE(lookup.on_response(next->id, {}));
    ++answered;
  }
  // Only the 4 closest were ever asked.
  EXPECT_EQ(answered, 4u);
  EXPECT_EQ(lookup.closest_responded(4),
            std::vector<Contact>(expected.begin(), expected.begin() + 4));
}

TEST_F(LookupTest, FollowsContactsNamedInAnswersButNeverItself) {
  LookupOptions options;
  options.k = 2;
  options.alpha = 1;
  auto start = make_contacts(1);
  Lookup lookup(self_, target_, options, start);
  auto first = lookup.next();
  ASSERT_TRUE(first.has_value());
  auto named = make_contacts(5);
  lookup.on_response(first->id, named);
  lookup.on_response(first->id, {});
  // Our own ID in an answer is ignored.
  Lookup other(self_, target_, options, start);
  other.next();
  EXPECT_TRUE(other.on_response(first->id, std::vector<Contact>{{self_, PeerAddress()}}));
  EXPECT_FALSE(other.next().has_value());
  EXPECT_TRUE(other.done());

  while (!lookup.done()) {
    auto next = lookup.next();
    ASSERT_TRUE(next.has_value());
    lookup.on_response(next->id, {});
  }
  auto all = named;
  all.push_back(*first);
  all = sorted(all, target_);
  EXPECT_EQ(lookup.closest_responded(2), std::vector<Contact>(all.begin(), all.begin() + 2));
}

TEST_F(LookupTest, SkipsFailedContacts) {
  LookupOptions options;
  options.k = 3;
  options.alpha = 3;
  auto start = make_contacts(6);
  Lookup lookup(self_, target_, options, start);
  const auto expected = sorted(start, target_);
  // The closest two fail; the lookup goes on to the next ones.
  while (!lookup.done()) {
    auto next = lookup.next();
    ASSERT_TRUE(next.has_value());
    if (next->id == expected[0].id || next->id == expected[1].id) {
      lookup.on_failure(next->id);
    } else {
      lookup.on_response(next->id, {});
    }
  }
  EXPECT_EQ(lookup.closest_responded(3),
            (std::vector<Contact>{expected[2], expected[3], expected[4]}));
  EXPECT_EQ(lookup.queries(), 5u);
}

TEST_F(LookupTest, AStalledQueryFreesItsSlotButItsLateAnswerCounts) {
  LookupOptions options;
  options.k = 2;
  options.alpha = 1;
  auto start = make_contacts(3);
  Lookup lookup(self_, target_, options, start);
  const auto expected = sorted(start, target_);
  auto slow = lookup.next();
  ASSERT_EQ(slow->id, expected[0].id);
  EXPECT_FALSE(lookup.next().has_value());  // alpha = 1
  lookup.on_stalled(slow->id);
  EXPECT_EQ(lookup.active(), 0u);
  EXPECT_EQ(lookup.outstanding(), 1u);
  auto second = lookup.next();
  ASSERT_EQ(second->id, expected[1].id);
  lookup.on_response(second->id, {});
  EXPECT_FALSE(lookup.done());  // the stalled closest one is still in the window
  EXPECT_TRUE(lookup.on_response(slow->id, {}));
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(lookup.closest_responded(2), (std::vector<Contact>{expected[0], expected[1]}));
}

TEST_F(LookupTest, IgnoresAnswersFromContactsNotAsked) {
  auto start = make_contacts(3);
  Lookup lookup(self_, target_, {}, start);
  EXPECT_FALSE(lookup.on_response(random_id(rng_), make_contacts(3)));
  const auto first = lookup.next();
  EXPECT_TRUE(lookup.on_response(first->id, {}));
  EXPECT_FALSE(lookup.on_response(first->id, {}));  // twice
}

TEST_F(LookupTest, EndsWhenNoCandidateIsLeft) {
  Lookup empty(self_, target_, {}, {});
  EXPECT_TRUE(empty.done());
  EXPECT_EQ(empty.hops(), -1);
  auto start = make_contacts(2);
  Lookup lookup(self_, target_, {}, start);
  while (auto next = lookup.next()) lookup.on_failure(next->id);
  EXPECT_TRUE(lookup.done());
  EXPECT_TRUE(lookup.closest_responded(20).empty());
}

TEST_F(LookupTest, CountsHopsFromTheStartingContacts) {
  LookupOptions options;
  options.k = 1;
  options.alpha = 1;
  auto start = make_contacts(1);
  Lookup lookup(self_, target_, options, start);
  // Each answer names one contact closer than everything so far: a chain of 3 hops.
  NodeId current = lookup.next()->id;
  for (int hop = 0; hop < 3; ++hop) {
    Contact next_contact = make_contact();
    while (!closer(next_contact.id, current, target_)) next_contact = make_contact();
    lookup.on_response(current, std::vector<Contact>{next_contact});
    auto next = lookup.next();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->id, next_contact.id);
    current = next->id;
  }
  lookup.on_response(current, {});
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(lookup.hops(), 3);
}

// A static network where every node knows its true 20 closest and a few random others: a
// lookup from anywhere must find the true 20 closest to any target.
TEST_F(LookupTest, FindsTheTrueClosestInAStaticNetwork) {
  const size_t n = 600;
  auto nodes = make_contacts(n);
  std::map<NodeId, std::vector<Contact>> knows;
  for (const Contact& node : nodes) {
    auto near = sorted(nodes, node.id);
    std::vector<Contact> table(near.begin() + 1, near.begin() + 21);
    for (int i = 0; i < 20; ++i) table.push_back(nodes[rng_.next() % n]);
    knows[node.id] = table;
  }
  for (int trial = 0; trial < 30; ++trial) {
    const NodeId target = random_id(rng_);
    const Contact& origin = nodes[rng_.next() % n];
    Lookup lookup(origin.id, target, {}, knows[origin.id]);
    while (!lookup.done()) {
      auto next = lookup.next();
      ASSERT_TRUE(next.has_value());
      const auto& table = knows[next->id];
      auto answer = sorted(table, target);
      answer.resize(std::min<size_t>(answer.size(), 20));
      lookup.on_response(next->id, answer);
    }
    auto truth = sorted(nodes, target);
    std::erase_if(truth, [&](const Contact& c) { return c.id == origin.id; });
    truth.resize(20);
    EXPECT_EQ(lookup.closest_responded(20), truth) << "trial " << trial;
    EXPECT_LE(lookup.hops(), 4);
  }
}

}  // namespace
}  // namespace synapse::dht
