#include "synapse/dht/records.h"

#include <algorithm>
#include <cstring>

#include "synapse/crypto/hash.h"

namespace synapse::dht {
namespace {

constexpr char kValueDomain[] = "synapse/dht/value/v1";

uint8_t* put_be(uint8_t* out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) *out++ = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

bool within_limits(const SignedValue& value) {
  return value.data.size() <= kMaxValueDataSize && value.ttl_seconds > 0 &&
         value.ttl_seconds <= kMaxRecordTtlSeconds;
}

}  // namespace

bool supersedes(const SignedValue& a, const SignedValue& b) {
  if (a.seq != b.seq) return a.seq > b.seq;
  // Same writer and seq, different content: the greater (data, signature) wins everywhere.
  if (a.data != b.data) return a.data > b.data;
  return a.signature > b.signature;
}

core::Result<SignedValue> SignedValue::sign(const crypto::NodeIdentity& writer, const Key& key,
                                            uint64_t seq, uint32_t ttl_seconds, core::Bytes data) {
  SignedValue value;
  value.key = key;
  value.writer = writer.public_key();
  value.seq = seq;
  value.ttl_seconds = ttl_seconds;
  value.data = std::move(data);
  if (value.data.size() > kMaxValueDataSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "value data over 1024 bytes");
  }
  if (ttl_seconds == 0 || ttl_seconds > kMaxRecordTtlSeconds) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "value TTL out of range");
  }
  value.signature = writer.sign(value.signing_bytes());
  return value;
}

core::Bytes SignedValue::signing_bytes() const {
  // Filled by offset into a sized buffer (GCC 12 warns falsely on chained inserts).
  core::Bytes out(sizeof(kValueDomain) + 32 + 32 + 8 + 4 + 4 + data.size());
  uint8_t* p = out.data();
  std::memcpy(p, kValueDomain, sizeof(kValueDomain));  // with the NUL
  p += sizeof(kValueDomain);
  std::memcpy(p, key.bytes().data(), 32);
  p += 32;
  std::memcpy(p, writer.data(), 32);
  p += 32;
  p = put_be(p, seq, 8);
  p = put_be(p, ttl_seconds, 4);
  p = put_be(p, data.size(), 4);
  if (!data.empty()) std::memcpy(p, data.data(), data.size());
  return out;
}

bool SignedValue::verify() const {
  return within_limits(*this) && crypto::verify_signature(writer, signing_bytes(), signature);
}

size_t CachingVerifier::DigestHash::operator()(const std::array<uint8_t, 32>& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

bool CachingVerifier::verify(const SignedValue& value) {
  if (!within_limits(value)) return false;
  core::Bytes message = value.signing_bytes();
  crypto::Sha256 hasher;
  hasher.update(message);
  hasher.update(value.signature);
  const auto digest = hasher.finish();
  if (auto found = verdicts_.find(digest); found != verdicts_.end()) {
    ++hits_;
    return found->second;
  }
  ++misses_;
  const bool verdict = crypto::verify_signature(value.writer, message, value.signature);
  if (capacity_ == 0) return verdict;
  if (order_.size() < capacity_) {
    order_.push_back(digest);
  } else {
    verdicts_.erase(order_[next_]);
    order_[next_] = digest;
    next_ = (next_ + 1) % capacity_;
  }
  verdicts_.emplace(digest, verdict);
  return verdict;
}

core::Duration RecordStore::remaining(const StoredValue& stored, core::MonoTime now) {
  return stored.expires > now ? stored.expires - now : core::Duration::zero();
}

StoreOutcome RecordStore::put(const SignedValue& value, core::Duration remaining,
                              core::MonoTime now) {
  if (!within_limits(value)) return StoreOutcome::kTooLarge;
  const core::Duration cap = std::chrono::seconds(value.ttl_seconds);
  const core::MonoTime expires = now + std::clamp(remaining, core::Duration::zero(), cap);
  if (expires <= now) return StoreOutcome::kStale;
  auto key_it = values_.find(value.key);
  if (key_it != values_.end()) {
    auto found = key_it->second.find(value.writer);
    if (found != key_it->second.end()) {
      StoredValue& stored = found->second;
      if (value.seq < stored.value.seq) return StoreOutcome::kStale;
      if (value.seq == stored.value.seq) {
        if (value == stored.value) {
          stored.expires = std::max(stored.expires, expires);
          return StoreOutcome::kDuplicate;
        }
        if (!supersedes(value, stored.value)) return StoreOutcome::kDuplicate;
      }
      if (value_bytes_ - stored.value.data.size() + value.data.size() > limits_.max_value_bytes) {
        return StoreOutcome::kFull;
      }
      value_bytes_ = value_bytes_ - stored.value.data.size() + value.data.size();
      stored.value = value;
      stored.expires = expires;
      return StoreOutcome::kReplaced;
    }
    if (key_it->second.size() >= limits_.max_values_per_key) return StoreOutcome::kFull;
  }
  if (value_count_ >= limits_.max_values ||
      value_bytes_ + value.data.size() > limits_.max_value_bytes) {
    return StoreOutcome::kFull;
  }
  values_[value.key].emplace(value.writer, StoredValue{value, expires});
  ++value_count_;
  value_bytes_ += value.data.size();
  return StoreOutcome::kStored;
}

const RecordStore::ValueMap* RecordStore::values(const Key& key) const {
  auto found = values_.find(key);
  return found == values_.end() ? nullptr : &found->second;
}

bool RecordStore::add_provider(const Key& key, const Contact& provider, core::Duration ttl,
                               core::MonoTime now) {
  const core::Duration cap = std::chrono::seconds(limits_.max_provider_ttl_seconds);
  const core::MonoTime expires = now + std::clamp(ttl, core::Duration::zero(), cap);
  auto& per_key = providers_[key];
  auto found = per_key.find(provider.id);
  if (found != per_key.end()) {
    found->second.contact = provider;
    found->second.expires = std::max(found->second.expires, expires);
    return true;
  }
  if (per_key.size() >= limits_.max_providers_per_key || provider_count_ >= limits_.max_providers) {
    if (per_key.empty()) providers_.erase(key);
    return false;
  }
  per_key.emplace(provider.id, Provider{provider, expires});
  ++provider_count_;
  return true;
}

std::vector<Contact> RecordStore::providers(const Key& key, core::MonoTime now, size_t max) const {
  std::vector<Contact> out;
  auto found = providers_.find(key);
  if (found == providers_.end()) return out;
  for (const auto& [id, provider] : found->second) {
    if (out.size() >= max) break;
    if (provider.expires > now) out.push_back(provider.contact);
  }
  return out;
}

core::Duration RecordStore::add_listener(const Key& key, const Contact& listener,
                                         core::Duration wanted, core::MonoTime now) {
  const core::Duration granted =
      std::clamp(wanted, core::Duration::zero(),
                 core::Duration(std::chrono::seconds(limits_.max_listen_seconds)));
  if (granted <= core::Duration::zero()) return core::Duration::zero();
  auto& per_key = listeners_[key];
  auto found = per_key.find(listener.id);
  if (found != per_key.end()) {
    found->second = Listener{listener, now + granted};
    return granted;
  }
  if (per_key.size() >= limits_.max_listeners_per_key || listener_count_ >= limits_.max_listeners) {
    if (per_key.empty()) listeners_.erase(key);
    return core::Duration::zero();
  }
  per_key.emplace(listener.id, Listener{listener, now + granted});
  ++listener_count_;
  return granted;
}

std::vector<Contact> RecordStore::listeners(const Key& key, core::MonoTime now) const {
  std::vector<Contact> out;
  auto found = listeners_.find(key);
  if (found == listeners_.end()) return out;
  for (const auto& [id, listener] : found->second) {
    if (listener.expires > now) out.push_back(listener.contact);
  }
  return out;
}

void RecordStore::expire(core::MonoTime now) {
  for (auto key_it = values_.begin(); key_it != values_.end();) {
    auto& per_key = key_it->second;
    for (auto it = per_key.begin(); it != per_key.end();) {
      if (it->second.expires <= now) {
        value_bytes_ -= it->second.value.data.size();
        --value_count_;
        it = per_key.erase(it);
      } else {
        ++it;
      }
    }
    key_it = per_key.empty() ? values_.erase(key_it) : std::next(key_it);
  }
  auto sweep = [now](auto& table, size_t& count) {
    for (auto key_it = table.begin(); key_it != table.end();) {
      auto& per_key = key_it->second;
      for (auto it = per_key.begin(); it != per_key.end();) {
        if (it->second.expires <= now) {
          --count;
          it = per_key.erase(it);
        } else {
          ++it;
        }
      }
      key_it = per_key.empty() ? table.erase(key_it) : std::next(key_it);
    }
  };
  sweep(providers_, provider_count_);
  sweep(listeners_, listener_count_);
}

std::vector<Key> RecordStore::value_keys() const {
  std::vector<Key> out;
  out.reserve(values_.size());
  for (const auto& [key, per_key] : values_) out.push_back(key);
  return out;
}

}  // namespace synapse::dht
