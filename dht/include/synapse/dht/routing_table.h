// The Kademlia routing table: k-buckets indexed by the length of the prefix a contact shares
// with our own ID, each with a replacement cache, ping-before-evict, failure counting and a
// per-bucket refresh time. Sans-I/O: it never sends anything; observe() tells the caller whom
// to ping, and the caller reports what happened.
//
// Rules (docs/dht.md, "Routing table"):
// - Only contacts that talked to us directly (sent a request, or answered one of ours) are
//   observed; contacts merely named in replies never enter the table.
// - A bucket keeps at most k entries ordered from least to most recently seen. A newcomer to a
//   full bucket takes the place of an entry that failed to answer, if there is one; otherwise
//   it waits in the bucket's replacement cache and, if the least recently seen entry has been
//   idle for `ping_after_idle`, observe() asks the caller to ping that entry. An answer keeps
//   the old entry (observe() it again); a failure (on_failure()) evicts it for the freshest
//   replacement.
// - An entry that fails is replaced at once when the bucket has a replacement and removed
//   after `max_failures` consecutive failures otherwise. Any message from it resets the count.
//   Failing entries are left out of closest(); take_probes() hands them out for re-probing.
// - Evicted contacts are remembered (a bounded ring) so the caller can try them again later:
//   this is how both sides of a healed partition find each other again.
//
// Not thread-safe; the owner serialises calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/peer_address.h"

namespace synapse::dht {

using namespace std::chrono_literals;

struct RoutingTableOptions {
  size_t k = 20;                      // entries per bucket
  size_t replacement_cache_size = 8;  // waiting contacts per bucket
  core::Duration ping_after_idle = 30s;
  int max_failures = 4;        // consecutive failures that remove an entry
  size_t evicted_memory = 32;  // evicted contacts remembered for revival
};

class RoutingTable {
 public:
  struct Entry {
    Contact contact;
    core::MonoTime last_seen{};
    uint8_t failures = 0;
    bool pinging = false;  // a ping-before-evict probe is out
  };

  enum class Outcome {
    kSelf,           // our own ID: ignored
    kUpdated,        // already present: moved to most recently seen, failures cleared
    kInserted,       // added to a bucket with room
    kReplacedStale,  // added in place of an entry that had failed
    kCached,         // bucket full: kept in the replacement cache
  };
  struct ObserveResult {
    Outcome outcome;
    // Ping-before-evict: ping this contact; call observe() for it when it answers and
    // on_failure() when it does not.
    std::optional<Contact> ping;
  };

  RoutingTable(const NodeId& self, RoutingTableOptions options);

  const NodeId& self() const { return self_; }
  const RoutingTableOptions& options() const { return options_; }

  // Records that `contact` is alive at `now` (it sent us a message).
  ObserveResult observe(const Contact& contact, core::MonoTime now);

  // Records that `id` did not answer. Returns true if the entry left the table.
  bool on_failure(const NodeId& id);

  // Removes `id` from its bucket or replacement cache; true if it was there.
  bool remove(const NodeId& id);

  // Up to `n` contacts closest to `target`, closest first; entries that are currently failing
  // and `exclude` (if given) are left out.
  std::vector<Contact> closest(const NodeId& target, size_t n,
                               const NodeId* exclude = nullptr) const;

  const Entry* find(const NodeId& id) const;
  bool contains(const NodeId& id) const { return find(id) != nullptr; }
  size_t size() const { return size_; }

  // Index of the bucket `id` belongs to: common_prefix_length(self, id), at most 255.
  int bucket_index(const NodeId& id) const;
  // One more than the deepest bucket that has ever held a contact.
  int bucket_count() const { return static_cast<int>(buckets_.size()); }
  const std::vector<Entry>& bucket(int index) const;
  const std::vector<Entry>& replacements(int index) const;

  // When a lookup last targeted an ID in bucket `index` (the epoch if never).
  core::MonoTime last_refreshed(int index) const;
  void mark_refreshed(const NodeId& target, core::MonoTime now);

  // Up to `max` entries that failed and have no probe out, marked as probed: the caller pings
  // them and reports the answer (observe) or the failure (on_failure).
  std::vector<Contact> take_probes(size_t max);

  // Takes the oldest remembered evicted contact, if any; the caller pings it and either
  // observe()s it (alive again) or hands it back with remember_evicted().
  std::optional<Contact> take_evicted();
  void remember_evicted(const Contact& contact);
  size_t evicted_count() const { return evicted_.size(); }

  // Grows whenever a contact enters or leaves a bucket; lets callers skip recomputing
  // closest sets when nothing changed.
  uint64_t generation() const { return generation_; }

  // Every contact in the buckets, in bucket order.
  std::vector<Contact> contacts() const;

 private:
  struct Bucket {
    std::vector<Entry> entries;       // least recently seen first
    std::vector<Entry> replacements;  // most recently seen last
    core::MonoTime last_refreshed{};
  };

  Bucket& bucket_for(int index);
  void insert_ordered(Bucket& bucket, Entry entry);
  void evict(Bucket& bucket, size_t position);

  NodeId self_;
  RoutingTableOptions options_;
  std::vector<Bucket> buckets_;
  std::deque<Contact> evicted_;
  size_t size_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace synapse::dht
