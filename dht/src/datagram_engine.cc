#include "synapse/dht/datagram_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "synapse/dht/datagram_packet.h"
#include "synapse/dht/rate_limiter.h"
#include "synapse/dht/replay_window.h"

namespace synapse::dht {

namespace {

using core::MonoTime;

struct Outgoing {
  core::Bytes message;
  std::function<void(core::Status)> done;
};

// An established (or, for the initiator, almost established) session.
struct Session {
  Session(crypto::HandshakeResult result)
      : peer(std::move(result.peer)),
        send_cipher(std::move(result.send)),
        receive_cipher(std::move(result.receive)),
        handshake_hash(result.handshake_hash) {}

  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  Endpoint endpoint;
  crypto::PeerIdentity peer;
  crypto::TransportCipher send_cipher;
  crypto::TransportCipher receive_cipher;
  std::array<uint8_t, 32> handshake_hash{};  // the same on both sides
  uint64_t next_nonce = 0;
  uint64_t messages_sent = 0;
  ReplayWindow window;
  bool initiator = false;
  // The initiator sends nothing until an authenticated packet proves the responder has the
  // session; until then it resends message 3.
  bool confirmed = false;
  core::Bytes final_packet;
  MonoTime handshake_started{};
  MonoTime next_retransmit{};
  core::Duration rto{};
  MonoTime created{};
  MonoTime last_received{};
  MonoTime last_sent{};
  // The first send since the last packet received; empty when answered.
  std::optional<MonoTime> unanswered_since;
  bool retired = false;
  MonoTime retired_at{};
};

// Initiator, message 1 sent, waiting for message 2.
struct Pending {
  uint32_t local_index = 0;
  Endpoint endpoint;
  std::optional<crypto::SecureHandshake> handshake;
  bool admit_refused = false;
  core::Bytes packet;
  MonoTime started{};
  MonoTime next_retransmit{};
  core::Duration rto{};
};

// Responder, message 2 sent, waiting for message 3.
struct HalfOpen {
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  Endpoint endpoint;
  std::optional<crypto::SecureHandshake> handshake;
  bool admit_refused = false;
  core::Bytes init_message;
  core::Bytes response_packet;
  MonoTime started{};
};

struct Peer {
  Session* current = nullptr;
  Session* previous = nullptr;
  Session* unconfirmed = nullptr;
  Pending* pending = nullptr;
  std::deque<Outgoing> queue;
  bool empty() const {
    return current == nullptr && previous == nullptr && unconfirmed == nullptr &&
           pending == nullptr && queue.empty();
  }
};

struct InitKey {
  Endpoint endpoint;
  uint32_t index = 0;
  friend bool operator==(const InitKey&, const InitKey&) = default;
};
struct InitKeyHash {
  size_t operator()(const InitKey& key) const {
    return EndpointHash()(key.endpoint) * 31 + key.index;
  }
};

double seconds(core::Duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

struct DatagramEngine::Impl {
  Impl(DatagramEngineConfig config_in, DatagramIo& io_in, core::Rng& rng_in,
       const core::Clock& clock_in, TransportStats& stats_in)
      : config(std::move(config_in)),
        io(io_in),
        rng(rng_in),
        clock(clock_in),
        stats(stats_in),
        handshake_limiter(config.limits.handshake_rate_per_source,
                          config.limits.handshake_burst_per_source,
                          config.limits.rate_limiter_sources),
        packet_limiter(config.limits.packet_rate_per_source, config.limits.packet_burst_per_source,
                       config.limits.rate_limiter_sources) {
    SYNAPSE_CHECK(config.identity && config.swarm_key && config.static_key,
                  "engine needs identity, swarm key and static key");
  }

  DatagramEngineConfig config;
  DatagramIo& io;
  core::Rng& rng;
  const core::Clock& clock;
  TransportStats& stats;
  RateLimiter handshake_limiter;
  RateLimiter packet_limiter;

  std::unordered_map<uint32_t, std::unique_ptr<Session>> sessions;
  std::unordered_map<uint32_t, std::unique_ptr<Pending>> pending;
  std::unordered_map<uint32_t, std::unique_ptr<HalfOpen>> half_open;
  std::unordered_map<InitKey, uint32_t, InitKeyHash> half_open_by_init;
  std::unordered_map<IpAddress, size_t, IpAddressHash> half_open_per_source;
  std::unordered_map<Endpoint, Peer, EndpointHash> peers;
  std::unordered_map<IpAddress, MonoTime, IpAddressHash> last_logged;

  core::Bytes scratch;
  core::Bytes plain;
  core::Bytes opened;
  bool shut_down = false;
  int delivering = 0;

  // --- helpers ----------------------------------------------------------------------------

  std::string prefix() const { return config.log_name.empty() ? "" : config.log_name + ": "; }

  crypto::HandshakeOptions handshake_options(bool* admit_refused) {
    crypto::HandshakeOptions options;
    options.identity = config.identity;
    options.swarm_key = config.swarm_key;
    options.static_key = config.static_key;
    options.certificate = config.certificate;
    if (config.admit) {
      options.admit = [admit = &config.admit, admit_refused](const crypto::PeerIdentity& peer) {
        core::Status status = (*admit)(peer);
        if (!status) *admit_refused = true;
        return status;
      };
    }
    return options;
  }

  uint32_t new_index() {
    for (;;) {
      uint32_t index = 0;
      rng.fill({reinterpret_cast<uint8_t*>(&index), sizeof(index)});
      if (index != 0 && !sessions.contains(index) && !pending.contains(index) &&
          !half_open.contains(index)) {
        return index;
      }
    }
  }

  void update_gauges() {
    stats.sessions_active = sessions.size();
    stats.half_open_active = half_open.size();
  }

  void log_failure(const Endpoint& peer, bool inbound, HandshakeFailure failure,
                   const core::Error* error, MonoTime now) {
    const IpAddress source = IpAddress::of(peer);
    auto it = last_logged.find(source);
    if (it != last_logged.end() && now - it->second < config.timers.failure_log_interval) return;
    if (last_logged.size() >= 4096) {
      std::erase_if(last_logged, [&](const auto& entry) {
        return now - entry.second >= config.timers.failure_log_interval;
      });
      if (last_logged.size() >= 4096) return;
    }
    last_logged[source] = now;
    std::string detail;
    if (error != nullptr && failure != HandshakeFailure::kWrongKey) {
      detail = ": " + error->message();
    }
    spdlog::warn("{}handshake {} {} failed: {}{}", prefix(), inbound ? "from" : "with",
                 peer.to_string(), handshake_failure_text(failure), detail);
  }

  void handshake_failed(const Endpoint& peer, bool inbound, HandshakeFailure failure,
                        const core::Error* error, MonoTime now) {
    count_handshake_failure(stats, failure);
    log_failure(peer, inbound, failure, error, now);
  }

  core::Status send_raw(const Endpoint& to, core::ByteView packet) {
    core::Status status = io.send_packet(to, packet);
    if (status) {
      ++stats.packets_out;
      stats.bytes_out += packet.size();
    } else {
      ++stats.send_errors;
    }
    return status;
  }

  core::Status send_data(Session& session, PayloadKind kind, core::ByteView body, MonoTime now) {
    scratch.clear();
    append_data_header(session.remote_index, session.next_nonce, scratch);
    plain.clear();
    plain.push_back(static_cast<uint8_t>(kind));
    plain.insert(plain.end(), body.begin(), body.end());
    session.send_cipher.seal_into(session.next_nonce,
                                  core::ByteView(scratch.data(), kDataHeaderSize), plain, scratch);
    ++session.next_nonce;
    ++session.messages_sent;
    session.last_sent = now;
    if (!session.unanswered_since) session.unanswered_since = now;
    return send_raw(session.endpoint, scratch);
  }

  bool usable(const Session& session, MonoTime now) const {
    return session.confirmed && now - session.created < config.timers.reject_after &&
           session.messages_sent < config.limits.reject_after_messages &&
           session.next_nonce < crypto::TransportCipher::kMaxNonce;
  }

  void fail_queue(Peer& peer, const core::Error& error) {
    std::deque<Outgoing> queue;
    queue.swap(peer.queue);
    for (Outgoing& out : queue) io.complete(std::move(out.done), tl::unexpected(error));
  }

  void flush_queue(Peer& peer, MonoTime now) {
    while (!peer.queue.empty() && peer.current != nullptr && usable(*peer.current, now)) {
      Outgoing out = std::move(peer.queue.front());
      peer.queue.pop_front();
      core::Status status = send_data(*peer.current, PayloadKind::kMessage, out.message, now);
      if (status) ++stats.messages_sent;
      io.complete(std::move(out.done), std::move(status));
    }
  }

  void erase_session(Session* session) {
    sessions.erase(session->local_index);
    update_gauges();
  }

  // Makes `session` the one `peer` sends on; the old one keeps receiving for a while.
  // Simultaneous handshakes started by both sides give each side two new sessions in some
  // order; both sides then keep the one with the smaller handshake hash, so they converge.
  void promote(Peer& peer, Session* session, MonoTime now) {
    ++stats.handshakes_completed;
    Session* current = peer.current;
    if (current != nullptr && current->initiator != session->initiator &&
        now - current->created < 2 * config.timers.handshake_timeout &&
        current->handshake_hash < session->handshake_hash) {
      if (peer.previous != nullptr) erase_session(peer.previous);
      peer.previous = session;
      session->retired = true;
      session->retired_at = now;
      return;
    }
    if (peer.previous != nullptr) erase_session(peer.previous);
    peer.previous = peer.current;
    if (peer.previous != nullptr) {
      peer.previous->retired = true;
      peer.previous->retired_at = now;
    }
    peer.current = session;
  }

  void start_handshake(const Endpoint& to, Peer& peer, MonoTime now) {
    auto state = std::make_unique<Pending>();
    auto handshake =
        crypto::SecureHandshake::initiator(handshake_options(&state->admit_refused), rng);
    if (!handshake) {
      fail_queue(peer, handshake.error());
      return;
    }
    auto message = handshake->next_message();
    if (!message || !message->has_value()) {
      fail_queue(peer, message ? core::Error(core::ErrorCode::kInternal, "no message 1")
                               : message.error());
      return;
    }
    state->local_index = new_index();
    state->endpoint = to;
    append_handshake_init(state->local_index, **message, state->packet);
    state->handshake.emplace(std::move(*handshake));
    state->started = now;
    state->rto = config.timers.handshake_retransmit;
    state->next_retransmit = now + state->rto;
    peer.pending = state.get();
    ++stats.handshakes_started;
    Pending& registered = *state;
    pending.emplace(state->local_index, std::move(state));
    (void)send_raw(to, registered.packet);
  }

  void maybe_rekey(const Endpoint& to, Peer& peer, const Session& session, MonoTime now) {
    if (peer.pending != nullptr || peer.unconfirmed != nullptr) return;
    const auto age = now - session.created;
    const auto limit = session.initiator ? core::Duration(config.timers.rekey_after)
                                         : core::Duration(config.timers.rekey_after * 3 / 2);
    // A peer that restarted (same address, new process) dropped our session and silently
    // ignores it: traffic that goes unanswered for a while gets a fresh handshake.
    const bool unanswered = session.unanswered_since &&
                            now - *session.unanswered_since >= config.timers.rekey_unanswered;
    if (session.messages_sent >= config.limits.rekey_after_messages || age >= limit || unanswered) {
      ++stats.rekeys;
      start_handshake(to, peer, now);
    }
  }

  // --- sending ----------------------------------------------------------------------------

  void send(const Endpoint& to, core::Bytes message, std::function<void(core::Status)> done) {
    if (shut_down) {
      io.complete(std::move(done),
                  core::make_error(core::ErrorCode::kFailedPrecondition, "transport closed"));
      return;
    }
    if (message.size() > kMaxDatagramMessageSize) {
      io.complete(std::move(done),
                  core::make_error(core::ErrorCode::kInvalidArgument,
                                   "datagram message of " + std::to_string(message.size()) +
                                       " bytes is over the limit of " +
                                       std::to_string(kMaxDatagramMessageSize) + "; use a stream"));
      return;
    }
    const MonoTime now = clock.now();
    Peer& peer = peers[to];
    if (peer.current != nullptr && usable(*peer.current, now)) {
      Session& session = *peer.current;
      maybe_rekey(to, peer, session, now);
      core::Status status = send_data(session, PayloadKind::kMessage, message, now);
      if (status) ++stats.messages_sent;
      io.complete(std::move(done), std::move(status));
      return;
    }
    if (peer.queue.size() >= config.limits.max_queued_per_peer) {
      ++stats.send_queue_full;
      io.complete(
          std::move(done),
          core::make_error(core::ErrorCode::kStoreFull,
                           "too many messages wait for the handshake with " + to.to_string()));
      return;
    }
    peer.queue.push_back({std::move(message), std::move(done)});
    if (peer.pending == nullptr && peer.unconfirmed == nullptr) {
      if (peer.current != nullptr) ++stats.rekeys;
      start_handshake(to, peer, now);
    }
  }

  // --- receiving --------------------------------------------------------------------------

  void on_packet(const Endpoint& from, core::ByteView packet) {
    if (shut_down) return;
    ++stats.packets_in;
    stats.bytes_in += packet.size();
    const MonoTime now = clock.now();
    const IpAddress source = IpAddress::of(from);
    if (!packet_limiter.allow(source, now)) {
      ++stats.rate_limited_dropped;
      return;
    }
    auto decoded = decode_packet(packet);
    if (!decoded) {
      ++stats.malformed_dropped;
      return;
    }
    if (decoded->type != PacketType::kData && !handshake_limiter.allow(source, now)) {
      ++stats.rate_limited_dropped;
      return;
    }
    switch (decoded->type) {
      case PacketType::kHandshakeInit:
        on_init(from, *decoded, now);
        break;
      case PacketType::kHandshakeResponse:
        on_response(from, *decoded, now);
        break;
      case PacketType::kHandshakeFinal:
        on_final(from, *decoded, now);
        break;
      case PacketType::kData:
        on_data(from, *decoded, now);
        break;
    }
  }

  void remove_half_open(uint32_t index) {
    auto it = half_open.find(index);
    if (it == half_open.end()) return;
    HalfOpen& state = *it->second;
    half_open_by_init.erase(InitKey{state.endpoint, state.remote_index});
    auto count = half_open_per_source.find(IpAddress::of(state.endpoint));
    if (count != half_open_per_source.end() && --count->second == 0) {
      half_open_per_source.erase(count);
    }
    half_open.erase(it);
    update_gauges();
  }

  void on_init(const Endpoint& from, const DecodedPacket& packet, MonoTime now) {
    auto duplicate = half_open_by_init.find(InitKey{from, packet.sender_index});
    if (duplicate != half_open_by_init.end()) {
      HalfOpen& state = *half_open.at(duplicate->second);
      if (std::equal(state.init_message.begin(), state.init_message.end(), packet.body.begin(),
                     packet.body.end())) {
        // Message 2 was lost: answer again with the same bytes.
        ++stats.handshake_retransmits;
        (void)send_raw(from, state.response_packet);
        return;
      }
      remove_half_open(duplicate->second);
    }
    const IpAddress source = IpAddress::of(from);
    auto per_source = half_open_per_source.find(source);
    if ((per_source != half_open_per_source.end() &&
         per_source->second >= config.limits.max_half_open_per_source) ||
        half_open.size() >= config.limits.max_half_open_total ||
        sessions.size() >= config.limits.max_sessions) {
      ++stats.handshakes_dropped_limit;
      return;
    }
    auto state = std::make_unique<HalfOpen>();
    auto handshake =
        crypto::SecureHandshake::responder(handshake_options(&state->admit_refused), rng);
    if (!handshake) return;
    core::Status read = handshake->read_message(packet.body);
    if (!read) {
      handshake_failed(from, true, classify_handshake_error(1, read.error(), false), &read.error(),
                       now);
      return;
    }
    auto message = handshake->next_message();
    if (!message || !message->has_value()) {
      ++stats.handshakes_failed_malformed;
      return;
    }
    ++stats.handshakes_accepted;
    state->local_index = new_index();
    state->remote_index = packet.sender_index;
    state->endpoint = from;
    state->init_message.assign(packet.body.begin(), packet.body.end());
    state->started = now;
    append_handshake_reply(PacketType::kHandshakeResponse, state->local_index, state->remote_index,
                           **message, state->response_packet);
    state->handshake.emplace(std::move(*handshake));
    HalfOpen& registered = *state;
    half_open_by_init[InitKey{from, packet.sender_index}] = state->local_index;
    ++half_open_per_source[source];
    half_open.emplace(state->local_index, std::move(state));
    update_gauges();
    (void)send_raw(from, registered.response_packet);
  }

  void on_response(const Endpoint& from, const DecodedPacket& packet, MonoTime now) {
    auto it = pending.find(packet.receiver_index);
    if (it == pending.end() || it->second->endpoint != from) {
      ++stats.unauthenticated_dropped;
      return;
    }
    std::unique_ptr<Pending> state = std::move(it->second);
    pending.erase(it);
    Peer& peer = peers[from];
    peer.pending = nullptr;
    core::Status read = state->handshake->read_message(packet.body);
    std::optional<core::Bytes> final_message;
    if (read) {
      auto message = state->handshake->next_message();
      if (message && message->has_value()) {
        final_message = std::move(**message);
      } else {
        read = tl::unexpected(message ? core::Error(core::ErrorCode::kInternal, "no message 3")
                                      : message.error());
      }
    }
    core::Result<crypto::HandshakeResult> result =
        read ? state->handshake->finish() : tl::unexpected(read.error());
    if (!result) {
      const HandshakeFailure failure =
          classify_handshake_error(2, result.error(), state->admit_refused);
      handshake_failed(from, false, failure, &result.error(), now);
      if (peer.current == nullptr || !usable(*peer.current, now)) {
        fail_queue(peer, result.error().with_context("handshake with " + from.to_string()));
      }
      return;
    }
    auto session = std::make_unique<Session>(std::move(*result));
    session->local_index = state->local_index;
    session->remote_index = packet.sender_index;
    session->endpoint = from;
    session->initiator = true;
    session->confirmed = false;
    append_handshake_reply(PacketType::kHandshakeFinal, state->local_index, packet.sender_index,
                           *final_message, session->final_packet);
    session->handshake_started = state->started;
    session->rto = config.timers.handshake_retransmit;
    session->next_retransmit = now + session->rto;
    session->created = now;
    session->last_received = now;
    session->last_sent = now;
    Session* registered = session.get();
    sessions.emplace(session->local_index, std::move(session));
    peer.unconfirmed = registered;
    update_gauges();
    (void)send_raw(from, registered->final_packet);
  }

  void on_final(const Endpoint& from, const DecodedPacket& packet, MonoTime now) {
    auto it = half_open.find(packet.receiver_index);
    if (it == half_open.end()) {
      // A resent message 3: our confirm was lost. Confirm again.
      auto existing = sessions.find(packet.receiver_index);
      if (existing != sessions.end() && !existing->second->initiator &&
          existing->second->remote_index == packet.sender_index &&
          existing->second->endpoint == from) {
        (void)send_data(*existing->second, PayloadKind::kKeepalive, {}, now);
        return;
      }
      ++stats.unauthenticated_dropped;
      return;
    }
    HalfOpen& state = *it->second;
    if (state.endpoint != from || state.remote_index != packet.sender_index) {
      ++stats.unauthenticated_dropped;
      return;
    }
    core::Status read = state.handshake->read_message(packet.body);
    core::Result<crypto::HandshakeResult> result =
        read ? state.handshake->finish() : tl::unexpected(read.error());
    if (!result) {
      const HandshakeFailure failure =
          classify_handshake_error(3, result.error(), state.admit_refused);
      remove_half_open(packet.receiver_index);
      handshake_failed(from, true, failure, &result.error(), now);
      return;
    }
    auto session = std::make_unique<Session>(std::move(*result));
    session->local_index = state.local_index;
    session->remote_index = state.remote_index;
    session->endpoint = from;
    session->initiator = false;
    session->confirmed = true;
    session->created = now;
    session->last_received = now;
    session->last_sent = now;
    remove_half_open(packet.receiver_index);
    Session* registered = session.get();
    sessions.emplace(session->local_index, std::move(session));
    update_gauges();
    Peer& peer = peers[from];
    promote(peer, registered, now);
    (void)send_data(*registered, PayloadKind::kKeepalive, {}, now);
    flush_queue(peer, now);
  }

  void on_data(const Endpoint& from, const DecodedPacket& packet, MonoTime now) {
    auto it = sessions.find(packet.receiver_index);
    if (it == sessions.end() || it->second->endpoint != from) {
      ++stats.unauthenticated_dropped;
      return;
    }
    Session& session = *it->second;
    switch (session.window.check(packet.nonce)) {
      case ReplayWindow::Verdict::kReplay:
        ++stats.replays_dropped;
        return;
      case ReplayWindow::Verdict::kTooOld:
        ++stats.too_old_dropped;
        return;
      case ReplayWindow::Verdict::kFresh:
        break;
    }
    opened.clear();
    if (!session.receive_cipher.open_into(packet.nonce, packet.header, packet.body, opened)) {
      ++stats.unauthenticated_dropped;
      return;
    }
    session.window.record(packet.nonce);
    session.last_received = now;
    session.unanswered_since.reset();
    if (opened.empty() || opened[0] > static_cast<uint8_t>(PayloadKind::kMessage) ||
        (opened[0] == static_cast<uint8_t>(PayloadKind::kKeepalive) && opened.size() != 1)) {
      ++stats.malformed_dropped;
      return;
    }
    if (!session.confirmed) {
      session.confirmed = true;
      session.final_packet = core::Bytes();
      Peer& peer = peers[from];
      if (peer.unconfirmed == &session) peer.unconfirmed = nullptr;
      promote(peer, &session, now);
      flush_queue(peer, now);
    }
    if (opened[0] != static_cast<uint8_t>(PayloadKind::kMessage)) return;
    ++stats.messages_received;
    ++delivering;
    io.deliver(from, session.peer, core::ByteView(opened).subspan(1));
    --delivering;
    if (shut_down && delivering == 0) clear();
  }

  // --- timers -----------------------------------------------------------------------------

  void on_timer() {
    if (shut_down) return;
    const MonoTime now = clock.now();
    const auto timeout = core::Duration(config.timers.handshake_timeout);

    std::vector<uint32_t> failed;
    for (auto& [index, state] : pending) {
      if (now - state->started >= timeout) {
        failed.push_back(index);
      } else if (now >= state->next_retransmit) {
        ++stats.handshake_retransmits;
        state->rto =
            std::min<core::Duration>(state->rto * 2, config.timers.handshake_retransmit_max);
        state->next_retransmit = now + state->rto;
        (void)send_raw(state->endpoint, state->packet);
      }
    }
    for (uint32_t index : failed) {
      std::unique_ptr<Pending> state = std::move(pending.at(index));
      pending.erase(index);
      Peer& peer = peers[state->endpoint];
      peer.pending = nullptr;
      fail_after_timeout(peer, state->endpoint, now);
    }

    failed.clear();
    for (auto& [index, state] : half_open) {
      if (now - state->started >= timeout) failed.push_back(index);
    }
    for (uint32_t index : failed) {
      ++stats.handshakes_failed_timeout;
      remove_half_open(index);
    }

    std::vector<Session*> expired;
    for (auto& [index, session] : sessions) {
      Session& s = *session;
      if (!s.confirmed) {
        if (now - s.handshake_started >= timeout) {
          expired.push_back(&s);
        } else if (now >= s.next_retransmit) {
          ++stats.handshake_retransmits;
          s.rto = std::min<core::Duration>(s.rto * 2, config.timers.handshake_retransmit_max);
          s.next_retransmit = now + s.rto;
          (void)send_raw(s.endpoint, s.final_packet);
        }
        continue;
      }
      const MonoTime last_activity = std::max(s.last_received, s.last_sent);
      if (now - s.created >= config.timers.reject_after + config.timers.previous_session_grace ||
          now - last_activity >= config.timers.session_idle ||
          (s.retired &&
           now - std::max(s.retired_at, s.last_received) >= config.timers.previous_session_grace)) {
        expired.push_back(&s);
      }
    }
    for (Session* s : expired) {
      const Endpoint endpoint = s->endpoint;
      Peer& peer = peers[endpoint];
      if (!s->confirmed) {
        peer.unconfirmed = nullptr;
        erase_session(s);
        fail_after_timeout(peer, endpoint, now);
        continue;
      }
      if (peer.current == s) peer.current = nullptr;
      if (peer.previous == s) peer.previous = nullptr;
      ++stats.sessions_expired;
      erase_session(s);
    }
    std::erase_if(peers, [](const auto& entry) { return entry.second.empty(); });
  }

  void fail_after_timeout(Peer& peer, const Endpoint& endpoint, MonoTime now) {
    handshake_failed(endpoint, false, HandshakeFailure::kTimeout, nullptr, now);
    if (peer.current == nullptr || !usable(*peer.current, now)) {
      fail_queue(peer, core::Error(core::ErrorCode::kIo,
                                   "handshake with " + endpoint.to_string() + " timed out after " +
                                       std::to_string(seconds(config.timers.handshake_timeout)) +
                                       " s (no answer: peer down, unreachable or holding another "
                                       "swarm key)"));
    }
  }

  // --- shutdown ---------------------------------------------------------------------------

  void shutdown() {
    if (shut_down) return;
    shut_down = true;
    const core::Error closed(core::ErrorCode::kFailedPrecondition, "transport closed");
    for (auto& [endpoint, peer] : peers) fail_queue(peer, closed);
    if (delivering == 0) clear();
  }

  void clear() {
    peers.clear();
    sessions.clear();
    pending.clear();
    half_open.clear();
    half_open_by_init.clear();
    half_open_per_source.clear();
    update_gauges();
  }
};

DatagramEngine::DatagramEngine(DatagramEngineConfig config, DatagramIo& io, core::Rng& rng,
                               const core::Clock& clock, TransportStats& stats)
    : impl_(std::make_unique<Impl>(std::move(config), io, rng, clock, stats)) {}

DatagramEngine::~DatagramEngine() = default;

void DatagramEngine::send(const Endpoint& to, core::Bytes message,
                          std::function<void(core::Status)> done) {
  impl_->send(to, std::move(message), std::move(done));
}

void DatagramEngine::on_packet(const Endpoint& from, core::ByteView packet) {
  impl_->on_packet(from, packet);
}

void DatagramEngine::on_timer() { impl_->on_timer(); }

std::optional<crypto::PeerIdentity> DatagramEngine::peer_at(const Endpoint& endpoint) const {
  auto it = impl_->peers.find(endpoint);
  if (it == impl_->peers.end() || it->second.current == nullptr) return std::nullopt;
  return it->second.current->peer;
}

void DatagramEngine::shutdown() { impl_->shutdown(); }

void DatagramEngine::report_handshake_failure(const Endpoint& peer, bool inbound,
                                              HandshakeFailure failure, const core::Error* error) {
  impl_->handshake_failed(peer, inbound, failure, error, impl_->clock.now());
}

}  // namespace synapse::dht
