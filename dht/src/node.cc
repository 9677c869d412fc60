#include "synapse/dht/node.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "node_internal.h"

namespace synapse::dht {
namespace {

using node_internal::random_u64;
using node_internal::whole_seconds;

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::seconds;

bool reply_matches(MessageType request, MessageType reply) {
  if (reply == MessageType::kError) return true;
  switch (request) {
    case MessageType::kPing:
      return reply == MessageType::kPong;
    case MessageType::kFindNode:
      return reply == MessageType::kNodes;
    case MessageType::kGetValues:
      return reply == MessageType::kValues;
    case MessageType::kPutValues:
      return reply == MessageType::kPutAck;
    case MessageType::kAddProvider:
      return reply == MessageType::kAddProviderAck;
    case MessageType::kGetProviders:
      return reply == MessageType::kProviders;
    case MessageType::kListen:
      return reply == MessageType::kListenAck;
    default:
      return false;
  }
}

}  // namespace

size_t Node::IdHash::operator()(const NodeId& id) const {
  size_t h;
  std::memcpy(&h, id.bytes().data(), sizeof(h));
  return h;
}

Node::Node(const NodeId& id, NodeOptions options, MessageSender& sender, core::Rng& rng,
           SignatureVerifier* verifier)
    : id_(id),
      options_(options),
      sender_(sender),
      rng_(rng),
      own_verifier_(verifier == nullptr ? std::make_unique<CachingVerifier>(1024) : nullptr),
      verifier_(verifier == nullptr ? own_verifier_.get() : verifier),
      table_(id,
             [&] {
               RoutingTableOptions routing = options.routing;
               routing.k = options.k;
               return routing;
             }()),
      records_(options.storage) {
  SYNAPSE_CHECK(options_.k > 0 && options_.k <= kMaxContactsPerReply, "k in 1..20");
  SYNAPSE_CHECK(options_.alpha > 0, "alpha must be positive");
  next_txid_ = static_cast<uint32_t>(random_u64(rng_)) | 1;
}

Node::~Node() = default;

// ---------------------------------------------------------------------------------------------
// Driving

core::MonoTime Node::next_timer() const {
  if (!started_ || !finished_.empty()) return core::MonoTime::min();
  core::MonoTime next = next_maintenance_;
  if (!timers_.empty()) next = std::min(next, timers_.top().when);
  return next;
}

void Node::on_message(const Contact& from, core::ByteView bytes, core::MonoTime now) {
  ++stats_.messages_received;
  auto decoded = decode(bytes);
  if (!decoded) {
    ++stats_.malformed_dropped;
    return;
  }
  if (from.id == id_) {
    ++stats_.unexpected_replies;
    return;
  }
  Message& message = *decoded;
  if (message.is_reply()) {
    handle_reply(from, message, now);
  } else if (auto* notify = std::get_if<Notify>(&message.body)) {
    handle_notify(from, *notify, now);
  } else {
    handle_request(from, message, now);
  }
  run_finished();
}

void Node::on_timer(core::MonoTime now) {
  if (!started_) {
    started_ = true;
    const auto interval = options_.maintenance_interval.count();
    next_maintenance_ =
        now + core::Duration(interval > 0 ? static_cast<int64_t>(random_u64(rng_) %
                                                                 static_cast<uint64_t>(interval))
                                          : 0);
    next_revive_ = now + options_.revive_interval;
    refresh_epoch_ = now;  // nothing to refresh before the node ran for a refresh interval
  }
  while (!timers_.empty() && timers_.top().when <= now) {
    const TimerEntry timer = timers_.top();
    timers_.pop();
    auto found = find_pending(timer.txid);
    if (found == pending_.end()) continue;
    Pending& pending = *found;
    if (timer.hard) {
      if (pending.hard_deadline != timer.when) continue;
      Pending failed = pending;
      pending_.erase(found);
      ++stats_.rpc_timeouts;
      rpc_failed(failed, /*liveness=*/true, now);
    } else {
      if (pending.soft_deadline != timer.when) continue;
      if (pending.retransmits_left > 0) {
        // A copy may have been lost: send it again (same txid), and again after another RTO
        // while retransmissions are left. Karn's rule: the answer gives no RTT sample.
        --pending.retransmits_left;
        pending.retransmitted = true;
        ++stats_.retransmits;
        ++stats_.messages_sent;
        sender_.send(pending.to.address, pending.bytes);
        const core::MonoTime next = now + rto();
        if (pending.retransmits_left > 0 && next < pending.hard_deadline) {
          pending.soft_deadline = next;
          timers_.push({next, pending.txid, false});
        }
      }
      if (pending.stalled) continue;
      pending.stalled = true;
      timers_.push({pending.hard_deadline, pending.txid, true});
      if (pending.purpose == Purpose::kLookup) {
        auto op = operations_.find(pending.op);
        if (op != operations_.end() && op->second->lookup) {
          op->second->lookup->on_stalled(pending.to.id);
          advance(pending.op, now);
        }
      }
    }
  }
  if (now >= next_maintenance_) {
    next_maintenance_ = now + options_.maintenance_interval;
    maintenance(now);
  }
  run_finished();
}

core::Duration Node::rto() const {
  if (!have_rtt_) return options_.rto_initial;
  const double rto_us = srtt_us_ + std::max(4 * rttvar_us_, 1000.0);
  const core::Duration rto = duration_cast<core::Duration>(microseconds(std::llround(rto_us)));
  return std::clamp(rto, options_.rto_min, options_.rto_max);
}

// ---------------------------------------------------------------------------------------------
// Messages

bool Node::send_message(const PeerAddress& to, const Message& message) {
  auto bytes = encode(message);
  if (!bytes) return false;  // a bug: we build messages within the limits
  ++stats_.messages_sent;
  sender_.send(to, std::move(*bytes));
  return true;
}

void Node::reply(const Contact& to, uint32_t txid, MessageBody body) {
  Message message{txid, std::move(body)};
  send_message(to.address, message);
}

std::vector<Node::Pending>::iterator Node::find_pending(uint32_t txid) {
  auto position = std::lower_bound(pending_.begin(), pending_.end(), txid,
                                   [](const Pending& p, uint32_t id) { return p.txid < id; });
  if (position != pending_.end() && position->txid != txid) return pending_.end();
  return position;
}

uint32_t Node::send_request(const Contact& to, bool id_known, MessageBody body, Purpose purpose,
                            uint64_t op, core::MonoTime now) {
  uint32_t txid = next_txid_++;
  while (txid == 0 || find_pending(txid) != pending_.end()) txid = next_txid_++;
  Message message{txid, std::move(body)};
  const core::Duration timeout = rto();
  Pending pending;
  pending.txid = txid;
  pending.to = to;
  pending.id_known = id_known;
  pending.request = message.type();
  pending.purpose = purpose;
  pending.op = op;
  pending.sent = now;
  pending.soft_deadline = now + timeout;
  pending.hard_deadline =
      now + std::max(timeout * options_.hard_timeout_factor, options_.hard_timeout_min);
  auto bytes = encode(message);
  if (bytes) {  // else a bug: we build messages within the limits; the request times out
    ++stats_.messages_sent;
    if (options_.retransmits > 0) {
      pending.bytes = *bytes;
      pending.retransmits_left = static_cast<uint8_t>(std::min(options_.retransmits, 255));
    }
    sender_.send(to.address, std::move(*bytes));
  }
  timers_.push({pending.soft_deadline, txid, false});  // it queues the hard deadline
  auto position = std::lower_bound(pending_.begin(), pending_.end(), txid,
                                   [](const Pending& p, uint32_t id) { return p.txid < id; });
  pending_.insert(position, pending);
  return txid;
}

void Node::observe(const Contact& contact, core::MonoTime now) {
  if (contact.id == id_) return;
  auto result = table_.observe(contact, now);
  if (result.ping) {
    send_request(*result.ping, true, Ping{}, Purpose::kEvictPing, 0, now);
  }
}

bool Node::allow(std::unordered_map<NodeId, TokenBucket, IdHash>& table, const NodeId& source,
                 double rate, double burst, core::MonoTime now) {
  if (rate <= 0) return true;
  auto refill = [&](TokenBucket& bucket) {
    const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
    bucket.tokens = std::min(burst, bucket.tokens + std::max(elapsed, 0.0) * rate);
    bucket.last = now;
  };
  auto found = table.find(source);
  if (found == table.end()) {
    if (table.size() >= options_.rate_limit_sources) {
      // Forget sources whose bucket has refilled: they are indistinguishable from new ones.
      for (auto it = table.begin(); it != table.end();) {
        refill(it->second);
        it = it->second.tokens >= burst ? table.erase(it) : std::next(it);
      }
      if (table.size() >= options_.rate_limit_sources) return true;
    }
    found = table.emplace(source, TokenBucket{burst, now}).first;
  }
  refill(found->second);
  if (found->second.tokens < 1) return false;
  found->second.tokens -= 1;
  return true;
}

std::vector<Contact> Node::closest_for_reply(const NodeId& target, const NodeId& requester) const {
  return table_.closest(target, options_.k, &requester);
}

StoreOutcome Node::store_value(const SignedValue& value, core::Duration remaining,
                               core::MonoTime now) {
  const StoreOutcome outcome = records_.put(value, remaining, now);
  switch (outcome) {
    case StoreOutcome::kStored:
    case StoreOutcome::kReplaced: {
      ++stats_.values_stored;
      note_replicas(value.key, now);
      const uint32_t left = std::min(whole_seconds(remaining), value.ttl_seconds);
      for (const Contact& listener : records_.listeners(value.key, now)) {
        ++stats_.notifications_sent;
        Message notify{0, Notify{value.key, WireValue{value, left}}};
        send_message(listener.address, notify);
      }
      break;
    }
    case StoreOutcome::kTooLarge:
      ++stats_.values_rejected_limits;
      break;
    case StoreOutcome::kFull:
      ++stats_.refused_storage_full;
      break;
    case StoreOutcome::kDuplicate:
    case StoreOutcome::kStale:
      break;
  }
  return outcome;
}

Values Node::values_page(const Key& key, const std::optional<crypto::Ed25519PublicKey>& after,
                         const NodeId& requester, core::MonoTime now) const {
  Values page;
  page.nodes = closest_for_reply(key, requester);
  size_t budget = kMaxMessageSize - kMessageOverhead - page.nodes.size() * kContactSizeBound;
  const auto* values = records_.values(key);
  if (values == nullptr) return page;
  auto it = after ? values->upper_bound(*after) : values->begin();
  for (; it != values->end(); ++it) {
    const core::Duration left = RecordStore::remaining(it->second, now);
    if (whole_seconds(left) == 0) continue;
    WireValue wire{it->second.value, whole_seconds(left)};
    const size_t size = encoded_size_bound(wire);
    if (page.values.size() >= kMaxValuesPerReply || size > budget) {
      page.more = true;
      break;
    }
    budget -= size;
    page.values.push_back(std::move(wire));
  }
  return page;
}

void Node::push_values(const Contact& to, const std::vector<WireValue>& values,
                       core::MonoTime now) {
  PutValues batch;
  size_t size = kMessageOverhead;
  auto flush = [&] {
    if (batch.values.empty()) return;
    ++stats_.replication_pushes;
    send_request(to, true, std::move(batch), Purpose::kPush, 0, now);
    batch = PutValues{};
    size = kMessageOverhead;
  };
  for (const WireValue& wire : values) {
    const size_t bound = encoded_size_bound(wire);
    if (batch.values.size() >= kMaxValuesPerReply || size + bound > kMaxMessageSize) flush();
    batch.values.push_back(wire);
    size += bound;
  }
  flush();
}

void Node::handle_request(const Contact& from, Message& message, core::MonoTime now) {
  observe(from, now);
  const bool is_store = std::holds_alternative<PutValues>(message.body) ||
                        std::holds_alternative<AddProvider>(message.body) ||
                        std::holds_alternative<Listen>(message.body);
  if (is_store && !allow(store_buckets_, from.id, options_.store_rate, options_.store_burst, now)) {
    ++stats_.refused_rate_limited;
    reply(from, message.txid, Refusal{RefusalCode::kRateLimited});
    return;
  }
  ++stats_.requests_served;
  const uint32_t txid = message.txid;
  if (std::holds_alternative<Ping>(message.body)) {
    reply(from, txid, Pong{});
  } else if (auto* find = std::get_if<FindNode>(&message.body)) {
    reply(from, txid, Nodes{closest_for_reply(find->target, from.id)});
  } else if (auto* get = std::get_if<GetValues>(&message.body)) {
    reply(from, txid, values_page(get->key, get->after, from.id, now));
  } else if (auto* put = std::get_if<PutValues>(&message.body)) {
    PutAck ack;
    for (const WireValue& wire : put->values) {
      if (!verifier_->verify(wire.value)) {
        ++stats_.values_rejected_signature;
        ++ack.rejected;
        continue;
      }
      const StoreOutcome outcome = store_value(wire.value, seconds(wire.remaining_seconds), now);
      if (is_new(outcome)) {
        ++ack.stored;
      } else if (outcome == StoreOutcome::kTooLarge || outcome == StoreOutcome::kFull) {
        ++ack.rejected;
      }
    }
    reply(from, txid, ack);
  } else if (auto* provide = std::get_if<AddProvider>(&message.body)) {
    if (records_.add_provider(provide->key, from, seconds(provide->ttl_seconds), now)) {
      ++stats_.providers_stored;
      reply(from, txid, AddProviderAck{});
    } else {
      ++stats_.refused_storage_full;
      reply(from, txid, Refusal{RefusalCode::kStorageFull});
    }
  } else if (auto* providers = std::get_if<GetProviders>(&message.body)) {
    Providers out;
    out.providers = records_.providers(providers->key, now, kMaxContactsPerReply);
    out.nodes = closest_for_reply(providers->key, from.id);
    reply(from, txid, std::move(out));
  } else if (auto* listen = std::get_if<Listen>(&message.body)) {
    const core::Duration granted =
        records_.add_listener(listen->key, from, seconds(listen->seconds), now);
    if (granted > core::Duration::zero()) ++stats_.listeners_added;
    reply(from, txid, ListenAck{whole_seconds(granted)});
  }
}

void Node::handle_notify(const Contact& from, const Notify& notify, core::MonoTime now) {
  observe(from, now);
  const SignedValue& value = notify.value.value;
  if (value.key != notify.key) {
    ++stats_.values_rejected_limits;
    return;
  }
  std::vector<SubscriptionId> matching;
  for (const auto& [id, subscription] : subscriptions_) {
    if (subscription.key == notify.key && subscription.until > now) matching.push_back(id);
  }
  if (matching.empty()) return;
  if (!verifier_->verify(value)) {
    ++stats_.values_rejected_signature;
    return;
  }
  for (SubscriptionId id : matching) {
    auto found = subscriptions_.find(id);
    if (found == subscriptions_.end()) continue;  // a callback unsubscribed it
    auto seen = found->second.seen.find(value.writer);
    if (seen != found->second.seen.end() && seen->second >= value.seq) continue;
    found->second.seen[value.writer] = value.seq;
    ++stats_.notifications_delivered;
    ValueCallback callback = found->second.on_value;  // may unlisten while running
    if (callback) callback(value);
  }
}

void Node::handle_reply(const Contact& from, Message& message, core::MonoTime now) {
  auto found = find_pending(message.txid);
  if (found == pending_.end()) {
    ++stats_.unexpected_replies;
    return;
  }
  if (found->id_known && !same_id(found->to.id, from.id)) {
    ++stats_.unexpected_replies;
    return;
  }
  Pending pending = *found;
  pending_.erase(found);
  if (!reply_matches(pending.request, message.type())) {
    ++stats_.unexpected_replies;
    rpc_failed(pending, /*liveness=*/false, now);
    return;
  }
  pending.to.id = from.id;
  pending.to.address = from.address;
  observe(from, now);
  const double sample_us =
      static_cast<double>(duration_cast<microseconds>(now - pending.sent).count());
  if (pending.retransmitted) {
    // Karn's rule: no sample from a request sent twice.
  } else if (!have_rtt_) {
    have_rtt_ = true;
    srtt_us_ = sample_us;
    rttvar_us_ = sample_us / 2;
  } else {
    rttvar_us_ = 0.75 * rttvar_us_ + 0.25 * std::abs(srtt_us_ - sample_us);
    srtt_us_ = 0.875 * srtt_us_ + 0.125 * sample_us;
  }
  if (std::holds_alternative<Refusal>(message.body)) {
    ++stats_.refusals_received;
    rpc_failed(pending, /*liveness=*/false, now);
    return;
  }
  if (pending.purpose == Purpose::kEvictPing || pending.purpose == Purpose::kRevivePing ||
      pending.purpose == Purpose::kPush) {
    return;  // observe() above did what an answer means
  }
  if (pending.purpose == Purpose::kGreet) {
    if (table_.size() < options_.k && !joining()) {
      Operation& op = start_operation(OpKind::kBootstrap, id_, now);
      start_lookup(op, now);
    }
    return;
  }
  auto op_it = operations_.find(pending.op);
  if (op_it == operations_.end()) return;
  Operation& op = *op_it->second;
  switch (pending.purpose) {
    case Purpose::kLookup: {
      const std::vector<Contact>* closer = nullptr;
      if (auto* nodes = std::get_if<Nodes>(&message.body)) {
        closer = &nodes->nodes;
      } else if (auto* values = std::get_if<Values>(&message.body)) {
        closer = &values->nodes;
        merge_values(op, from, values->values, now);
        if (values->more && !values->values.empty() &&
            op.pages[from.id] < options_.max_pages_per_node) {
          ++op.pages[from.id];
          ++op.waiting;
          ++op.messages;
          send_request(from, true, GetValues{op.target, values->values.back().value.writer},
                       Purpose::kPage, op.id, now);
        }
      } else if (auto* providers = std::get_if<Providers>(&message.body)) {
        closer = &providers->nodes;
        for (const Contact& provider : providers->providers) {
          if (op.providers.size() < kMaxContactsPerReply * 4) op.providers[provider.id] = provider;
        }
      }
      if (op.lookup && closer != nullptr) op.lookup->on_response(from.id, *closer);
      break;
    }
    case Purpose::kPage: {
      --op.waiting;
      if (auto* values = std::get_if<Values>(&message.body)) {
        merge_values(op, from, values->values, now);
        if (values->more && !values->values.empty() &&
            op.pages[from.id] < options_.max_pages_per_node) {
          ++op.pages[from.id];
          ++op.waiting;
          ++op.messages;
          send_request(from, true, GetValues{op.target, values->values.back().value.writer},
                       Purpose::kPage, op.id, now);
        }
      }
      break;
    }
    case Purpose::kStore:
      --op.waiting;
      if (auto* ack = std::get_if<PutAck>(&message.body)) {
        ++op.acked;
        if (ack->stored > 0) ++op.stored;
      }
      break;
    case Purpose::kProvide:
      --op.waiting;
      ++op.acked;
      ++op.stored;
      break;
    case Purpose::kListen:
      --op.waiting;
      if (auto* ack = std::get_if<ListenAck>(&message.body); ack && ack->granted_seconds > 0) {
        ++op.acked;
        auto sub = subscriptions_.find(op.subscription);
        if (sub != subscriptions_.end()) {
          const auto renew = now + seconds(ack->granted_seconds) * 4 / 5;  // renew before it lapses
          sub->second.renew_at = std::min(sub->second.renew_at, renew);
        }
      }
      break;
    case Purpose::kSeedPing:
      --op.waiting;
      ++op.acked;
      break;
    default:
      break;
  }
  advance(pending.op, now);
}

void Node::rpc_failed(const Pending& pending, bool liveness, core::MonoTime now) {
  if (liveness && pending.id_known) {
    if (pending.purpose == Purpose::kRevivePing) {
      table_.remember_evicted(pending.to);
    } else {
      table_.on_failure(pending.to.id);
    }
  }
  auto op_it = operations_.find(pending.op);
  if (pending.op == 0 || op_it == operations_.end()) return;
  Operation& op = *op_it->second;
  switch (pending.purpose) {
    case Purpose::kLookup:
      if (op.lookup) op.lookup->on_failure(pending.to.id);
      break;
    case Purpose::kPage:
    case Purpose::kStore:
    case Purpose::kProvide:
    case Purpose::kListen:
    case Purpose::kSeedPing:
      --op.waiting;
      ++op.acked;
      break;
    default:
      break;
  }
  advance(pending.op, now);
}

}  // namespace synapse::dht
