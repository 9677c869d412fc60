// DHT records: signed multi-writer values and provider records, and the per-node store that
// holds them with its caps (docs/dht.md, "Records").
//
// A key holds at most one value per writer. A value is signed by its writer (Ed25519 over a
// domain-separated encoding of key, writer public key, sequence number, TTL and data); the
// writer's node ID is SHA-256 of that public key. A value with a higher sequence number from
// the same writer replaces the older one; an equal sequence number with different content
// keeps the one whose (data, signature) compares greater, so every node picks the same.
//
// TTLs are relative: the signed `ttl_seconds` caps the lifetime and every copy on the wire
// carries its remaining lifetime, which the storer turns into a local deadline. Nodes need no
// shared clock.
//
// RecordStore is sans-I/O and not thread-safe; it never verifies signatures (its caller does,
// through a SignatureVerifier) and never reads a clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"
#include "synapse/crypto/identity.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/peer_address.h"

namespace synapse::dht {

using namespace std::chrono_literals;

// Largest value payload; bigger data belongs in the block store, referenced by CID.
inline constexpr size_t kMaxValueDataSize = 1024;
// Longest signed lifetime of a value or provider record.
inline constexpr uint32_t kMaxRecordTtlSeconds = 7 * 24 * 3600;

struct SignedValue {
  Key key;
  crypto::Ed25519PublicKey writer{};
  uint64_t seq = 0;
  uint32_t ttl_seconds = 0;
  core::Bytes data;
  crypto::Ed25519Signature signature{};

  // Signs a new value. kInvalidArgument when data is over kMaxValueDataSize, or the TTL is 0 or
  // over kMaxRecordTtlSeconds.
  static core::Result<SignedValue> sign(const crypto::NodeIdentity& writer, const Key& key,
                                        uint64_t seq, uint32_t ttl_seconds, core::Bytes data);

  // SHA-256 of the writer's public key.
  NodeId writer_id() const { return NodeId::of_public_key(writer); }
  // The exact bytes the signature covers: "synapse/dht/value/v1" 0x00, key (32), writer (32),
  // seq (u64 BE), ttl_seconds (u32 BE), data length (u32 BE), data.
  core::Bytes signing_bytes() const;
  // Checks the limits and the signature (expensive: ~50 us). Prefer a SignatureVerifier.
  bool verify() const;

  friend bool operator==(const SignedValue&, const SignedValue&) = default;
};

// True when `a` should replace `b` (same key and writer): a higher seq, or the same seq with a
// greater (data, signature).
bool supersedes(const SignedValue& a, const SignedValue& b);

// Signature checks, injectable so that a process running many nodes (the simulator) or a
// node seeing the same value from many peers verifies each distinct value once.
class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;
  // True if `value` is within the limits and correctly signed by its writer.
  virtual bool verify(const SignedValue& value) = 0;
};

// Verifies every call.
class DirectVerifier final : public SignatureVerifier {
 public:
  bool verify(const SignedValue& value) override { return value.verify(); }
};

// Remembers the verdicts of the last `capacity` distinct values (keyed by SHA-256 of the
// signing bytes and signature). Not thread-safe.
class CachingVerifier final : public SignatureVerifier {
 public:
  explicit CachingVerifier(size_t capacity = 4096) : capacity_(capacity) {}
  bool verify(const SignedValue& value) override;
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct DigestHash {
    size_t operator()(const std::array<uint8_t, 32>& d) const;
  };
  size_t capacity_;
  std::unordered_map<std::array<uint8_t, 32>, bool, DigestHash> verdicts_;
  std::vector<std::array<uint8_t, 32>> order_;  // insertion ring for eviction
  size_t next_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

// The DHT key under which providers of a block are announced: the CID's SHA-256 digest, so
// CIDv0 and CIDv1 forms of the same bytes meet.
inline Key provider_key(const crypto::Cid& cid) { return Key(cid.digest()); }

struct RecordStoreLimits {
  size_t max_values = 100'000;        // values over all keys
  size_t max_value_bytes = 64 << 20;  // sum of data sizes
  size_t max_values_per_key = 256;    // writers per key
  size_t max_providers = 100'000;     // provider records over all keys
  size_t max_providers_per_key = 64;
  size_t max_listeners = 4096;  // subscriptions over all keys
  size_t max_listeners_per_key = 64;
  uint32_t max_provider_ttl_seconds = 48 * 3600;
  uint32_t max_listen_seconds = 600;
};

enum class StoreOutcome {
  kStored,     // a new writer for this key
  kReplaced,   // a newer value replaced the writer's older one
  kDuplicate,  // we already hold this value (or a preferred one with the same seq)
  kStale,      // we hold a newer value from this writer
  kTooLarge,   // over the size or TTL limits
  kFull,       // a storage cap is reached
};
inline bool is_new(StoreOutcome outcome) {
  return outcome == StoreOutcome::kStored || outcome == StoreOutcome::kReplaced;
}

class RecordStore {
 public:
  struct StoredValue {
    SignedValue value;
    core::MonoTime expires{};
  };
  struct Provider {
    Contact contact;
    core::MonoTime expires{};
  };
  struct Listener {
    Contact contact;
    core::MonoTime expires{};
  };
  // One key's values, ordered by writer public key (the paging order of GetValues).
  using ValueMap = std::map<crypto::Ed25519PublicKey, StoredValue>;

  explicit RecordStore(RecordStoreLimits limits = {}) : limits_(limits) {}
  const RecordStoreLimits& limits() const { return limits_; }

  // Stores a value whose signature the caller has verified, living `remaining` from `now`
  // (capped by its signed TTL).
  StoreOutcome put(const SignedValue& value, core::Duration remaining, core::MonoTime now);
  // The values of `key` (nullptr if none), including any that expired after the last
  // expire(): check remaining().
  const ValueMap* values(const Key& key) const;
  // Remaining lifetime of a stored value at `now` (zero when expired).
  static core::Duration remaining(const StoredValue& stored, core::MonoTime now);

  // Adds or refreshes `provider` for `key` for `ttl` (capped). false when a cap is reached.
  bool add_provider(const Key& key, const Contact& provider, core::Duration ttl,
                    core::MonoTime now);
  std::vector<Contact> providers(const Key& key, core::MonoTime now, size_t max) const;

  // Subscribes `listener` to new values of `key`; returns the granted time (zero: refused).
  core::Duration add_listener(const Key& key, const Contact& listener, core::Duration wanted,
                              core::MonoTime now);
  std::vector<Contact> listeners(const Key& key, core::MonoTime now) const;

  // Drops everything expired at `now`.
  void expire(core::MonoTime now);

  // Keys that hold values, in key order.
  std::vector<Key> value_keys() const;
  size_t value_count() const { return value_count_; }
  size_t value_bytes() const { return value_bytes_; }
  size_t provider_count() const { return provider_count_; }
  size_t listener_count() const { return listener_count_; }

 private:
  RecordStoreLimits limits_;
  std::map<Key, ValueMap> values_;
  std::map<Key, std::map<NodeId, Provider>> providers_;
  std::map<Key, std::map<NodeId, Listener>> listeners_;
  size_t value_count_ = 0;
  size_t value_bytes_ = 0;
  size_t provider_count_ = 0;
  size_t listener_count_ = 0;
};

}  // namespace synapse::dht
