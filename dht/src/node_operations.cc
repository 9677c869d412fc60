// Node: the operations a caller starts (lookups, get, put, providers, listen, bootstrap).
#include <algorithm>

#include "node_internal.h"

namespace synapse::dht {

using node_internal::kSeedRounds;
using node_internal::whole_seconds;
using std::chrono::seconds;

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
  op.lookup_started = now;
  table_.mark_refreshed(op.target, now);
  LookupOptions options;
  // Reads end at the read_width closest nodes, and ask all of them at once once the lookup
  // has converged; everything else needs the k closest, asked alpha at a time.
  const bool read = op.kind == OpKind::kGet || op.kind == OpKind::kGetProviders;
  options.k = read ? std::min(options_.read_width, options_.k) : options_.k;
  options.alpha = options_.alpha;
  options.widen = read;
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
    lookup_completed(op, now);
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
      lookup_completed(op, now);
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

void Node::lookup_completed(Operation& op, core::MonoTime now) {
  op.lookup_finished = true;
  ++stats_.lookups_completed;
  const double seconds = std::chrono::duration<double>(now - op.lookup_started).count();
  const auto millis = seconds * 1000;
  size_t bucket = 0;
  while (bucket < kLookupLatencyBoundsMs.size() && millis > kLookupLatencyBoundsMs[bucket]) {
    ++bucket;
  }
  ++stats_.lookup_latency_buckets[bucket];
  stats_.lookup_latency_seconds_sum += seconds;
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

void Node::greet(const PeerAddress& address, core::MonoTime now) {
  send_request(Contact{NodeId(), address}, false, Ping{}, Purpose::kGreet, 0, now);
}

bool Node::joining() const {
  return std::any_of(operations_.begin(), operations_.end(),
                     [](const auto& entry) { return entry.second->kind == OpKind::kBootstrap; });
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
    const bool first = own.value.data.empty() && own.value.seq == 0 && own.value.ttl_seconds == 0;
    if (first || supersedes(value, own.value)) own.value = value;
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

}  // namespace synapse::dht
