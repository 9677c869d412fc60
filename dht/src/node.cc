#include "synapse/dht/node.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace synapse::dht {
namespace {

// Rounds of seed pings before a bootstrap gives up on its seeds.
constexpr int kSeedRounds = 3;

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::seconds;

uint32_t whole_seconds(core::Duration d) {
  const auto s = duration_cast<seconds>(d).count();
  if (s <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(s, kMaxRecordTtlSeconds));
}

uint64_t random_u64(core::Rng& rng) {
  std::array<uint8_t, 8> bytes;
  rng.fill(bytes);
  uint64_t value;
  std::memcpy(&value, bytes.data(), sizeof(value));
  return value;
}

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

struct Node::Operation {
  uint64_t id = 0;
  OpKind kind = OpKind::kFindNode;
  NodeId target;
  std::optional<Lookup> lookup;
  bool lookup_finished = false;
  size_t messages = 0;
  size_t waiting = 0;   // page, store, provide, listen and seed-ping requests outstanding
  size_t children = 0;  // bootstrap: refresh lookups still running
  int attempts = 0;     // bootstrap: rounds of seed pings
  uint64_t parent = 0;
  // get
  std::map<crypto::Ed25519PublicKey, WireValue> values;
  std::map<NodeId, std::map<crypto::Ed25519PublicKey, uint64_t>> seen_by;
  std::map<NodeId, size_t> pages;
  // get_providers
  std::map<NodeId, Contact> providers;
  // put, add_provider, listen
  std::vector<WireValue> to_store;
  size_t acked = 0;
  size_t stored = 0;
  SubscriptionId subscription = 0;
  // callbacks (one is set)
  LookupCallback on_lookup;
  GetCallback on_get;
  PutCallback on_put;
  ProvidersCallback on_providers;
  std::function<void(size_t)> on_bootstrap;
  size_t table_size = 0;
  bool invalid = false;  // put: the value did not verify
};

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

// ---------------------------------------------------------------------------------------------
// Operations

Node::Operation& Node::start_operation(OpKind kind, const NodeId& target, core::MonoTime now) {
  (void)now;
  auto op = std::make_unique<Operation>();
  op->id = next_op_++;
  op->kind = kind;
  op->target = target;
  Operation& ref = *op;
  operations_.emplace(ref.id, std::move(op));
  return ref;
}

void Node::start_lookup(Operation& op, core::MonoTime now) {
  ++stats_.lookups_started;
  table_.mark_refreshed(op.target, now);
  LookupOptions options;
  options.k = options_.k;
  options.alpha = options_.alpha;
  std::vector<Contact> start = table_.closest(op.target, options_.k);
  if (start.empty()) start = table_.contacts();  // only failing entries: better than nothing
  op.lookup.emplace(id_, op.target, options, start);
  advance(op.id, now);
}

void Node::advance(uint64_t op_id, core::MonoTime now) {
  auto found = operations_.find(op_id);
  if (found == operations_.end()) return;
  Operation& op = *found->second;
  if (op.lookup && !op.lookup_finished && op.kind == OpKind::kRefresh && op.parent != 0 &&
      table_.bucket(table_.bucket_index(op.target)).size() >= options_.k) {
    // A join's refresh is done once its bucket is full; answers on their way are observed.
    op.lookup_finished = true;
    ++stats_.lookups_completed;
  }
  if (op.lookup && !op.lookup_finished) {
    MessageBody request;
    while (auto contact = op.lookup->next()) {
      if (op.kind == OpKind::kGet) {
        request = GetValues{op.target, std::nullopt};
      } else if (op.kind == OpKind::kGetProviders) {
        request = GetProviders{op.target};
      } else {
        request = FindNode{op.target};
      }
      ++op.messages;
      send_request(*contact, true, std::move(request), Purpose::kLookup, op.id, now);
    }
    if (op.lookup->done()) {
      op.lookup_finished = true;
      ++stats_.lookups_completed;
      lookup_done(op, now);
    }
  }
  if (op.kind == OpKind::kBootstrap && !op.lookup && op.waiting == 0) {
    if (op.acked == 0 && op.attempts < kSeedRounds) {
      ping_seeds(op, now);  // no seed answered: try them all again
      return;
    }
    start_lookup(op, now);  // look ourselves up
    return;
  }
  if (op.lookup_finished && op.waiting == 0 && op.children == 0) finish(op, now);
}

void Node::lookup_done(Operation& op, core::MonoTime now) {
  const std::vector<Contact> closest = op.lookup->closest_responded(options_.k);
  switch (op.kind) {
    case OpKind::kPut:
      for (const Contact& contact : closest) {
        ++op.waiting;
        ++op.messages;
        send_request(contact, true, PutValues{op.to_store}, Purpose::kStore, op.id, now);
      }
      break;
    case OpKind::kProvide:
      for (const Contact& contact : closest) {
        ++op.waiting;
        ++op.messages;
        send_request(contact, true, AddProvider{op.target, options_.provider_ttl_seconds},
                     Purpose::kProvide, op.id, now);
      }
      break;
    case OpKind::kListen:
      for (const Contact& contact : closest) {
        ++op.waiting;
        ++op.messages;
        send_request(contact, true, Listen{op.target, options_.listen_seconds}, Purpose::kListen,
                     op.id, now);
      }
      break;
    case OpKind::kBootstrap: {
      if (closest.empty() && !seeds_.empty() && op.attempts < kSeedRounds) {
        // Nobody answered the self lookup (lost packets): start over from the seeds.
        op.lookup.reset();
        op.lookup_finished = false;
        op.acked = 0;
        ping_seeds(op, now);
        return;
      }
      // Refresh the buckets farther than our closest neighbours. The self lookup found every
      // node closer than the k-th closest it met, so buckets deeper than that one's are
      // already complete; the rest are refreshed unless already full.
      refresh_epoch_ = now;
      if (closest.size() < options_.k) {
        // Few answers: our seed may itself have been joining. Look ourselves up again soon,
        // backing off up to the refresh interval.
        rejoin_backoff_ = std::clamp(rejoin_backoff_ * 2, options_.maintenance_interval,
                                     options_.refresh_interval);
        rejoin_at_ = now + rejoin_backoff_;
      } else {
        rejoin_at_.reset();
        rejoin_backoff_ = core::Duration::zero();
      }
      if (closest.empty()) break;
      const int last = table_.bucket_index(closest.back().id);
      for (int i = 0; i <= last; ++i) {
        if (table_.bucket(i).size() >= options_.k) continue;
        Operation& child =
            start_operation(OpKind::kRefresh, random_id_in_bucket(id_, i, rng_), now);
        child.parent = op.id;
        ++op.children;
        start_lookup(child, now);
      }
      break;
    }
    case OpKind::kGet: {
      // Read repair happens in finish(), once every page is in.
      break;
    }
    default:
      break;
  }
}

void Node::merge_values(Operation& op, const Contact& from, const std::vector<WireValue>& values,
                        core::MonoTime now) {
  (void)now;
  auto& seen = op.seen_by[from.id];
  for (const WireValue& wire : values) {
    const SignedValue& value = wire.value;
    if (value.key != op.target) {
      ++stats_.values_rejected_limits;
      continue;
    }
    auto current = op.values.find(value.writer);
    const bool better = current == op.values.end() || supersedes(value, current->second.value);
    const bool same = current != op.values.end() && current->second.value == value;
    if (!better && !same) {
      seen[value.writer] = std::max(seen[value.writer], value.seq);
      continue;
    }
    if (better && !verifier_->verify(value)) {
      ++stats_.values_rejected_signature;
      continue;
    }
    seen[value.writer] = std::max(seen[value.writer], value.seq);
    if (better) {
      op.values[value.writer] = wire;
    } else {
      current->second.remaining_seconds =
          std::max(current->second.remaining_seconds, wire.remaining_seconds);
    }
  }
}

void Node::finish(Operation& op, core::MonoTime now) {
  const uint64_t id = op.id;
  auto found = operations_.find(id);
  if (found == operations_.end()) return;
  std::unique_ptr<Operation> owned = std::move(found->second);
  operations_.erase(found);
  if (owned->kind == OpKind::kGet && owned->lookup) {
    // Read repair: closest nodes that answered without the newest value of a writer get it.
    for (const Contact& contact : owned->lookup->closest_responded(options_.k)) {
      auto seen = owned->seen_by.find(contact.id);
      std::vector<WireValue> missing;
      for (const auto& [writer, wire] : owned->values) {
        if (wire.remaining_seconds == 0) continue;
        const bool has = seen != owned->seen_by.end() && seen->second.count(writer) != 0 &&
                         seen->second.at(writer) >= wire.value.seq;
        if (!has) missing.push_back(wire);
      }
      if (!missing.empty()) push_values(contact, missing, now);
    }
  }
  if (owned->kind == OpKind::kRefresh && owned->parent == 0 && running_refreshes_ > 0) {
    --running_refreshes_;
  }
  if (owned->kind == OpKind::kListen) {
    auto sub = subscriptions_.find(owned->subscription);
    if (sub != subscriptions_.end()) sub->second.renewing = false;
  }
  owned->table_size = table_.size();
  const uint64_t parent = owned->parent;
  finished_.push_back(std::move(owned));
  if (parent != 0) {
    auto parent_op = operations_.find(parent);
    if (parent_op != operations_.end() && parent_op->second->children > 0) {
      --parent_op->second->children;
      if (parent_op->second->children == 0 && parent_op->second->lookup_finished &&
          parent_op->second->waiting == 0) {
        finish(*parent_op->second, now);
      }
    }
  }
}

void Node::run_finished() {
  while (!finished_.empty()) {
    std::vector<std::unique_ptr<Operation>> batch;
    batch.swap(finished_);
    for (auto& op : batch) {
      const int hops = op->lookup ? op->lookup->hops() : -1;
      switch (op->kind) {
        case OpKind::kFindNode:
        case OpKind::kRefresh:
          if (op->on_lookup) {
            LookupResult result;
            if (op->lookup) result.closest = op->lookup->closest_responded(options_.k);
            result.hops = hops;
            result.messages = op->messages;
            op->on_lookup(std::move(result));
          }
          break;
        case OpKind::kBootstrap:
          if (op->on_bootstrap) op->on_bootstrap(op->table_size);
          break;
        case OpKind::kGet:
          if (op->on_get) {
            GetResult result;
            result.hops = hops;
            result.messages = op->messages;
            for (auto& [writer, wire] : op->values) result.values.push_back(wire.value);
            op->on_get(std::move(result));
          }
          break;
        case OpKind::kPut:
        case OpKind::kProvide:
        case OpKind::kListen:
          if (op->on_put) {
            PutResult result;
            if (op->invalid) {
              result.status = core::make_error(core::ErrorCode::kInvalidArgument,
                                               "value signature or limits do not verify");
            }
            result.acked = op->acked;
            result.stored = op->stored;
            result.hops = hops;
            result.messages = op->messages;
            op->on_put(std::move(result));
          }
          break;
        case OpKind::kGetProviders:
          if (op->on_providers) {
            ProvidersResult result;
            result.hops = hops;
            result.messages = op->messages;
            for (auto& [id, contact] : op->providers) result.providers.push_back(contact);
            op->on_providers(std::move(result));
          }
          break;
      }
    }
  }
}

void Node::bootstrap(std::span<const PeerAddress> seeds, core::MonoTime now,
                     std::function<void(size_t)> done) {
  seeds_.assign(seeds.begin(), seeds.end());
  Operation& op = start_operation(OpKind::kBootstrap, id_, now);
  op.on_bootstrap = std::move(done);
  if (seeds_.empty()) {
    start_lookup(op, now);
  } else {
    ping_seeds(op, now);
  }
}

void Node::ping_seeds(Operation& op, core::MonoTime now) {
  ++op.attempts;
  for (const PeerAddress& address : seeds_) {
    ++op.waiting;
    ++op.messages;
    send_request(Contact{NodeId(), address}, false, Ping{}, Purpose::kSeedPing, op.id, now);
  }
}

void Node::add_contact(const Contact& contact, core::MonoTime now) { observe(contact, now); }

void Node::find_node(const NodeId& target, core::MonoTime now, LookupCallback done) {
  Operation& op = start_operation(OpKind::kFindNode, target, now);
  op.on_lookup = std::move(done);
  start_lookup(op, now);
}

void Node::get(const Key& key, core::MonoTime now, GetCallback done) {
  Operation& op = start_operation(OpKind::kGet, key, now);
  op.on_get = std::move(done);
  if (const auto* local = records_.values(key)) {
    for (const auto& [writer, stored] : *local) {
      const uint32_t left = whole_seconds(RecordStore::remaining(stored, now));
      if (left > 0) op.values[writer] = WireValue{stored.value, left};
    }
  }
  start_lookup(op, now);
}

void Node::put(const SignedValue& value, core::MonoTime now, PutCallback done, bool republish) {
  if (!verifier_->verify(value)) {
    ++stats_.values_rejected_signature;
    Operation& op = start_operation(OpKind::kPut, value.key, now);
    op.on_put = std::move(done);
    op.invalid = true;
    op.lookup_finished = true;
    finish(op, now);
    return;
  }
  store_value(value, seconds(value.ttl_seconds), now);
  if (republish) {
    auto& own = own_values_[{value.key, value.writer}];
    if (own.value.data.empty() && own.value.seq == 0 && own.value.ttl_seconds == 0) {
      own.value = value;
    } else if (supersedes(value, own.value)) {
      own.value = value;
    }
    own.next_republish = now + options_.republish_interval;
  }
  start_put(value, now, std::move(done));
}

void Node::start_put(const SignedValue& value, core::MonoTime now, PutCallback done) {
  Operation& op = start_operation(OpKind::kPut, value.key, now);
  op.on_put = std::move(done);
  op.to_store.push_back(WireValue{value, value.ttl_seconds});
  start_lookup(op, now);
}

void Node::add_provider(const Key& key, core::MonoTime now, PutCallback done) {
  own_providers_[key] = now + options_.republish_interval;
  start_provide(key, now, std::move(done));
}

void Node::start_provide(const Key& key, core::MonoTime now, PutCallback done) {
  Operation& op = start_operation(OpKind::kProvide, key, now);
  op.on_put = std::move(done);
  start_lookup(op, now);
}

void Node::get_providers(const Key& key, core::MonoTime now, ProvidersCallback done) {
  Operation& op = start_operation(OpKind::kGetProviders, key, now);
  op.on_providers = std::move(done);
  for (const Contact& provider : records_.providers(key, now, kMaxContactsPerReply)) {
    op.providers[provider.id] = provider;
  }
  // This node itself (with an empty address: "here").
  if (own_providers_.count(key) != 0) op.providers[id_] = Contact{id_, PeerAddress()};
  start_lookup(op, now);
}

Node::SubscriptionId Node::listen(const Key& key, core::Duration duration, core::MonoTime now,
                                  ValueCallback on_value) {
  const SubscriptionId id = next_subscription_++;
  Subscription& subscription = subscriptions_[id];
  subscription.key = key;
  subscription.until = now + duration;
  subscription.on_value = std::move(on_value);
  start_listen(id, now);
  return id;
}

void Node::unlisten(SubscriptionId id) { subscriptions_.erase(id); }

void Node::start_listen(SubscriptionId id, core::MonoTime now) {
  auto found = subscriptions_.find(id);
  if (found == subscriptions_.end()) return;
  found->second.renewing = true;
  found->second.renew_at = now + seconds(options_.listen_seconds) * 4 / 5;
  Operation& op = start_operation(OpKind::kListen, found->second.key, now);
  op.subscription = id;
  start_lookup(op, now);
}

// ---------------------------------------------------------------------------------------------
// Background work

void Node::maintenance(core::MonoTime now) {
  records_.expire(now);
  // Forget sources whose token bucket has refilled: they are indistinguishable from new ones.
  auto prune = [now](auto& table, double rate, double burst) {
    if (rate <= 0) return;
    const auto refill = std::chrono::duration<double>(burst / rate);
    for (auto it = table.begin(); it != table.end();) {
      it = now - it->second.last >= refill ? table.erase(it) : std::next(it);
    }
  };
  prune(store_buckets_, options_.store_rate, options_.store_burst);
  refresh_buckets(now);
  // Failing entries get a ping each: an answer clears them, silence counts towards removal.
  for (const Contact& contact : table_.take_probes(options_.max_probes)) {
    send_request(contact, true, Ping{}, Purpose::kEvictPing, 0, now);
  }
  if (now >= next_revive_) {
    next_revive_ = now + options_.revive_interval;
    if (auto contact = table_.take_evicted()) {
      send_request(*contact, true, Ping{}, Purpose::kRevivePing, 0, now);
    }
  }
  if (rejoin_at_ && now >= *rejoin_at_ && table_.size() > 0) {
    rejoin_at_.reset();
    Operation& op = start_operation(OpKind::kBootstrap, id_, now);
    start_lookup(op, now);
  }
  if (!seeds_.empty() && (table_.size() == 0 || now >= next_seed_ping_)) {
    // Seeds are pinged whenever the table is empty, and one of them every refresh interval
    // anyway: a group of nodes that lost touch with the rest (a bad join, a long partition)
    // finds its way back.
    next_seed_ping_ = now + options_.refresh_interval;
    if (table_.size() == 0) {
      for (const PeerAddress& seed : seeds_) {
        send_request(Contact{NodeId(), seed}, false, Ping{}, Purpose::kSeedPing, 0, now);
      }
    } else {
      const PeerAddress& seed = seeds_[random_u64(rng_) % seeds_.size()];
      send_request(Contact{NodeId(), seed}, false, Ping{}, Purpose::kSeedPing, 0, now);
    }
  }
  replicate(now);
  republish(now);
  renew_subscriptions(now);
}

void Node::refresh_buckets(core::MonoTime now) {
  if (table_.size() == 0) return;
  for (int i = 0; i < table_.bucket_count(); ++i) {
    if (running_refreshes_ >= options_.max_concurrent_refreshes) return;
    const core::MonoTime last = std::max(table_.last_refreshed(i), refresh_epoch_);
    if (now - last < options_.refresh_interval) continue;
    ++running_refreshes_;
    Operation& op = start_operation(OpKind::kRefresh, random_id_in_bucket(id_, i, rng_), now);
    start_lookup(op, now);
  }
}

void Node::note_replicas(const Key& key, core::MonoTime now) {
  auto [state, inserted] = replicas_.try_emplace(key);
  if (!inserted) return;
  // Whoever stored the value here stored it on (their view of) the k closest: count those as
  // served and push only to nodes that join the closest set later.
  for (const Contact& contact : table_.closest(key, options_.k)) {
    state->second.pushed_to.push_back(contact.id);
  }
  std::sort(state->second.pushed_to.begin(), state->second.pushed_to.end());
  state->second.generation = table_.generation();
  state->second.next_full = now + options_.replicate_interval;
}

void Node::replicate(core::MonoTime now) {
  for (const Key& key : records_.value_keys()) {
    note_replicas(key, now);
    ReplicaState& state = replicas_[key];
    const bool full = now >= state.next_full;
    if (!full && state.generation == table_.generation()) continue;
    const std::vector<Contact> closest = table_.closest(key, options_.k);
    state.generation = table_.generation();
    if (full) state.next_full = now + options_.replicate_interval;
    std::vector<NodeId> targets;
    for (const Contact& contact : closest) targets.push_back(contact.id);
    std::sort(targets.begin(), targets.end());
    // Only nodes that count themselves among the k closest replicate.
    const bool responsible = closest.size() < options_.k || closer(id_, closest.back().id, key);
    std::vector<WireValue> values;
    if (responsible) {
      if (const auto* stored = records_.values(key)) {
        for (const auto& [writer, entry] : *stored) {
          const uint32_t left = whole_seconds(RecordStore::remaining(entry, now));
          if (left > 0) values.push_back(WireValue{entry.value, left});
        }
      }
    }
    if (!values.empty()) {
      for (const Contact& contact : closest) {
        if (!full &&
            std::binary_search(state.pushed_to.begin(), state.pushed_to.end(), contact.id)) {
          continue;
        }
        push_values(contact, values, now);
      }
    }
    state.pushed_to = std::move(targets);
  }
  // Forget the replication state of keys we no longer hold.
  std::erase_if(replicas_,
                [&](const auto& entry) { return records_.values(entry.first) == nullptr; });
}

void Node::republish(core::MonoTime now) {
  for (auto& [id, own] : own_values_) {
    if (now < own.next_republish) continue;
    own.next_republish = now + options_.republish_interval;
    store_value(own.value, seconds(own.value.ttl_seconds), now);
    start_put(own.value, now, nullptr);
  }
  for (auto& [key, next] : own_providers_) {
    if (now < next) continue;
    next = now + options_.republish_interval;
    start_provide(key, now, nullptr);
  }
}

void Node::renew_subscriptions(core::MonoTime now) {
  std::vector<SubscriptionId> renew;
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    if (it->second.until <= now) {
      it = subscriptions_.erase(it);
      continue;
    }
    if (!it->second.renewing && now >= it->second.renew_at) renew.push_back(it->first);
    ++it;
  }
  for (SubscriptionId id : renew) start_listen(id, now);
}

}  // namespace synapse::dht
