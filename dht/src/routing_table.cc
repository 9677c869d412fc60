#include "synapse/dht/routing_table.h"

#include <algorithm>

namespace synapse::dht {
namespace {

const std::vector<RoutingTable::Entry>& empty_entries() {
  static const std::vector<RoutingTable::Entry> empty;
  return empty;
}

}  // namespace

RoutingTable::RoutingTable(const NodeId& self, RoutingTableOptions options)
    : self_(self), options_(options) {
  SYNAPSE_CHECK(options_.k > 0, "k must be positive");
}

int RoutingTable::bucket_index(const NodeId& id) const {
  return std::min(common_prefix_length(self_, id), kIdBits - 1);
}

RoutingTable::Bucket& RoutingTable::bucket_for(int index) {
  if (static_cast<size_t>(index) >= buckets_.size()) buckets_.resize(index + 1);
  return buckets_[index];
}

const std::vector<RoutingTable::Entry>& RoutingTable::bucket(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= buckets_.size()) return empty_entries();
  return buckets_[index].entries;
}

const std::vector<RoutingTable::Entry>& RoutingTable::replacements(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= buckets_.size()) return empty_entries();
  return buckets_[index].replacements;
}

core::MonoTime RoutingTable::last_refreshed(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= buckets_.size()) return {};
  return buckets_[index].last_refreshed;
}

void RoutingTable::mark_refreshed(const NodeId& target, core::MonoTime now) {
  if (target == self_) return;
  bucket_for(bucket_index(target)).last_refreshed = now;
}

void RoutingTable::insert_ordered(Bucket& bucket, Entry entry) {
  auto position = bucket.entries.end();
  while (position != bucket.entries.begin() && (position - 1)->last_seen > entry.last_seen) {
    --position;
  }
  bucket.entries.insert(position, std::move(entry));
  ++size_;
  ++generation_;
}

void RoutingTable::evict(Bucket& bucket, size_t position) {
  remember_evicted(bucket.entries[position].contact);
  bucket.entries.erase(bucket.entries.begin() + static_cast<ptrdiff_t>(position));
  --size_;
  ++generation_;
}

RoutingTable::ObserveResult RoutingTable::observe(const Contact& contact, core::MonoTime now) {
  if (contact.id == self_) return {Outcome::kSelf, std::nullopt};
  Bucket& bucket = bucket_for(bucket_index(contact.id));
  auto& entries = bucket.entries;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!same_id(entries[i].contact.id, contact.id)) continue;
    Entry entry = entries[i];
    entry.contact.address = contact.address;
    entry.last_seen = now;
    entry.failures = 0;
    entry.pinging = false;
    entries.erase(entries.begin() + static_cast<ptrdiff_t>(i));
    entries.push_back(entry);  // `now` is the latest time seen
    return {Outcome::kUpdated, std::nullopt};
  }
  // A contact that was waiting in the cache is promoted when there is room.
  auto& cache = bucket.replacements;
  auto cached = std::find_if(cache.begin(), cache.end(),
                             [&](const Entry& e) { return same_id(e.contact.id, contact.id); });
  if (cached != cache.end()) cache.erase(cached);
  Entry fresh{contact, now, 0, false};
  if (entries.size() < options_.k) {
    insert_ordered(bucket, fresh);
    return {Outcome::kInserted, std::nullopt};
  }
  // Full: a failing entry gives way to a contact that just proved to be alive.
  size_t worst = entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].failures > 0 &&
        (worst == entries.size() || entries[i].failures > entries[worst].failures)) {
      worst = i;
    }
  }
  if (worst != entries.size()) {
    evict(bucket, worst);
    insert_ordered(bucket, fresh);
    return {Outcome::kReplacedStale, std::nullopt};
  }
  cache.push_back(fresh);
  if (cache.size() > options_.replacement_cache_size) cache.erase(cache.begin());
  Entry& oldest = entries.front();
  if (!oldest.pinging && now - oldest.last_seen >= options_.ping_after_idle) {
    oldest.pinging = true;
    return {Outcome::kCached, oldest.contact};
  }
  return {Outcome::kCached, std::nullopt};
}

bool RoutingTable::on_failure(const NodeId& id) {
  if (id == self_) return false;
  const int index = bucket_index(id);
  if (static_cast<size_t>(index) >= buckets_.size()) return false;
  Bucket& bucket = buckets_[index];
  auto& entries = bucket.entries;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!same_id(entries[i].contact.id, id)) continue;
    Entry& entry = entries[i];
    entry.pinging = false;
    if (entry.failures < 255) ++entry.failures;
    if (!bucket.replacements.empty()) {
      Entry replacement = bucket.replacements.back();
      bucket.replacements.pop_back();
      evict(bucket, i);
      insert_ordered(bucket, replacement);
      return true;
    }
    if (entry.failures >= options_.max_failures) {
      evict(bucket, i);
      return true;
    }
    return false;
  }
  auto& cache = bucket.replacements;
  auto cached = std::find_if(cache.begin(), cache.end(),
                             [&](const Entry& e) { return same_id(e.contact.id, id); });
  if (cached != cache.end()) cache.erase(cached);
  return false;
}

bool RoutingTable::remove(const NodeId& id) {
  const int index = bucket_index(id);
  if (id == self_ || static_cast<size_t>(index) >= buckets_.size()) return false;
  Bucket& bucket = buckets_[index];
  for (size_t i = 0; i < bucket.entries.size(); ++i) {
    if (same_id(bucket.entries[i].contact.id, id)) {
      bucket.entries.erase(bucket.entries.begin() + static_cast<ptrdiff_t>(i));
      --size_;
      ++generation_;
      return true;
    }
  }
  auto& cache = bucket.replacements;
  auto cached = std::find_if(cache.begin(), cache.end(),
                             [&](const Entry& e) { return same_id(e.contact.id, id); });
  if (cached == cache.end()) return false;
  cache.erase(cached);
  return true;
}

const RoutingTable::Entry* RoutingTable::find(const NodeId& id) const {
  const int index = bucket_index(id);
  if (id == self_ || static_cast<size_t>(index) >= buckets_.size()) return nullptr;
  for (const Entry& entry : buckets_[index].entries) {
    if (same_id(entry.contact.id, id)) return &entry;
  }
  return nullptr;
}

std::vector<Contact> RoutingTable::closest(const NodeId& target, size_t n,
                                           const NodeId* exclude) const {
  // Buckets can be visited in exact order of distance to `target`, so only the buckets that
  // supply the n closest are read. With c = cpl(self, target):
  //  1. bucket c: its contacts agree with target on the first c + 1 bits;
  //  2. the deeper buckets j > c (their distances all have bit c set): bucket j comes before
  //     every deeper bucket when target's bit j differs from ours, after them otherwise; so
  //     first those j with a differing bit, increasing, then the others, decreasing;
  //  3. buckets c-1, c-2, ..., 0: each strictly farther than the one before.
  std::vector<Contact> out;
  if (n == 0) return out;
  struct Keyed {
    DistanceKey key;
    const Contact* contact;
  };
  std::vector<Keyed> batch;
  const int count = static_cast<int>(buckets_.size());
  const bool is_self = same_id(target, self_);
  const int c = is_self ? count : bucket_index(target);
  auto add_bucket = [&](int index) {
    if (index < 0 || index >= count || out.size() >= n) return;
    batch.clear();
    for (const Entry& entry : buckets_[index].entries) {
      if (entry.failures == 0 && (exclude == nullptr || !same_id(entry.contact.id, *exclude))) {
        batch.push_back({distance_key(entry.contact.id, target), &entry.contact});
      }
    }
    std::sort(batch.begin(), batch.end(),
              [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
    for (const Keyed& keyed : batch) {
      if (out.size() >= n) break;
      out.push_back(*keyed.contact);
    }
  };
  auto bit = [](const NodeId& id, int index) {
    return (id.bytes()[static_cast<size_t>(index) / 8] >> (7 - index % 8)) & 1;
  };
  if (c < count) {
    add_bucket(c);
    for (int j = c + 1; j < count && out.size() < n; ++j) {
      if (bit(target, j) != bit(self_, j)) add_bucket(j);
    }
    for (int j = count - 1; j > c && out.size() < n; --j) {
      if (bit(target, j) == bit(self_, j)) add_bucket(j);
    }
  }
  for (int i = std::min(c, count) - 1; i >= 0 && out.size() < n; --i) add_bucket(i);
  return out;
}

std::vector<Contact> RoutingTable::take_probes(size_t max) {
  std::vector<Contact> out;
  for (Bucket& bucket : buckets_) {
    for (Entry& entry : bucket.entries) {
      if (out.size() >= max) return out;
      if (entry.failures > 0 && !entry.pinging) {
        entry.pinging = true;
        out.push_back(entry.contact);
      }
    }
  }
  return out;
}

std::optional<Contact> RoutingTable::take_evicted() {
  if (evicted_.empty()) return std::nullopt;
  Contact contact = evicted_.front();
  evicted_.pop_front();
  return contact;
}

void RoutingTable::remember_evicted(const Contact& contact) {
  if (options_.evicted_memory == 0) return;
  auto same = std::find_if(evicted_.begin(), evicted_.end(),
                           [&](const Contact& c) { return c.id == contact.id; });
  if (same != evicted_.end()) evicted_.erase(same);
  evicted_.push_back(contact);
  while (evicted_.size() > options_.evicted_memory) evicted_.pop_front();
}

std::vector<Contact> RoutingTable::contacts() const {
  std::vector<Contact> out;
  out.reserve(size_);
  for (const Bucket& bucket : buckets_) {
    for (const Entry& entry : bucket.entries) out.push_back(entry.contact);
  }
  return out;
}

}  // namespace synapse::dht
