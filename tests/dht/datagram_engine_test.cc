// The datagram engine, sans-I/O: engines joined by an in-memory network on a ManualClock.
#include "synapse/dht/datagram_engine.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "dht_test_util.h"
#include "synapse/dht/datagram_packet.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;

struct Packet {
  Endpoint from;
  Endpoint to;
  core::Bytes bytes;
};

struct Received {
  Endpoint from;
  crypto::NodeId peer;
  std::string message;
};

class Network;

class FakeIo final : public DatagramIo {
 public:
  FakeIo(Network& network, Endpoint self) : network_(network), self_(self) {}
  core::Status send_packet(const Endpoint& to, core::ByteView packet) override;
  void deliver(const Endpoint& from, const crypto::PeerIdentity& peer,
               core::ByteView message) override {
    received.push_back({from, peer.node_id, std::string(core::as_chars(message))});
  }
  void complete(std::function<void(core::Status)> done, core::Status status) override {
    completions.emplace_back(std::move(done), std::move(status));
  }
  void run_completions() {
    while (!completions.empty()) {
      auto [done, status] = std::move(completions.front());
      completions.pop_front();
      done(std::move(status));
    }
  }

  std::vector<Received> received;
  std::deque<std::pair<std::function<void(core::Status)>, core::Status>> completions;

 private:
  Network& network_;
  Endpoint self_;
};

struct Node {
  Node(Network& network, uint64_t seed, Endpoint endpoint, const crypto::SwarmKey& key,
       TransportLimits limits = {}, TransportTimers timers = {},
       std::function<core::Status(const crypto::PeerIdentity&)> admit = nullptr)
      : rng(seed),
        identity(crypto::NodeIdentity::generate(rng)),
        static_key(crypto::HandshakeStaticKey::generate(identity, rng)),
        self(endpoint),
        io(network, endpoint) {
    DatagramEngineConfig config;
    config.identity = &identity;
    config.swarm_key = &key;
    config.static_key = &static_key;
    config.admit = std::move(admit);
    config.limits = limits;
    config.timers = timers;
    config.log_name = "test";
    engine =
        std::make_unique<DatagramEngine>(std::move(config), io, rng, network_clock(network), stats);
  }
  static const core::Clock& network_clock(Network& network);

  core::SeededRng rng;
  crypto::NodeIdentity identity;
  crypto::HandshakeStaticKey static_key;
  Endpoint self;
  FakeIo io;
  TransportStats stats;
  std::unique_ptr<DatagramEngine> engine;
};

class Network {
 public:
  core::ManualClock clock;
  std::deque<Packet> in_flight;
  std::map<std::string, Node*> nodes;
  // Returns how many copies of a packet to deliver (0 drops it).
  std::function<int(const Packet&)> filter = [](const Packet&) { return 1; };
  size_t delivered = 0;

  void attach(Node& node) { nodes[node.self.to_string()] = &node; }

  // Delivers packets until none are in flight, then runs completions.
  void pump() {
    while (!in_flight.empty()) {
      Packet packet = std::move(in_flight.front());
      in_flight.pop_front();
      auto it = nodes.find(packet.to.to_string());
      if (it == nodes.end()) continue;
      const int copies = filter(packet);
      for (int i = 0; i < copies; ++i) {
        ++delivered;
        it->second->engine->on_packet(packet.from, packet.bytes);
      }
    }
    for (auto& [name, node] : nodes) node->io.run_completions();
  }

  // Advances time in ticks, running timers and delivering packets.
  void advance(core::Duration total, core::Duration tick = 50ms) {
    for (core::Duration passed{}; passed < total; passed += tick) {
      clock.advance(tick);
      for (auto& [name, node] : nodes) node->engine->on_timer();
      pump();
    }
  }
};

const core::Clock& Node::network_clock(Network& network) { return network.clock; }

core::Status FakeIo::send_packet(const Endpoint& to, core::ByteView packet) {
  network_.in_flight.push_back({self_, to, core::Bytes(packet.begin(), packet.end())});
  return core::ok();
}

PacketType type_of(const Packet& packet) { return static_cast<PacketType>(packet.bytes[0]); }

class DatagramEngineTest : public ::testing::Test {
 protected:
  crypto::SwarmKey key_ = testing::swarm_key_from(0);
  crypto::SwarmKey other_key_ = testing::swarm_key_from(1);
  Endpoint a_endpoint_ = Endpoint::parse("10.0.0.1:4000").value();
  Endpoint b_endpoint_ = Endpoint::parse("10.0.0.2:4000").value();
  Network network_;

  // Sends and records the outcome.
  std::shared_ptr<std::optional<core::Status>> send(Node& from, const Endpoint& to,
                                                    std::string_view text) {
    auto outcome = std::make_shared<std::optional<core::Status>>();
    auto bytes = core::as_bytes(text);
    from.engine->send(to, core::Bytes(bytes.begin(), bytes.end()),
                      [outcome](core::Status status) { *outcome = std::move(status); });
    return outcome;
  }
};

TEST_F(DatagramEngineTest, MembersHandshakeAndExchangeMessagesWithVerifiedIdentities) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  auto first = send(a, b_endpoint_, "hello b");
  auto second = send(a, b_endpoint_, "again");
  network_.pump();
  ASSERT_TRUE(first->has_value() && second->has_value());
  EXPECT_TRUE(**first);
  EXPECT_TRUE(**second);
  ASSERT_EQ(b.io.received.size(), 2u);
  EXPECT_EQ(b.io.received[0].message, "hello b");
  EXPECT_EQ(b.io.received[1].message, "again");
  EXPECT_EQ(b.io.received[0].peer, a.identity.node_id());
  EXPECT_EQ(b.io.received[0].from, a_endpoint_);

  auto reply = send(b, a_endpoint_, "hello a");
  network_.pump();
  ASSERT_TRUE(reply->has_value() && **reply);
  ASSERT_EQ(a.io.received.size(), 1u);
  EXPECT_EQ(a.io.received[0].peer, b.identity.node_id());
  EXPECT_EQ(a.engine->peer_at(b_endpoint_)->node_id, b.identity.node_id());
  EXPECT_EQ(b.engine->peer_at(a_endpoint_)->node_id, a.identity.node_id());
  EXPECT_EQ(a.stats.handshakes_started, 1u);  // the reply used the same session
  EXPECT_EQ(a.stats.handshakes_completed, 1u);
  EXPECT_EQ(b.stats.handshakes_completed, 1u);
  EXPECT_EQ(a.stats.sessions_active, 1u);
}

TEST_F(DatagramEngineTest, AWrongSwarmKeyFailsAtMessageOneAndTheResponderStaysSilent) {
  TransportTimers timers;
  timers.handshake_timeout = 1s;
  Node a(network_, 1, a_endpoint_, other_key_, {}, timers);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  size_t packets_from_b = 0;
  network_.filter = [&](const Packet& packet) {
    if (packet.from == b_endpoint_) ++packets_from_b;
    return 1;
  };
  auto outcome = send(a, b_endpoint_, "let me in");
  network_.pump();
  EXPECT_FALSE(outcome->has_value());  // still waiting
  network_.advance(1500ms);
  ASSERT_TRUE(outcome->has_value());
  ASSERT_FALSE(**outcome);
  EXPECT_EQ((*outcome)->error().code(), core::ErrorCode::kIo);
  EXPECT_NE((*outcome)->error().message().find("timed out"), std::string::npos);
  EXPECT_EQ(packets_from_b, 0u);
  EXPECT_EQ(b.stats.packets_out, 0u);
  EXPECT_GE(b.stats.handshakes_failed_wrong_key, 1u);  // message 1 and its retransmissions
  EXPECT_EQ(b.stats.half_open_active, 0u);
  EXPECT_GE(a.stats.handshake_retransmits, 1u);
  EXPECT_EQ(a.stats.handshakes_failed_timeout, 1u);
  EXPECT_FALSE(a.engine->peer_at(b_endpoint_).has_value());
  EXPECT_TRUE(b.io.received.empty());
}

TEST_F(DatagramEngineTest, LostHandshakePacketsAreRetransmitted) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  std::map<PacketType, int> dropped;
  network_.filter = [&](const Packet& packet) {
    // Drop the first message 1, message 2, message 3 and the first confirm.
    PacketType type = type_of(packet);
    if (dropped[type] < 1) {
      ++dropped[type];
      return 0;
    }
    return 1;
  };
  auto outcome = send(a, b_endpoint_, "through loss");
  network_.advance(5s);
  ASSERT_TRUE(outcome->has_value());
  EXPECT_TRUE(**outcome);
  ASSERT_EQ(b.io.received.size(), 1u);
  EXPECT_EQ(b.io.received[0].message, "through loss");
  EXPECT_GE(a.stats.handshake_retransmits, 2u);
  EXPECT_GE(b.stats.handshake_retransmits, 1u);  // message 2 answered again
}

TEST_F(DatagramEngineTest, DuplicatedDataPacketsAreDeliveredOnce) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  network_.filter = [](const Packet& packet) {
    return type_of(packet) == PacketType::kData ? 3 : 1;
  };
  for (int i = 0; i < 20; ++i) send(a, b_endpoint_, "m" + std::to_string(i));
  network_.pump();
  ASSERT_EQ(b.io.received.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b.io.received[i].message, "m" + std::to_string(i));
  EXPECT_EQ(b.stats.replays_dropped, 40u);
  EXPECT_EQ(b.stats.messages_received, 20u);
}

TEST_F(DatagramEngineTest, ReorderedPacketsWithinTheWindowAreAccepted) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  send(a, b_endpoint_, "setup");
  network_.pump();
  // Hold back data packets, then deliver them in reverse.
  std::vector<Packet> held;
  network_.filter = [&](const Packet& packet) {
    if (type_of(packet) == PacketType::kData) {
      held.push_back(packet);
      return 0;
    }
    return 1;
  };
  for (int i = 0; i < 10; ++i) send(a, b_endpoint_, std::to_string(i));
  network_.pump();
  network_.filter = [](const Packet&) { return 1; };
  for (auto it = held.rbegin(); it != held.rend(); ++it) network_.in_flight.push_back(*it);
  network_.pump();
  ASSERT_EQ(b.io.received.size(), 11u);
  EXPECT_EQ(b.io.received[1].message, "9");
  EXPECT_EQ(b.io.received[10].message, "0");
  for (const Packet& packet : held) network_.in_flight.push_back(packet);  // replay them all
  network_.pump();
  EXPECT_EQ(b.io.received.size(), 11u);
  EXPECT_EQ(b.stats.replays_dropped, 10u);
}

TEST_F(DatagramEngineTest, TamperedDataIsDroppedAndCounted) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  send(a, b_endpoint_, "setup");
  network_.pump();
  network_.filter = [](const Packet&) { return 1; };
  network_.in_flight.clear();
  send(a, b_endpoint_, "secret");
  ASSERT_EQ(network_.in_flight.size(), 1u);
  network_.in_flight.front().bytes.back() ^= 1;
  network_.pump();
  EXPECT_EQ(b.io.received.size(), 1u);
  EXPECT_EQ(b.stats.unauthenticated_dropped, 1u);
}

TEST_F(DatagramEngineTest, RekeysAfterTheMessageLimitWithoutLosingMessages) {
  TransportLimits limits;
  limits.rekey_after_messages = 8;
  limits.reject_after_messages = 1000;
  Node a(network_, 1, a_endpoint_, key_, limits);
  Node b(network_, 2, b_endpoint_, key_, limits);
  network_.attach(a);
  network_.attach(b);
  for (int i = 0; i < 50; ++i) {
    send(a, b_endpoint_, "m" + std::to_string(i));
    if (i % 3 == 0) network_.pump();
  }
  network_.pump();
  ASSERT_EQ(b.io.received.size(), 50u);
  EXPECT_GE(a.stats.rekeys, 2u);
  EXPECT_GE(a.stats.handshakes_completed, 3u);
  EXPECT_LE(a.stats.sessions_active, 2u);  // current + previous
}

TEST_F(DatagramEngineTest, RekeysAfterTheTimeLimitAndExpiresTheOldSession) {
  TransportTimers timers;
  timers.rekey_after = 10s;
  timers.reject_after = 20s;
  timers.previous_session_grace = 2s;
  Node a(network_, 1, a_endpoint_, key_, {}, timers);
  Node b(network_, 2, b_endpoint_, key_, {}, timers);
  network_.attach(a);
  network_.attach(b);
  send(a, b_endpoint_, "before");
  network_.pump();
  network_.advance(11s, 1s);
  send(a, b_endpoint_, "after");  // sent on the old session, starts a rekey
  network_.pump();
  EXPECT_EQ(a.stats.rekeys, 1u);
  EXPECT_EQ(a.stats.handshakes_completed, 2u);
  EXPECT_EQ(a.stats.sessions_active, 2u);
  network_.advance(3s, 500ms);
  EXPECT_EQ(a.stats.sessions_active, 1u);  // the previous one expired after its grace
  send(a, b_endpoint_, "new session");
  network_.pump();
  ASSERT_EQ(b.io.received.size(), 3u);
  EXPECT_EQ(b.io.received[2].message, "new session");
}

TEST_F(DatagramEngineTest, APeerThatRestartedOnTheSameAddressIsReachedAgainByANewHandshake) {
  Node a(network_, 1, a_endpoint_, key_);
  auto b = std::make_unique<Node>(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(*b);
  send(a, b_endpoint_, "before");
  network_.pump();
  ASSERT_EQ(b->io.received.size(), 1u);

  // b restarts: same identity and address, no memory of the session.
  b = std::make_unique<Node>(network_, 2, b_endpoint_, key_);
  network_.attach(*b);
  send(a, b_endpoint_, "lost on the old session");
  network_.pump();
  EXPECT_TRUE(b->io.received.empty());
  EXPECT_EQ(b->stats.unauthenticated_dropped, 1u);

  // Unanswered for rekey_unanswered: the next send starts a handshake with the new process.
  network_.advance(TransportTimers{}.rekey_unanswered + 1s, 1s);
  send(a, b_endpoint_, "retried");
  network_.pump();
  EXPECT_EQ(a.stats.rekeys, 1u);
  EXPECT_EQ(b->stats.handshakes_completed, 1u);
  send(a, b_endpoint_, "after");
  network_.pump();
  ASSERT_FALSE(b->io.received.empty());
  EXPECT_EQ(b->io.received.back().message, "after");
}

TEST_F(DatagramEngineTest, IdleSessionsExpireAndANewHandshakeFollows) {
  TransportTimers timers;
  timers.session_idle = 30s;
  Node a(network_, 1, a_endpoint_, key_, {}, timers);
  Node b(network_, 2, b_endpoint_, key_, {}, timers);
  network_.attach(a);
  network_.attach(b);
  send(a, b_endpoint_, "one");
  network_.pump();
  network_.advance(31s, 1s);
  EXPECT_EQ(a.stats.sessions_active, 0u);
  EXPECT_EQ(b.stats.sessions_active, 0u);
  EXPECT_GE(a.stats.sessions_expired, 1u);
  EXPECT_FALSE(a.engine->peer_at(b_endpoint_));
  send(a, b_endpoint_, "two");
  network_.pump();
  EXPECT_EQ(b.io.received.size(), 2u);
  EXPECT_EQ(a.stats.handshakes_started, 2u);
}

TEST_F(DatagramEngineTest, TheResponderAdmitHookRefusalFailsTheSenderAfterItsTimeout) {
  TransportTimers timers;
  timers.handshake_timeout = 1s;
  Node a(network_, 1, a_endpoint_, key_, {}, timers);
  Node b(network_, 2, b_endpoint_, key_, {}, timers, [](const crypto::PeerIdentity&) {
    return core::make_error(core::ErrorCode::kPermissionDenied, "not on the list");
  });
  network_.attach(a);
  network_.attach(b);
  auto outcome = send(a, b_endpoint_, "hi");
  network_.advance(1500ms);
  ASSERT_TRUE(outcome->has_value());
  EXPECT_FALSE(**outcome);
  EXPECT_EQ(b.stats.handshakes_failed_admit, 1u);
  EXPECT_TRUE(b.io.received.empty());
  EXPECT_EQ(b.stats.sessions_active, 0u);
}

TEST_F(DatagramEngineTest, TheInitiatorAdmitHookRefusalFailsTheSendWithItsError) {
  Node a(network_, 1, a_endpoint_, key_, {}, {}, [](const crypto::PeerIdentity&) {
    return core::make_error(core::ErrorCode::kPermissionDenied, "responder not trusted");
  });
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  auto outcome = send(a, b_endpoint_, "hi");
  network_.pump();
  ASSERT_TRUE(outcome->has_value());
  ASSERT_FALSE(**outcome);
  EXPECT_EQ((*outcome)->error().code(), core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(a.stats.handshakes_failed_admit, 1u);
}

TEST_F(DatagramEngineTest, HalfOpenHandshakesAreBoundedPerSource) {
  TransportLimits limits;
  limits.max_half_open_per_source = 3;
  Node b(network_, 2, b_endpoint_, key_, limits);
  network_.attach(b);
  // Initiators at one IP whose message 2 goes nowhere (they are not attached).
  std::vector<std::unique_ptr<Node>> initiators;
  for (int i = 0; i < 5; ++i) {
    initiators.push_back(
        std::make_unique<Node>(network_, 10 + i, Endpoint::ipv4({10, 0, 0, 9}, 5000 + i), key_));
    send(*initiators.back(), b_endpoint_, "x");
  }
  network_.pump();
  EXPECT_EQ(b.stats.half_open_active, 3u);
  EXPECT_EQ(b.stats.handshakes_dropped_limit, 2u);
  // Another source is not affected.
  Node c(network_, 30, Endpoint::ipv4({10, 0, 0, 10}, 1), key_);
  send(c, b_endpoint_, "y");
  network_.pump();
  EXPECT_EQ(b.stats.half_open_active, 4u);
  // Half-open state expires.
  network_.advance(6s, 1s);
  EXPECT_EQ(b.stats.half_open_active, 0u);
  EXPECT_GE(b.stats.handshakes_failed_timeout, 4u);
}

TEST_F(DatagramEngineTest, HandshakePacketsAreRateLimitedPerSource) {
  TransportLimits limits;
  limits.handshake_rate_per_source = 1;
  limits.handshake_burst_per_source = 2;
  Node b(network_, 2, b_endpoint_, key_, limits);
  network_.attach(b);
  std::vector<std::unique_ptr<Node>> initiators;
  for (int i = 0; i < 6; ++i) {
    initiators.push_back(
        std::make_unique<Node>(network_, 10 + i, Endpoint::ipv4({10, 0, 0, 9}, 5000 + i), key_));
    send(*initiators.back(), b_endpoint_, "x");
  }
  network_.pump();
  EXPECT_EQ(b.stats.rate_limited_dropped, 4u);
  EXPECT_EQ(b.stats.handshakes_accepted, 2u);
}

TEST_F(DatagramEngineTest, MalformedAndUnknownPacketsAreCountedAndNeverAnswered) {
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(b);
  b.engine->on_packet(a_endpoint_, core::as_bytes("garbage"));
  core::Bytes data;
  append_data_header(12345, 0, data);
  data.resize(data.size() + 40);
  b.engine->on_packet(a_endpoint_, data);
  core::Bytes bogus_init;
  append_handshake_init(77, core::Bytes(49, 0x5a), bogus_init);
  b.engine->on_packet(a_endpoint_, bogus_init);
  EXPECT_EQ(b.stats.malformed_dropped, 1u);
  EXPECT_EQ(b.stats.unauthenticated_dropped, 1u);
  EXPECT_EQ(b.stats.handshakes_failed_wrong_key, 1u);
  EXPECT_TRUE(network_.in_flight.empty());
  EXPECT_EQ(b.stats.packets_out, 0u);
}

TEST_F(DatagramEngineTest, OversizeMessagesAndFullQueuesAreRefused) {
  TransportLimits limits;
  limits.max_queued_per_peer = 2;
  Node a(network_, 1, a_endpoint_, key_, limits);
  network_.attach(a);
  auto big = std::make_shared<std::optional<core::Status>>();
  a.engine->send(b_endpoint_, core::Bytes(kMaxDatagramMessageSize + 1),
                 [big](core::Status status) { *big = status; });
  auto q1 = send(a, b_endpoint_, "1");
  auto q2 = send(a, b_endpoint_, "2");
  auto q3 = send(a, b_endpoint_, "3");
  a.io.run_completions();
  ASSERT_TRUE(big->has_value());
  EXPECT_EQ((*big)->error().code(), core::ErrorCode::kInvalidArgument);
  ASSERT_TRUE(q3->has_value());
  EXPECT_EQ((*q3)->error().code(), core::ErrorCode::kStoreFull);
  EXPECT_FALSE(q1->has_value());
  a.engine->shutdown();
  a.io.run_completions();
  ASSERT_TRUE(q1->has_value() && q2->has_value());
  EXPECT_EQ((*q1)->error().code(), core::ErrorCode::kFailedPrecondition);
}

TEST_F(DatagramEngineTest, SimultaneousHandshakesBothWaysConverge) {
  Node a(network_, 1, a_endpoint_, key_);
  Node b(network_, 2, b_endpoint_, key_);
  network_.attach(a);
  network_.attach(b);
  send(a, b_endpoint_, "from a");
  send(b, a_endpoint_, "from b");
  network_.pump();
  for (int i = 0; i < 10; ++i) {
    send(a, b_endpoint_, "a" + std::to_string(i));
    send(b, a_endpoint_, "b" + std::to_string(i));
  }
  network_.pump();
  network_.advance(15s, 1s);  // grace periods pass
  send(a, b_endpoint_, "late a");
  send(b, a_endpoint_, "late b");
  network_.pump();
  EXPECT_EQ(a.io.received.size(), 12u);
  EXPECT_EQ(b.io.received.size(), 12u);
}

}  // namespace
}  // namespace synapse::dht
