// Node: background work on timers (routing-table maintenance, replication, republishing).
#include <algorithm>

#include "node_internal.h"

namespace synapse::dht {

using node_internal::random_u64;
using node_internal::whole_seconds;
using std::chrono::seconds;

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
