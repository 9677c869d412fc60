// The libuv transport over loopback: two transports on one loop in one process.
#include "synapse/dht/transport.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <sstream>

#include "dht_test_util.h"
#include "synapse/crypto/admission.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/hash.h"
#include "synapse/dht/datagram_packet.h"
#include "test_util.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;
using testing::run_until;

struct Received {
  Endpoint from;
  crypto::NodeId peer;
  std::string message;
};

struct Node {
  Node(uint64_t seed) : rng(seed), identity(crypto::NodeIdentity::generate(rng)) {}
  core::SeededRng rng;
  crypto::NodeIdentity identity;
  std::unique_ptr<Transport> transport;
  std::vector<Received> received;
  std::vector<std::unique_ptr<Stream>> accepted;
};

// Captures log lines for the duration of a test.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  size_t count(std::string_view needle) const {
    std::string text = out_.str();
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    int open = 0;
    for (Node* node : nodes_) {
      node->accepted.clear();
      if (node->transport) {
        ++open;
        node->transport->close([&open] { --open; });
      }
    }
    EXPECT_TRUE(run_until(
        &loop_, [&] { return open == 0; }, 10s));
    for (Node* node : nodes_) node->transport.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "every handle is closed";
  }

  TransportOptions options_for(Node& node, const crypto::SwarmKey& key) {
    TransportOptions options;
    options.identity = &node.identity;
    options.swarm_key = &key;
    options.timers.tick = 10ms;
    return options;
  }

  Node& node(uint64_t seed) {
    owned_.push_back(std::make_unique<Node>(seed));
    return *owned_.back();
  }

  void start(Node& node, TransportOptions options) {
    auto transport = Transport::create(&loop_, std::move(options), node.rng, clock_);
    ASSERT_TRUE(transport) << transport.error().message();
    node.transport = std::move(*transport);
    node.transport->set_message_handler(
        [&node](const Endpoint& from, const crypto::PeerIdentity& peer, core::ByteView message) {
          node.received.push_back({from, peer.node_id, std::string(core::as_chars(message))});
        });
    node.transport->set_stream_handler(
        [&node](std::unique_ptr<Stream> stream) { node.accepted.push_back(std::move(stream)); });
    nodes_.push_back(&node);
  }

  void start(Node& node, const crypto::SwarmKey& key) { start(node, options_for(node, key)); }

  std::shared_ptr<std::optional<core::Status>> send(Node& from, const Endpoint& to,
                                                    std::string_view text) {
    auto outcome = std::make_shared<std::optional<core::Status>>();
    auto bytes = core::as_bytes(text);
    from.transport->send(to, core::Bytes(bytes.begin(), bytes.end()),
                         [outcome](core::Status status) { *outcome = std::move(status); });
    return outcome;
  }

  std::unique_ptr<Stream> open_stream(Node& from, const Endpoint& to, core::Status* error) {
    std::optional<core::Result<std::unique_ptr<Stream>>> result;
    from.transport->open_stream(
        to, [&](core::Result<std::unique_ptr<Stream>> r) { result = std::move(r); });
    EXPECT_TRUE(run_until(
        &loop_, [&] { return result.has_value(); }, 10s));
    if (!result) return nullptr;
    if (!*result) {
      if (error) *error = tl::unexpected((*result).error());
      return nullptr;
    }
    return std::move(**result);
  }

  uv_loop_t loop_;
  core::SteadyClock clock_;
  std::vector<std::unique_ptr<Node>> owned_;
  std::vector<Node*> nodes_;
  crypto::SwarmKey key_ = testing::swarm_key_from(0);
  crypto::SwarmKey other_key_ = testing::swarm_key_from(1);
};

TEST_F(TransportTest, TwoMembersExchangeMessagesBothWaysWithVerifiedNodeIds) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  start(b, key_);
  EXPECT_NE(a.transport->local_endpoint().port(), 0);
  auto sent = send(a, b.transport->local_endpoint(), "ping");
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.received.size() == 1; }, 5s));
  ASSERT_TRUE(sent->has_value());
  EXPECT_TRUE(**sent);
  EXPECT_EQ(b.received[0].message, "ping");
  EXPECT_EQ(b.received[0].peer, a.identity.node_id());
  EXPECT_EQ(b.received[0].from, a.transport->local_endpoint());

  send(b, b.received[0].from, "pong");
  ASSERT_TRUE(run_until(
      &loop_, [&] { return a.received.size() == 1; }, 5s));
  EXPECT_EQ(a.received[0].message, "pong");
  EXPECT_EQ(a.received[0].peer, b.identity.node_id());
  EXPECT_EQ(a.transport->peer_at(b.transport->local_endpoint())->node_id, b.identity.node_id());
  EXPECT_EQ(a.transport->stats().handshakes_completed, 1u);
  EXPECT_EQ(b.transport->stats().handshakes_completed, 1u);
  EXPECT_EQ(a.transport->stats().messages_sent, 1u);
  EXPECT_EQ(b.transport->stats().messages_received, 1u);
}

TEST_F(TransportTest, ASessionSurvivesManyMessages) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  start(b, key_);
  constexpr int kMessages = 3000;
  int acknowledged = 0;
  // Ping-pong in windows of 50 so the kernel's socket buffers never overflow.
  b.transport->set_message_handler(
      [&](const Endpoint& from, const crypto::PeerIdentity&, core::ByteView message) {
        b.transport->send(from, core::Bytes(message.begin(), message.end()), [](core::Status) {});
      });
  a.transport->set_message_handler(
      [&](const Endpoint&, const crypto::PeerIdentity&, core::ByteView) { ++acknowledged; });
  int sent = 0;
  while (sent < kMessages) {
    for (int i = 0; i < 50; ++i, ++sent)
      send(a, b.transport->local_endpoint(), std::to_string(sent));
    ASSERT_TRUE(run_until(
        &loop_, [&] { return acknowledged == sent; }, 5s))
        << acknowledged;
  }
  EXPECT_EQ(a.transport->stats().handshakes_started, 1u);
  EXPECT_EQ(a.transport->stats().sessions_active, 1u);
  EXPECT_EQ(b.transport->stats().messages_received, static_cast<uint64_t>(kMessages));
}

TEST_F(TransportTest, ATinyMessageLimitMakesSessionsRekey) {
  Node& a = node(1);
  Node& b = node(2);
  TransportOptions options = options_for(a, key_);
  options.limits.rekey_after_messages = 16;
  options.limits.reject_after_messages = 1 << 20;
  start(a, options);
  start(b, key_);
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 20; ++i) send(a, b.transport->local_endpoint(), "r" + std::to_string(i));
    const size_t expected = static_cast<size_t>(round + 1) * 20;
    ASSERT_TRUE(run_until(
        &loop_, [&] { return b.received.size() == expected; }, 5s))
        << b.received.size();
  }
  // A rekey starts once the current session has sent 16 messages and none is under way.
  EXPECT_GE(a.transport->stats().rekeys, 3u);
  EXPECT_GE(b.transport->stats().handshakes_completed, 4u);
  for (const Received& r : b.received) EXPECT_EQ(r.peer, a.identity.node_id());
}

TEST_F(TransportTest, AWrongSwarmKeyFailsAtMessageOneAndTheResponderSaysNothing) {
  LogCapture log;
  Node& member = node(1);
  Node& outsider = node(2);
  start(member, key_);
  TransportOptions options = options_for(outsider, other_key_);
  options.timers.handshake_timeout = 1s;
  options.timers.handshake_retransmit = 2s;  // exactly one message 1
  start(outsider, options);
  auto sent = send(outsider, member.transport->local_endpoint(), "let me in");
  std::optional<core::Result<std::unique_ptr<Stream>>> stream;
  outsider.transport->open_stream(member.transport->local_endpoint(),
                                  [&](auto result) { stream = std::move(result); });
  ASSERT_TRUE(run_until(
      &loop_, [&] { return sent->has_value() && stream.has_value(); }, 5s));
  ASSERT_FALSE(**sent);
  EXPECT_EQ((*sent)->error().code(), core::ErrorCode::kIo);
  EXPECT_FALSE(*stream);
  const TransportStats& stats = member.transport->stats();
  EXPECT_EQ(stats.handshakes_failed_wrong_key, 2u);  // the datagram and the stream handshake
  EXPECT_EQ(stats.packets_out, 0u);
  EXPECT_EQ(stats.half_open_active, 0u);
  EXPECT_EQ(outsider.transport->stats().packets_in, 0u);
  EXPECT_FALSE(outsider.transport->peer_at(member.transport->local_endpoint()));
  EXPECT_TRUE(member.received.empty());
  EXPECT_TRUE(member.accepted.empty());
  // One clear line per source, whatever the number of attempts.
  EXPECT_EQ(log.count("failed: wrong swarm key (message 1 did not authenticate)"), 1u)
      << log.text();
  EXPECT_EQ(log.text().find(core::to_hex(key_.secret())), std::string::npos);
}

TEST_F(TransportTest, TheAdmitHookRefusesDatagramsAndStreams) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, [&] {
    TransportOptions options = options_for(a, key_);
    options.timers.handshake_timeout = 1s;
    return options;
  }());
  TransportOptions options = options_for(b, key_);
  options.admit = [&](const crypto::PeerIdentity& peer) -> core::Status {
    if (peer.node_id == a.identity.node_id()) {
      return core::make_error(core::ErrorCode::kPermissionDenied, "not admitted");
    }
    return core::ok();
  };
  start(b, options);
  auto sent = send(a, b.transport->local_endpoint(), "hi");
  core::Status stream_error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &stream_error);
  EXPECT_EQ(stream, nullptr);
  EXPECT_FALSE(stream_error);
  ASSERT_TRUE(run_until(
      &loop_, [&] { return sent->has_value(); }, 5s));
  EXPECT_FALSE(**sent);
  EXPECT_EQ(b.transport->stats().handshakes_failed_admit, 2u);
  EXPECT_TRUE(b.received.empty());
  EXPECT_TRUE(b.accepted.empty());
}

// The admission policy of a swarm with a CA, plugged into the transport's admit hook: only a
// valid, unexpired, unrevoked certificate from this swarm's CA gets a message through.
TEST_F(TransportTest, WhenCertificatesAreRequiredOnlyValidOnesFromTheSwarmCaGetIn) {
  constexpr int64_t kNow = 1'800'000'000;  // the policy's clock, fixed for the test
  constexpr int64_t kDay = 86'400;
  core::SeededRng ca_rng(7);
  const auto ca = crypto::CertificateAuthority::generate(ca_rng);
  const auto foreign_ca = crypto::CertificateAuthority::generate(ca_rng);

  Node& valid = node(11);
  Node& revoked = node(12);
  Node& expired = node(13);
  Node& foreign = node(14);
  Node& none = node(15);
  auto certificate = [&](const crypto::CertificateAuthority& issuer, const Node& holder,
                         int64_t not_after, uint64_t serial) {
    auto cert = issuer.sign(holder.identity.node_id(), "n", {"storage"}, kNow - 10 * kDay,
                            not_after, serial);
    EXPECT_TRUE(cert) << cert.error().message();
    return cert->encode();
  };
  const std::pair<Node*, std::optional<core::Bytes>> initiators[] = {
      {&valid, certificate(ca, valid, kNow + kDay, 1)},
      {&revoked, certificate(ca, revoked, kNow + kDay, 2)},
      {&expired, certificate(ca, expired, kNow - kDay, 3)},
      {&foreign, certificate(foreign_ca, foreign, kNow + kDay, 4)},
      {&none, std::nullopt}};
  auto crl = ca.revoke(nullptr, {}, {2}, kNow - kDay);
  ASSERT_TRUE(crl);
  auto policy = crypto::AdmissionPolicy::create(
      {.ca = ca.public_key(), .require_certificate = true, .revocation_list = *crl});
  ASSERT_TRUE(policy) << policy.error().message();

  Node& member = node(10);
  TransportOptions options = options_for(member, key_);
  options.admit = [&](const crypto::PeerIdentity& peer) {
    return policy->admit(peer.node_id, peer.certificate, kNow);
  };
  start(member, options);

  std::vector<std::shared_ptr<std::optional<core::Status>>> outcomes;
  for (const auto& [initiator, cert] : initiators) {
    TransportOptions initiator_options = options_for(*initiator, key_);
    initiator_options.certificate = cert;
    initiator_options.timers.handshake_timeout = 1s;
    start(*initiator, initiator_options);
    outcomes.push_back(send(*initiator, member.transport->local_endpoint(), "hello"));
  }
  ASSERT_TRUE(run_until(
      &loop_,
      [&] {
        return std::all_of(outcomes.begin(), outcomes.end(),
                           [](auto& o) { return o->has_value(); });
      },
      10s));
  EXPECT_TRUE(**outcomes[0]);
  for (size_t i = 1; i < outcomes.size(); ++i) EXPECT_FALSE(**outcomes[i]) << "initiator " << i;
  ASSERT_EQ(member.received.size(), 1u);
  EXPECT_EQ(member.received[0].peer, valid.identity.node_id());
  EXPECT_EQ(member.transport->stats().handshakes_failed_admit, 4u);
}

// A UDP relay between two transports that sends every data packet twice.
class DuplicatingProxy {
 public:
  DuplicatingProxy(uv_loop_t* loop, Endpoint target) : target_(target) {
    uv_udp_init(loop, &udp_);
    udp_.data = this;
    sockaddr_in address;
    uv_ip4_addr("127.0.0.1", 0, &address);
    uv_udp_bind(&udp_, reinterpret_cast<sockaddr*>(&address), 0);
    sockaddr_storage bound;
    int length = sizeof(bound);
    uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &length);
    endpoint_ = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&bound)).value();
    uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
          auto* self = static_cast<DuplicatingProxy*>(handle->data);
          *buf = uv_buf_init(self->buffer_, sizeof(self->buffer_));
        },
        [](uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
          if (nread <= 0 || addr == nullptr) return;
          static_cast<DuplicatingProxy*>(handle->data)
              ->relay(Endpoint::from_sockaddr(addr).value(), buf->base, nread);
        });
  }
  // The handle lives inside this object: wait for libuv to finish closing it.
  ~DuplicatingProxy() {
    bool closed = false;
    udp_.data = &closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_),
             [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
    while (!closed) uv_run(udp_.loop, UV_RUN_ONCE);
  }
  const Endpoint& endpoint() const { return endpoint_; }
  size_t duplicated = 0;

 private:
  void relay(const Endpoint& from, const char* data, ssize_t size) {
    Endpoint to = from == target_ ? client_ : target_;
    if (from != target_) client_ = from;
    const int copies =
        static_cast<uint8_t>(data[0]) == static_cast<uint8_t>(PacketType::kData) ? 2 : 1;
    if (copies == 2) ++duplicated;
    sockaddr_storage address;
    to.to_sockaddr(&address);
    uv_buf_t buffer = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(size));
    for (int i = 0; i < copies; ++i) {
      uv_udp_try_send(&udp_, &buffer, 1, reinterpret_cast<sockaddr*>(&address));
    }
  }

  uv_udp_t udp_;
  Endpoint target_;
  Endpoint client_;
  Endpoint endpoint_;
  char buffer_[65536];
};

TEST_F(TransportTest, ReplayedUdpPacketsAreDroppedAndDeliveredOnce) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  start(b, key_);
  auto proxy = std::make_unique<DuplicatingProxy>(&loop_, b.transport->local_endpoint());
  for (int i = 0; i < 20; ++i) send(a, proxy->endpoint(), "m" + std::to_string(i));
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.received.size() >= 20; }, 5s));
  send(b, b.received[0].from, "reply");  // b's replies go through the proxy too
  ASSERT_TRUE(run_until(
      &loop_, [&] { return a.received.size() == 1; }, 5s));
  run_until(
      &loop_, [] { return false; }, 100ms);  // let any late duplicate arrive
  ASSERT_EQ(b.received.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b.received[i].message, "m" + std::to_string(i));
  EXPECT_EQ(a.received.size(), 1u);
  EXPECT_EQ(b.received[0].from, proxy->endpoint());
  EXPECT_GT(proxy->duplicated, 20u);
  EXPECT_GE(b.transport->stats().replays_dropped, 20u);
  EXPECT_GE(a.transport->stats().replays_dropped, 1u);
  proxy.reset();
}

TEST_F(TransportTest, AHundredMebibyteStreamArrivesIntactWithBackPressure) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  start(b, key_);
  core::Status error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &error);
  ASSERT_NE(stream, nullptr) << error.error().message();
  EXPECT_EQ(stream->peer().node_id, b.identity.node_id());
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.accepted.size() == 1; }, 5s));
  Stream& incoming = *b.accepted[0];
  EXPECT_EQ(incoming.peer().node_id, a.identity.node_id());

  constexpr size_t kTotal = 100u << 20;
  constexpr size_t kChunk = 1u << 20;
  constexpr int kMaxOutstanding = 4;
  crypto::Sha256 sent_hash;
  crypto::Sha256 received_hash;
  size_t received = 0;
  bool ended = false;
  bool paused_once = false;
  incoming.set_read_handler([&](core::Result<core::ByteView> data) {
    ASSERT_TRUE(data) << data.error().message();
    if (data->empty()) {
      ended = true;
      return;
    }
    received_hash.update(*data);
    received += data->size();
    if (!paused_once && received > kTotal / 2) {
      // Pause for a while: the writer must then stall on back-pressure, not buffer.
      paused_once = true;
      incoming.pause_reading();
      auto* timer = new uv_timer_t;
      uv_timer_init(&loop_, timer);
      timer->data = &incoming;
      uv_timer_start(
          timer,
          [](uv_timer_t* t) {
            static_cast<Stream*>(t->data)->resume_reading();
            uv_close(reinterpret_cast<uv_handle_t*>(t),
                     [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
          },
          200, 0);
    }
  });

  core::SeededRng data_rng(7);
  core::Bytes chunk(kChunk);
  size_t written = 0;
  int outstanding = 0;
  size_t max_queued = 0;
  bool shut = false;
  std::function<void()> pump = [&] {
    while (outstanding < kMaxOutstanding && written < kTotal) {
      data_rng.fill(chunk);
      sent_hash.update(chunk);
      ++outstanding;
      written += chunk.size();
      auto status = stream->write(chunk, [&](core::Status status) {
        ASSERT_TRUE(status) << status.error().message();
        --outstanding;
        pump();
      });
      ASSERT_TRUE(status) << status.error().message();
      max_queued = std::max(max_queued, stream->queued_bytes());
    }
    if (written == kTotal && outstanding == 0 && !shut) {
      shut = true;
      ASSERT_TRUE(stream->shutdown([](core::Status status) { EXPECT_TRUE(status); }));
    }
  };
  pump();
  ASSERT_TRUE(run_until(
      &loop_, [&] { return ended; }, 120s))
      << received;
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(sent_hash.finish(), received_hash.finish());
  EXPECT_LE(max_queued, kMaxOutstanding * (kChunk + kChunk / 1000));
  EXPECT_EQ(a.transport->stats().stream_bytes_out, kTotal);
  EXPECT_EQ(b.transport->stats().stream_bytes_in, kTotal);
  EXPECT_EQ(a.transport->stats().streams_opened, 1u);
  EXPECT_EQ(b.transport->stats().streams_accepted, 1u);
  EXPECT_TRUE(paused_once);
}

TEST_F(TransportTest, StreamsCarryDataBothWaysAndEndOnlyWithAnEndFrame) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  start(b, key_);
  core::Status error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &error);
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.accepted.size() == 1; }, 5s));
  std::string at_b;
  std::string at_a;
  std::optional<core::Error> b_error;
  b.accepted[0]->set_read_handler([&](core::Result<core::ByteView> data) {
    if (!data) {
      b_error = data.error();
      return;
    }
    at_b += core::as_chars(*data);
    if (at_b == "question") {
      ASSERT_TRUE(b.accepted[0]->write(core::as_bytes("answer"), [](core::Status) {}));
    }
  });
  stream->set_read_handler([&](core::Result<core::ByteView> data) {
    ASSERT_TRUE(data);
    at_a += core::as_chars(*data);
  });
  ASSERT_TRUE(stream->write(core::as_bytes("question"), [](core::Status) {}));
  ASSERT_TRUE(run_until(
      &loop_, [&] { return at_a == "answer"; }, 5s));
  // Closing without shutdown() is a truncation for the reader.
  stream->close();
  EXPECT_FALSE(stream->write(core::as_bytes("late"), [](core::Status) {}));
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b_error.has_value(); }, 5s));
  EXPECT_EQ(b_error->code(), core::ErrorCode::kIo);
  EXPECT_NE(b_error->message().find("without an end-of-stream frame"), std::string::npos);
  run_until(
      &loop_, [&] { return b.transport->stats().streams_active == 0; }, 1s);
}

TEST_F(TransportTest, OpeningAStreamToAClosedPortFails) {
  Node& a = node(1);
  start(a, key_);
  core::Status error;
  // The UDP+TCP port of a transport that was closed again.
  Node& gone = node(2);
  start(gone, key_);
  Endpoint target = gone.transport->local_endpoint();
  bool closed = false;
  gone.transport->close([&] { closed = true; });
  ASSERT_TRUE(run_until(
      &loop_, [&] { return closed; }, 5s));
  gone.transport.reset();
  auto stream = open_stream(a, target, &error);
  EXPECT_EQ(stream, nullptr);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), core::ErrorCode::kIo);
}

TEST_F(TransportTest, CloseFailsPendingSendsAndCallsBackOnce) {
  Node& a = node(1);
  start(a, key_);
  auto sent = send(a, Endpoint::parse("127.0.0.1:9").value(), "nobody");
  int closed = 0;
  a.transport->close([&] { ++closed; });
  ASSERT_TRUE(run_until(
      &loop_, [&] { return closed == 1; }, 5s));
  ASSERT_TRUE(sent->has_value());
  EXPECT_EQ((*sent)->error().code(), core::ErrorCode::kFailedPrecondition);
  a.transport.reset();
}

TEST_F(TransportTest, MembersTalkOverIpv6) {
  Node& a = node(1);
  Node& b = node(2);
  TransportOptions options_a = options_for(a, key_);
  options_a.bind = Endpoint::parse("[::1]:0").value();
  TransportOptions options_b = options_for(b, key_);
  options_b.bind = Endpoint::parse("[::1]:0").value();
  auto probe = Transport::create(&loop_, options_a, a.rng, clock_);
  if (!probe) GTEST_SKIP() << "no IPv6 loopback: " << probe.error().message();
  bool closed = false;
  (*probe)->close([&] { closed = true; });
  ASSERT_TRUE(run_until(
      &loop_, [&] { return closed; }, 5s));
  probe->reset();
  start(a, options_a);
  start(b, options_b);
  EXPECT_TRUE(b.transport->local_endpoint().is_ipv6());
  send(a, b.transport->local_endpoint(), "over v6");
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.received.size() == 1; }, 5s));
  EXPECT_EQ(b.received[0].peer, a.identity.node_id());
  EXPECT_EQ(b.received[0].from.to_string(), a.transport->local_endpoint().to_string());
  core::Status error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &error);
  ASSERT_NE(stream, nullptr) << error.error().message();
  EXPECT_EQ(stream->peer().node_id, b.identity.node_id());
}

// A TCP listener that accepts connections and never says anything.
class SilentListener {
 public:
  explicit SilentListener(uv_loop_t* loop) : loop_(loop) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
    sockaddr_in address;
    uv_ip4_addr("127.0.0.1", 0, &address);
    uv_tcp_bind(&tcp_, reinterpret_cast<sockaddr*>(&address), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 16, [](uv_stream_t* server, int) {
      auto* self = static_cast<SilentListener*>(server->data);
      auto* client = new uv_tcp_t;
      uv_tcp_init(self->loop_, client);
      uv_accept(server, reinterpret_cast<uv_stream_t*>(client));
      self->clients_.push_back(client);
    });
    sockaddr_storage bound;
    int length = sizeof(bound);
    uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &length);
    endpoint_ = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&bound)).value();
  }
  ~SilentListener() {
    for (uv_tcp_t* client : clients_) {
      uv_close(reinterpret_cast<uv_handle_t*>(client),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
    bool closed = false;
    tcp_.data = &closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_),
             [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
    while (!closed) uv_run(loop_, UV_RUN_ONCE);
  }
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  uv_loop_t* loop_;
  uv_tcp_t tcp_;
  std::vector<uv_tcp_t*> clients_;
  Endpoint endpoint_;
};

TEST_F(TransportTest, AStreamHandshakeThatGetsNoAnswerTimesOut) {
  Node& a = node(1);
  TransportOptions options = options_for(a, key_);
  options.timers.stream_handshake_timeout = 300ms;
  start(a, options);
  auto silent = std::make_unique<SilentListener>(&loop_);
  core::Status error;
  const auto started = std::chrono::steady_clock::now();
  auto stream = open_stream(a, silent->endpoint(), &error);
  EXPECT_EQ(stream, nullptr);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), core::ErrorCode::kIo);
  EXPECT_NE(error.error().message().find("timed out"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
  EXPECT_EQ(a.transport->stats().streams_timed_out, 1u);
  EXPECT_EQ(a.transport->stats().handshakes_failed_timeout, 1u);
  silent.reset();
}

TEST_F(TransportTest, AnIdleStreamIsClosedWithAnError) {
  Node& a = node(1);
  Node& b = node(2);
  start(a, key_);
  TransportOptions options = options_for(b, key_);
  options.timers.stream_idle = 200ms;
  start(b, options);
  core::Status error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &error);
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(run_until(
      &loop_, [&] { return b.accepted.size() == 1; }, 5s));
  std::optional<core::Error> idle;
  b.accepted[0]->set_read_handler([&](core::Result<core::ByteView> data) {
    if (!data) idle = data.error();
  });
  std::optional<core::Error> truncated;
  stream->set_read_handler([&](core::Result<core::ByteView> data) {
    if (!data) truncated = data.error();
  });
  ASSERT_TRUE(run_until(
      &loop_, [&] { return idle && truncated; }, 5s));
  EXPECT_NE(idle->message().find("idle"), std::string::npos);
  EXPECT_EQ(b.transport->stats().streams_timed_out, 1u);
  EXPECT_EQ(truncated->code(), core::ErrorCode::kIo);  // the other side sees the close
}

TEST_F(TransportTest, InboundStreamHandshakesAreBoundedPerSource) {
  Node& b = node(2);
  TransportOptions options = options_for(b, key_);
  options.limits.max_stream_handshakes_per_source = 2;
  options.timers.stream_handshake_timeout = 10s;
  start(b, options);
  // Raw connections that never send their first handshake message.
  std::vector<uv_tcp_t*> clients;
  std::vector<std::unique_ptr<uv_connect_t>> requests;
  int connected = 0;
  for (int i = 0; i < 4; ++i) {
    auto* client = new uv_tcp_t;
    uv_tcp_init(&loop_, client);
    clients.push_back(client);
    requests.push_back(std::make_unique<uv_connect_t>());
    requests.back()->data = &connected;
    sockaddr_storage address;
    b.transport->local_endpoint().to_sockaddr(&address);
    uv_tcp_connect(requests.back().get(), client, reinterpret_cast<sockaddr*>(&address),
                   [](uv_connect_t* req, int status) {
                     if (status == 0) ++*static_cast<int*>(req->data);
                   });
  }
  ASSERT_TRUE(run_until(
      &loop_,
      [&] { return connected == 4 && b.transport->stats().stream_connections_refused == 2; }, 5s))
      << b.transport->stats().to_text();
  for (uv_tcp_t* client : clients) {
    uv_close(reinterpret_cast<uv_handle_t*>(client),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  // The refused slots are free again once those connections are gone.
  run_until(
      &loop_, [] { return false; }, 50ms);
  Node& a = node(1);
  start(a, key_);
  core::Status error;
  auto stream = open_stream(a, b.transport->local_endpoint(), &error);
  EXPECT_NE(stream, nullptr);
}

TEST_F(TransportTest, CreateRejectsMissingOptionsAndBusyPorts) {
  Node& a = node(1);
  TransportOptions missing;
  EXPECT_FALSE(Transport::create(&loop_, missing, a.rng, clock_));
  start(a, key_);
  Node& b = node(2);
  TransportOptions options = options_for(b, key_);
  options.bind = a.transport->local_endpoint();
  auto busy = Transport::create(&loop_, options, b.rng, clock_);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), core::ErrorCode::kIo);
  uv_run(&loop_, UV_RUN_NOWAIT);
}

}  // namespace
}  // namespace synapse::dht
