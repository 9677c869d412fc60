// The Kademlia node's RPCs: first against a hand-driven peer (every message inspected), then in
// small simulated networks.
#include "synapse/dht/node.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "dht/sim/simulator.h"
#include "synapse/core/rng.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;

core::MonoTime at_ms(int ms) { return core::MonoTime{} + std::chrono::milliseconds(ms); }

class RecordingSender final : public MessageSender {
 public:
  struct Sent {
    PeerAddress to;
    Message message;
  };
  void send(const PeerAddress& to, core::Bytes bytes) override {
    auto message = decode(bytes);
    ASSERT_TRUE(message.has_value()) << message.error().message();
    sent.push_back({to, *message});
  }
  std::vector<Sent> take() {
    std::vector<Sent> out;
    out.swap(sent);
    return out;
  }
  std::vector<Sent> sent;
};

core::Bytes bytes_of(const Message& message) {
  auto bytes = encode(message);
  SYNAPSE_CHECK(bytes.has_value(), "test message encodes");
  return *bytes;
}

class NodeTest : public ::testing::Test {
 protected:
  NodeTest() : node_(random_id(rng_), options(), sender_, rng_) { node_.on_timer(at_ms(0)); }
  static NodeOptions options() {
    NodeOptions options;
    options.store_rate = 10;
    options.store_burst = 20;
    return options;
  }
  Contact peer(uint32_t address) { return {random_id(rng_), PeerAddress::from_u32(address)}; }
  SignedValue value(const crypto::NodeIdentity& writer, uint64_t seq, const Key& key,
                    std::string_view text = "v") {
    auto data = core::as_bytes(text);
    return *SignedValue::sign(writer, key, seq, 3600, core::Bytes(data.begin(), data.end()));
  }

  core::SeededRng rng_{21};
  RecordingSender sender_;
  Node node_;
  crypto::NodeIdentity writer_ = crypto::NodeIdentity::generate(rng_);
};

TEST_F(NodeTest, AnswersAPingAndLearnsTheSender) {
  const Contact other = peer(1);
  node_.on_message(other, bytes_of({42, Ping{}}), at_ms(10));
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, other.address);
  EXPECT_EQ(sent[0].message.txid, 42u);
  EXPECT_TRUE(std::holds_alternative<Pong>(sent[0].message.body));
  EXPECT_TRUE(node_.routing_table().contains(other.id));
  EXPECT_EQ(node_.stats().requests_served, 1u);
}

TEST_F(NodeTest, GreetingADiscoveredNodeJoinsThroughIt) {
  const PeerAddress address = PeerAddress::from_u32(7);
  node_.greet(address, at_ms(10));
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, address);
  ASSERT_TRUE(std::holds_alternative<Ping>(sent[0].message.body));
  EXPECT_FALSE(node_.joining());

  const Contact other{random_id(rng_), address};
  node_.on_message(other, bytes_of({sent[0].message.txid, Pong{}}), at_ms(12));
  EXPECT_TRUE(node_.routing_table().contains(other.id));
  EXPECT_TRUE(node_.joining());
  sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, address);
  const auto* find = std::get_if<FindNode>(&sent[0].message.body);
  ASSERT_NE(find, nullptr);
  EXPECT_EQ(find->target, node_.id());
}

TEST_F(NodeTest, GreetingAnotherNodeWhileJoiningStartsNoSecondJoin) {
  for (uint32_t address = 1; address <= 2; ++address) {
    sender_.take();  // the first join's lookup
    node_.greet(PeerAddress::from_u32(address), at_ms(10));
    auto ping = sender_.take();
    ASSERT_EQ(ping.size(), 1u);
    node_.on_message({random_id(rng_), PeerAddress::from_u32(address)},
                     bytes_of({ping[0].message.txid, Pong{}}), at_ms(12));
  }
  // Only the first answer started a self lookup; the second contact was just added.
  EXPECT_EQ(node_.stats().lookups_started, 1u);
  EXPECT_EQ(node_.routing_table().size(), 2u);
}

TEST_F(NodeTest, DropsAndCountsMalformedMessages) {
  const Contact other = peer(1);
  node_.on_message(other, core::Bytes{0x93, 0x07, 0x01, 0x01}, at_ms(1));
  node_.on_message(other, core::Bytes{0xff, 0x00}, at_ms(1));
  node_.on_message(other, core::Bytes{}, at_ms(1));
  EXPECT_EQ(node_.stats().malformed_dropped, 3u);
  EXPECT_TRUE(sender_.take().empty());
  EXPECT_FALSE(node_.routing_table().contains(other.id));
}

TEST_F(NodeTest, AnswersFindNodeWithItsClosestContactsButNotTheAsker) {
  std::vector<Contact> known;
  for (uint32_t i = 0; i < 30; ++i) {
    known.push_back(peer(i));
    node_.add_contact(known.back(), at_ms(0));
  }
  const NodeId target = random_id(rng_);
  node_.on_message(known[0], bytes_of({5, FindNode{target}}), at_ms(1));
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  const auto& nodes = std::get<Nodes>(sent[0].message.body).nodes;
  EXPECT_EQ(nodes, node_.routing_table().closest(target, 20, &known[0].id));
  EXPECT_EQ(nodes.size(), 20u);
}

TEST_F(NodeTest, CallbacksNeverRunInsideTheCallThatStartsThem) {
  bool called = false;
  node_.find_node(random_id(rng_), at_ms(1), [&](LookupResult result) {
    called = true;
    EXPECT_TRUE(result.closest.empty());
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(node_.next_timer(), core::MonoTime::min());
  node_.on_timer(at_ms(1));
  EXPECT_TRUE(called);
}

TEST_F(NodeTest, IgnoresRepliesFromTheWrongSenderOrForUnknownTransactions) {
  const Contact other = peer(1);
  node_.add_contact(other, at_ms(0));
  std::optional<LookupResult> result;
  node_.find_node(random_id(rng_), at_ms(1), [&](LookupResult r) { result = r; });
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  const uint32_t txid = sent[0].message.txid;
  node_.on_message(peer(1), bytes_of({txid, Nodes{}}), at_ms(2));    // an impostor
  node_.on_message(other, bytes_of({txid + 1, Nodes{}}), at_ms(2));  // unknown txid
  EXPECT_EQ(node_.stats().unexpected_replies, 2u);
  EXPECT_FALSE(result.has_value());
  node_.on_message(other, bytes_of({txid, Nodes{}}), at_ms(3));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->closest, std::vector<Contact>{other});
  EXPECT_EQ(result->hops, 0);
  EXPECT_EQ(result->messages, 1u);
}

TEST_F(NodeTest, TimesOutASilentPeerAndStopsAskingIt) {
  const Contact silent = peer(1);
  node_.add_contact(silent, at_ms(0));
  std::optional<LookupResult> result;
  node_.find_node(random_id(rng_), at_ms(0), [&](LookupResult r) { result = r; });
  EXPECT_EQ(sender_.take().size(), 1u);
  // The RTO is 1 s before any answer: the request stalls (and is sent again) after 1 s, is
  // sent once more after 2 s, and fails after 3.
  EXPECT_LE(node_.next_timer(), at_ms(1000));
  node_.on_timer(at_ms(1000));
  node_.on_timer(at_ms(2000));
  node_.on_timer(at_ms(2999));
  EXPECT_FALSE(result.has_value());
  EXPECT_LE(node_.next_timer(), at_ms(3000));
  node_.on_timer(at_ms(3000));
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->closest.empty());
  EXPECT_EQ(node_.stats().rpc_timeouts, 1u);
  ASSERT_NE(node_.routing_table().find(silent.id), nullptr);
  EXPECT_EQ(node_.routing_table().find(silent.id)->failures, 1);
  // While a healthy contact is known, a failing one is not asked until it shows signs of
  // life (with nothing else known, it is).
  EXPECT_EQ(sender_.take().size(), 2u);  // two retransmissions
  EXPECT_EQ(node_.stats().retransmits, 2u);
  const Contact healthy = peer(2);
  node_.add_contact(healthy, at_ms(3000));
  node_.find_node(random_id(rng_), at_ms(3000), [](LookupResult) {});
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, healthy.address);
  node_.on_message(silent, bytes_of({1, Ping{}}), at_ms(3001));
  EXPECT_EQ(node_.routing_table().find(silent.id)->failures, 0);
}

TEST_F(NodeTest, StoresOnlyValuesWithValidSignatures) {
  const Contact other = peer(1);
  const Key key = random_id(rng_);
  SignedValue forged = value(writer_, 1, key, "forged");
  forged.data[0] ^= 1;
  PutValues put{{WireValue{value(writer_, 1, key), 600}, WireValue{forged, 600}}};
  node_.on_message(other, bytes_of({9, put}), at_ms(1));
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  const auto& ack = std::get<PutAck>(sent[0].message.body);
  EXPECT_EQ(ack.stored, 1u);
  EXPECT_EQ(ack.rejected, 1u);
  EXPECT_EQ(node_.stats().values_rejected_signature, 1u);
  ASSERT_NE(node_.records().values(key), nullptr);
  EXPECT_EQ(node_.records().values(key)->size(), 1u);
}

TEST_F(NodeTest, AGetDropsForgedValuesFromAMaliciousPeer) {
  const Contact liar = peer(1);
  node_.add_contact(liar, at_ms(0));
  const Key key = random_id(rng_);
  std::optional<GetResult> result;
  node_.get(key, at_ms(1), [&](GetResult r) { result = std::move(r); });
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<GetValues>(sent[0].message.body));
  const crypto::NodeIdentity other = crypto::NodeIdentity::generate(rng_);
  SignedValue forged = value(other, 9, key, "evil");
  forged.data[0] ^= 1;
  SignedValue wrong_key = value(other, 1, random_id(rng_));
  Values reply{{WireValue{value(writer_, 3, key, "good"), 100}, WireValue{forged, 100},
                WireValue{wrong_key, 100}},
               false,
               {}};
  node_.on_message(liar, bytes_of({sent[0].message.txid, reply}), at_ms(2));
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->values.size(), 1u);
  EXPECT_EQ(result->values[0].data, core::Bytes({'g', 'o', 'o', 'd'}));
  EXPECT_EQ(node_.stats().values_rejected_signature, 1u);
  EXPECT_EQ(node_.stats().values_rejected_limits, 1u);
}

TEST_F(NodeTest, PagesThroughKeysWithManyValues) {
  const Key key = random_id(rng_);
  const Contact writer_node = peer(1);
  std::vector<crypto::NodeIdentity> writers;
  for (int i = 0; i < 40; ++i) writers.push_back(crypto::NodeIdentity::generate(rng_));
  PutValues batch;
  for (const auto& w : writers) {
    batch.values.push_back({value(w, 1, key, std::string(500, 'x')), 600});
    if (batch.values.size() == 10) {
      node_.on_message(writer_node, bytes_of({1, batch}), at_ms(1));
      batch.values.clear();
    }
  }
  ASSERT_EQ(node_.records().values(key)->size(), 40u);
  sender_.take();
  // Ask for the values page by page, as a get does.
  std::optional<crypto::Ed25519PublicKey> after;
  size_t seen = 0;
  int pages = 0;
  const Contact reader = peer(2);
  while (true) {
    node_.on_message(reader, bytes_of({7, GetValues{key, after}}), at_ms(2));
    auto sent = sender_.take();
    ASSERT_EQ(sent.size(), 1u);
    const auto& page = std::get<Values>(sent[0].message.body);
    ASSERT_LE(bytes_of(sent[0].message).size(), kMaxMessageSize);
    seen += page.values.size();
    ++pages;
    if (!page.more) break;
    after = page.values.back().value.writer;
  }
  EXPECT_EQ(seen, 40u);
  EXPECT_GT(pages, 2);
}

TEST_F(NodeTest, RateLimitsStoresPerSource) {
  const Contact flooder = peer(1);
  const Contact other = peer(2);
  const Key key = random_id(rng_);
  PutValues put{{WireValue{value(writer_, 1, key), 600}}};
  for (int i = 0; i < 50; ++i) node_.on_message(flooder, bytes_of({1, put}), at_ms(5));
  EXPECT_EQ(node_.stats().refused_rate_limited, 30u);  // burst 20
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 50u);
  EXPECT_TRUE(std::holds_alternative<Refusal>(sent.back().message.body));
  // Another source is not affected, and the flooder's bucket refills (10 per second).
  node_.on_message(other, bytes_of({2, put}), at_ms(5));
  EXPECT_TRUE(std::holds_alternative<PutAck>(sender_.take().back().message.body));
  node_.on_message(flooder, bytes_of({3, put}), at_ms(1005));
  EXPECT_TRUE(std::holds_alternative<PutAck>(sender_.take().back().message.body));
  // Lookups are not store requests.
  node_.on_message(flooder, bytes_of({4, FindNode{key}}), at_ms(1005));
  EXPECT_TRUE(std::holds_alternative<Nodes>(sender_.take().back().message.body));
}

TEST(NodeStorage, RefusesStoresBeyondItsCapsAndCountsThem) {
  core::SeededRng rng(4);
  RecordingSender sender;
  NodeOptions options;
  options.storage.max_values = 2;
  options.storage.max_providers = 1;
  Node node(random_id(rng), options, sender, rng);
  const crypto::NodeIdentity writer = crypto::NodeIdentity::generate(rng);
  const Contact from{random_id(rng), PeerAddress::from_u32(1)};
  for (int i = 0; i < 3; ++i) {
    auto v = SignedValue::sign(writer, random_id(rng), 1, 60, {});
    node.on_message(from, bytes_of({1, PutValues{{WireValue{*v, 60}}}}), at_ms(1));
  }
  EXPECT_EQ(node.records().value_count(), 2u);
  EXPECT_EQ(node.stats().refused_storage_full, 1u);
  EXPECT_EQ(std::get<PutAck>(sender.sent.back().message.body).rejected, 1u);
  node.on_message(from, bytes_of({2, AddProvider{random_id(rng), 60}}), at_ms(1));
  node.on_message(from, bytes_of({3, AddProvider{random_id(rng), 60}}), at_ms(1));
  EXPECT_EQ(std::get<Refusal>(sender.sent.back().message.body).code, RefusalCode::kStorageFull);
  EXPECT_EQ(node.stats().refused_storage_full, 2u);
}

// ---- Small simulated networks ----

class SmallNetworkTest : public ::testing::Test {
 protected:
  explicit SmallNetworkTest(sim::SimOptions options = {}) : sim_(with_seed(options)) {}
  static sim::SimOptions with_seed(sim::SimOptions options) {
    options.seed = sim::seed_from_env(options.seed);
    return options;
  }
  void SetUp() override { ASSERT_EQ(sim_.grow(40, 5ms), 40u); }

  GetResult get(size_t from, const Key& key) {
    std::optional<GetResult> result;
    sim_.node(from).get(key, sim_.now(), [&](GetResult r) { result = std::move(r); });
    EXPECT_TRUE(sim_.run_until([&] { return result.has_value(); }, 60s));
    return result.value_or(GetResult{});
  }
  PutResult put(size_t from, const SignedValue& value, bool republish = true) {
    std::optional<PutResult> result;
    sim_.node(from).put(
        value, sim_.now(), [&](PutResult r) { result = r; }, republish);
    EXPECT_TRUE(sim_.run_until([&] { return result.has_value(); }, 60s));
    return result.value_or(PutResult{});
  }
  SignedValue value(const crypto::NodeIdentity& writer, uint64_t seq, const Key& key,
                    std::string_view text, uint32_t ttl = 3600) {
    auto data = core::as_bytes(text);
    return *SignedValue::sign(writer, key, seq, ttl, core::Bytes(data.begin(), data.end()));
  }
  size_t holders(const Key& key, const crypto::NodeIdentity& writer, uint64_t seq) {
    size_t count = 0;
    for (size_t i = 0; i < sim_.size(); ++i) {
      if (!sim_.alive(i)) continue;
      const auto* values = sim_.node(i).records().values(key);
      if (values == nullptr) continue;
      auto found = values->find(writer.public_key());
      if (found != values->end() && found->second.value.seq == seq &&
          RecordStore::remaining(found->second, sim_.now()) > 0s) {
        ++count;
      }
    }
    return count;
  }

  sim::Simulator sim_;
  core::SeededRng rng_{99};
  crypto::NodeIdentity alice_ = crypto::NodeIdentity::generate(rng_);
  crypto::NodeIdentity bob_ = crypto::NodeIdentity::generate(rng_);
};

TEST_F(SmallNetworkTest, APutIsReadableFromEveryNode) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = random_id(rng_);
  const PutResult stored = put(3, value(alice_, 1, key, "hello"));
  EXPECT_TRUE(stored.status.has_value());
  EXPECT_EQ(stored.acked, 20u);
  EXPECT_EQ(stored.stored, 20u);
  for (size_t i = 0; i < sim_.size(); ++i) {
    const GetResult result = get(i, key);
    ASSERT_EQ(result.values.size(), 1u) << "node " << i;
    EXPECT_EQ(result.values[0].data, core::Bytes({'h', 'e', 'l', 'l', 'o'}));
  }
}

TEST_F(SmallNetworkTest, CountsEachCompletedLookupInTheLatencyHistogram) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const NodeStats before = sim_.node(2).stats();
  get(2, random_id(rng_));
  const NodeStats after = sim_.node(2).stats();
  uint64_t counted = 0;
  for (size_t i = 0; i < after.lookup_latency_buckets.size(); ++i) {
    counted += after.lookup_latency_buckets[i] - before.lookup_latency_buckets[i];
  }
  EXPECT_EQ(counted, after.lookups_completed - before.lookups_completed);
  EXPECT_GE(counted, 1u);
  // Simulated links take at least 5 ms each way: a lookup takes at least one round trip.
  EXPECT_EQ(after.lookup_latency_buckets[0], before.lookup_latency_buckets[0]);
  EXPECT_GE(after.lookup_latency_seconds_sum - before.lookup_latency_seconds_sum, 0.01);
}

TEST_F(SmallNetworkTest, APutOfAForgedValueFailsWithoutSendingAnything) {
  SignedValue forged = value(alice_, 1, random_id(rng_), "x");
  forged.seq = 2;
  const uint64_t sent = sim_.stats().sent;
  std::optional<PutResult> result;
  sim_.node(1).put(forged, sim_.now(), [&](PutResult r) { result = r; });
  EXPECT_FALSE(result.has_value());
  sim_.run_for(1ms);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->status.has_value());
  EXPECT_EQ(result->status.error().code(), core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(sim_.stats().sent, sent);
}

TEST_F(SmallNetworkTest, ANewerValueReplacesTheOlderAndWritersAddUp) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = random_id(rng_);
  put(1, value(alice_, 1, key, "a1"));
  put(2, value(bob_, 1, key, "b1"));
  put(3, value(alice_, 2, key, "a2"));
  put(4, value(alice_, 1, key, "a1"));  // a stale replay changes nothing
  const GetResult result = get(20, key);
  ASSERT_EQ(result.values.size(), 2u);
  for (const SignedValue& v : result.values) {
    if (v.writer == alice_.public_key()) {
      EXPECT_EQ(v.seq, 2u);
    } else {
      EXPECT_EQ(v.data, core::Bytes({'b', '1'}));
    }
  }
}

TEST_F(SmallNetworkTest, ProvidersAreFoundFromAnyNode) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = provider_key(crypto::Cid::of(1, crypto::Codec::kRaw, core::as_bytes("b")));
  for (size_t provider : {5u, 6u}) {
    std::optional<PutResult> done;
    sim_.node(provider).add_provider(key, sim_.now(), [&](PutResult r) { done = r; });
    ASSERT_TRUE(sim_.run_until([&] { return done.has_value(); }, 60s));
    EXPECT_EQ(done->acked, 20u);
  }
  std::optional<ProvidersResult> found;
  sim_.node(30).get_providers(key, sim_.now(), [&](ProvidersResult r) { found = r; });
  ASSERT_TRUE(sim_.run_until([&] { return found.has_value(); }, 60s));
  std::vector<NodeId> ids;
  for (const Contact& c : found->providers) ids.push_back(c.id);
  std::sort(ids.begin(), ids.end());
  std::vector<NodeId> expected = {sim_.id(5), sim_.id(6)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  // The addresses are the providers' own.
  for (const Contact& c : found->providers) {
    EXPECT_EQ(c.address, PeerAddress::from_u32(static_cast<uint32_t>(sim_.index_of(c.id))));
  }
}

class ShortLivedProvidersTest : public SmallNetworkTest {
 protected:
  ShortLivedProvidersTest() : SmallNetworkTest(options()) {}
  static sim::SimOptions options() {
    sim::SimOptions options;
    options.node.provider_ttl_seconds = 600;
    options.node.republish_interval = 5min;
    return options;
  }
};

TEST_F(ShortLivedProvidersTest, ProviderRecordsOutliveTheirTtlOnlyWhileRepublished) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = random_id(rng_);
  std::optional<PutResult> done;
  sim_.node(5).add_provider(key, sim_.now(), [&](PutResult r) { done = r; });
  ASSERT_TRUE(sim_.run_until([&] { return done.has_value(); }, 60s));
  auto providers = [&] {
    std::optional<ProvidersResult> found;
    sim_.node(30).get_providers(key, sim_.now(), [&](ProvidersResult r) { found = r; });
    EXPECT_TRUE(sim_.run_until([&] { return found.has_value(); }, 60s));
    return found ? found->providers.size() : 0;
  };
  sim_.run_for(30min);  // three TTLs
  EXPECT_EQ(providers(), 1u);
  sim_.kill(5);  // no more republishing
  sim_.run_for(11min);
  EXPECT_EQ(providers(), 0u);
}

TEST_F(SmallNetworkTest, ListenersHearOfNewValuesUntilTheyUnsubscribe) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = random_id(rng_);
  std::vector<SignedValue> heard;
  const auto subscription =
      sim_.node(7).listen(key, 1h, sim_.now(), [&](const SignedValue& v) { heard.push_back(v); });
  sim_.run_for(5s);
  put(8, value(alice_, 1, key, "one"));
  sim_.run_for(5s);
  ASSERT_EQ(heard.size(), 1u);  // once, although up to 20 storers notify
  EXPECT_EQ(heard[0].data, core::Bytes({'o', 'n', 'e'}));
  // The registration outlives the storers' 10-minute lease: it is renewed.
  sim_.run_for(25min);
  put(9, value(alice_, 2, key, "two"));
  sim_.run_for(5s);
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[1].seq, 2u);
  sim_.node(7).unlisten(subscription);
  put(9, value(alice_, 3, key, "three"));
  sim_.run_for(5s);
  EXPECT_EQ(heard.size(), 2u);
}

TEST_F(SmallNetworkTest, ValuesExpireUnlessTheirWriterRepublishes) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key kept = random_id(rng_);
  const Key dropped = random_id(rng_);
  put(1, value(alice_, 1, kept, "kept", /*ttl=*/7200));
  put(2, value(bob_, 1, dropped, "dropped", /*ttl=*/7200), /*republish=*/false);
  EXPECT_GE(holders(dropped, bob_, 1), 20u);
  sim_.run_for(3h);  // republish every hour keeps `kept` alive
  EXPECT_EQ(get(30, dropped).values.size(), 0u);
  EXPECT_EQ(holders(dropped, bob_, 1), 0u);
  EXPECT_EQ(get(30, kept).values.size(), 1u);
  EXPECT_GE(holders(kept, alice_, 1), 20u);
}

TEST_F(SmallNetworkTest, ValuesMoveToANewNodeThatIsCloserToTheirKey) {
  SCOPED_TRACE("seed " + std::to_string(sim_.options().seed));
  const Key key = random_id(rng_);
  put(1, value(alice_, 1, key, "v"), /*republish=*/false);
  // A newcomer whose ID shares 200 bits with the key: the closest node of all.
  auto bytes = key.bytes();
  bytes[31] ^= 1;
  const size_t newcomer = sim_.add_node(NodeId(bytes));
  const size_t seeds[] = {0};
  bool joined = false;
  sim_.join(newcomer, seeds, [&] { joined = true; });
  ASSERT_TRUE(sim_.run_until([&] { return joined; }, 60s));
  sim_.run_for(30s);  // a few maintenance rounds
  const auto* values = sim_.node(newcomer).records().values(key);
  ASSERT_NE(values, nullptr);
  EXPECT_EQ(values->size(), 1u);
}

TEST_F(SmallNetworkTest, AdaptsItsTimeoutToTheRoundTripTime) {
  sim_.run_for(10s);  // node 0 joined alone and looks itself up again
  for (size_t i = 0; i < sim_.size(); ++i) {
    // Links take 5..50 ms each way: the RTO settles well under its 1 s initial value.
    EXPECT_LT(sim_.node(i).rto(), 500ms) << i;
    EXPECT_GE(sim_.node(i).rto(), 50ms) << i;
  }
}

}  // namespace
}  // namespace synapse::dht
