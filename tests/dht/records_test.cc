#include "synapse/dht/records.h"

#include <gtest/gtest.h>

#include "synapse/core/rng.h"
#include "synapse/crypto/hash.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;

core::MonoTime at(int seconds) { return core::MonoTime{} + std::chrono::seconds(seconds); }

class RecordsTest : public ::testing::Test {
 protected:
  SignedValue sign(const crypto::NodeIdentity& writer, uint64_t seq, std::string_view text,
                   uint32_t ttl = 3600, const Key* key = nullptr) {
    auto bytes = core::as_bytes(text);
    auto value = SignedValue::sign(writer, key ? *key : key_, seq, ttl,
                                   core::Bytes(bytes.begin(), bytes.end()));
    EXPECT_TRUE(value.has_value());
    return *value;
  }

  core::SeededRng rng_{3};
  crypto::NodeIdentity alice_ = crypto::NodeIdentity::generate(rng_);
  crypto::NodeIdentity bob_ = crypto::NodeIdentity::generate(rng_);
  Key key_ = random_id(rng_);
};

TEST_F(RecordsTest, ASignedValueVerifiesAndNamesItsWriter) {
  const SignedValue value = sign(alice_, 1, "hello");
  EXPECT_TRUE(value.verify());
  EXPECT_EQ(value.writer_id(), alice_.node_id());
  EXPECT_EQ(value.writer_id(), NodeId(crypto::sha256(alice_.public_key())));
}

TEST_F(RecordsTest, AnyChangeBreaksTheSignature) {
  const SignedValue good = sign(alice_, 1, "hello");
  auto broken = [&](auto mutate) {
    SignedValue copy = good;
    mutate(copy);
    return !copy.verify();
  };
  EXPECT_TRUE(broken([](SignedValue& v) { v.data[0] ^= 1; }));
  EXPECT_TRUE(broken([](SignedValue& v) { v.seq += 1; }));
  EXPECT_TRUE(broken([](SignedValue& v) { v.ttl_seconds += 1; }));
  EXPECT_TRUE(broken([&](SignedValue& v) { v.key = random_id(rng_); }));
  EXPECT_TRUE(broken([&](SignedValue& v) { v.writer = bob_.public_key(); }));
  EXPECT_TRUE(broken([](SignedValue& v) { v.signature[10] ^= 1; }));
  EXPECT_TRUE(broken([](SignedValue& v) { v.data.push_back(0); }));
}

TEST_F(RecordsTest, SignRefusesOversizedDataAndBadTtls) {
  EXPECT_FALSE(SignedValue::sign(alice_, key_, 1, 60, core::Bytes(kMaxValueDataSize + 1)));
  EXPECT_TRUE(SignedValue::sign(alice_, key_, 1, 60, core::Bytes(kMaxValueDataSize)));
  EXPECT_FALSE(SignedValue::sign(alice_, key_, 1, 0, {}));
  EXPECT_FALSE(SignedValue::sign(alice_, key_, 1, kMaxRecordTtlSeconds + 1, {}));
}

TEST_F(RecordsTest, AKeyHoldsTheNewestValueOfEachWriter) {
  RecordStore store;
  EXPECT_EQ(store.put(sign(alice_, 1, "a1"), 1h, at(0)), StoreOutcome::kStored);
  EXPECT_EQ(store.put(sign(bob_, 5, "b5"), 1h, at(0)), StoreOutcome::kStored);
  EXPECT_EQ(store.put(sign(alice_, 2, "a2"), 1h, at(1)), StoreOutcome::kReplaced);
  EXPECT_EQ(store.put(sign(alice_, 1, "a1"), 1h, at(2)), StoreOutcome::kStale);
  EXPECT_EQ(store.put(sign(alice_, 2, "a2"), 1h, at(2)), StoreOutcome::kDuplicate);
  const auto* values = store.values(key_);
  ASSERT_NE(values, nullptr);
  ASSERT_EQ(values->size(), 2u);
  EXPECT_EQ(values->at(alice_.public_key()).value.data, core::Bytes({'a', '2'}));
  EXPECT_EQ(values->at(bob_.public_key()).value.seq, 5u);
  EXPECT_EQ(store.value_count(), 2u);
  EXPECT_EQ(store.value_bytes(), 4u);
}

TEST_F(RecordsTest, EquivocationResolvesTheSameWayInAnyOrder) {
  const SignedValue x = sign(alice_, 7, "x");
  const SignedValue y = sign(alice_, 7, "y");
  RecordStore one;
  RecordStore two;
  one.put(x, 1h, at(0));
  one.put(y, 1h, at(0));
  two.put(y, 1h, at(0));
  two.put(x, 1h, at(0));
  EXPECT_EQ(one.values(key_)->at(alice_.public_key()).value,
            two.values(key_)->at(alice_.public_key()).value);
  EXPECT_EQ(one.values(key_)->at(alice_.public_key()).value, y);  // "y" > "x"
}

TEST_F(RecordsTest, ValuesExpireAfterTheirRemainingLifetimeCappedByTheSignedTtl) {
  RecordStore store;
  store.put(sign(alice_, 1, "short", /*ttl=*/60), 10h, at(0));  // capped at 60 s
  store.put(sign(bob_, 1, "long", /*ttl=*/3600), 120s, at(0));
  EXPECT_EQ(RecordStore::remaining(store.values(key_)->at(alice_.public_key()), at(30)), 30s);
  store.expire(at(59));
  EXPECT_EQ(store.values(key_)->size(), 2u);
  store.expire(at(60));
  EXPECT_EQ(store.values(key_)->size(), 1u);
  store.expire(at(120));
  EXPECT_EQ(store.values(key_), nullptr);
  EXPECT_EQ(store.value_count(), 0u);
  EXPECT_EQ(store.value_bytes(), 0u);
  // Nothing left to live: not stored.
  EXPECT_EQ(store.put(sign(alice_, 2, "late"), 0s, at(200)), StoreOutcome::kStale);
}

TEST_F(RecordsTest, StorageCapsRefuseNewValues) {
  RecordStoreLimits limits;
  limits.max_values_per_key = 1;
  limits.max_values = 2;
  limits.max_value_bytes = 10;
  RecordStore store(limits);
  EXPECT_EQ(store.put(sign(alice_, 1, "12345"), 1h, at(0)), StoreOutcome::kStored);
  EXPECT_EQ(store.put(sign(bob_, 1, "x"), 1h, at(0)), StoreOutcome::kFull);  // per key
  const Key other = random_id(rng_);
  EXPECT_EQ(store.put(sign(bob_, 1, "123456", 3600, &other), 1h, at(0)),
            StoreOutcome::kFull);  // bytes
  EXPECT_EQ(store.put(sign(bob_, 1, "12345", 3600, &other), 1h, at(0)), StoreOutcome::kStored);
  const Key third = random_id(rng_);
  EXPECT_EQ(store.put(sign(bob_, 1, "", 3600, &third), 1h, at(0)), StoreOutcome::kFull);  // count
  // A replacement within the byte budget is fine.
  EXPECT_EQ(store.put(sign(alice_, 2, "abc"), 1h, at(0)), StoreOutcome::kReplaced);
  EXPECT_EQ(store.value_bytes(), 8u);
}

TEST_F(RecordsTest, ProvidersAreCappedRefreshedAndExpire) {
  RecordStoreLimits limits;
  limits.max_providers_per_key = 2;
  limits.max_provider_ttl_seconds = 100;
  RecordStore store(limits);
  const Contact p1{random_id(rng_), PeerAddress::from_u32(1)};
  const Contact p2{random_id(rng_), PeerAddress::from_u32(2)};
  const Contact p3{random_id(rng_), PeerAddress::from_u32(3)};
  EXPECT_TRUE(store.add_provider(key_, p1, 1h, at(0)));  // capped to 100 s
  EXPECT_TRUE(store.add_provider(key_, p2, 50s, at(0)));
  EXPECT_FALSE(store.add_provider(key_, p3, 50s, at(0)));
  EXPECT_EQ(store.providers(key_, at(10), 20).size(), 2u);
  EXPECT_TRUE(store.add_provider(key_, p2, 50s, at(40)));  // refreshed until 90
  store.expire(at(60));
  EXPECT_EQ(store.providers(key_, at(60), 20).size(), 2u);
  store.expire(at(95));
  EXPECT_EQ(store.providers(key_, at(95), 20), std::vector<Contact>{p1});
  store.expire(at(100));
  EXPECT_TRUE(store.providers(key_, at(100), 20).empty());
  EXPECT_EQ(store.provider_count(), 0u);
}

TEST_F(RecordsTest, ListenersGetACappedLease) {
  RecordStoreLimits limits;
  limits.max_listen_seconds = 60;
  limits.max_listeners = 1;
  RecordStore store(limits);
  const Contact a{random_id(rng_), PeerAddress::from_u32(1)};
  const Contact b{random_id(rng_), PeerAddress::from_u32(2)};
  EXPECT_EQ(store.add_listener(key_, a, 1h, at(0)), 60s);
  EXPECT_EQ(store.add_listener(key_, b, 1h, at(0)), 0s);  // full
  EXPECT_EQ(store.listeners(key_, at(59)), std::vector<Contact>{a});
  EXPECT_TRUE(store.listeners(key_, at(60)).empty());
  store.expire(at(60));
  EXPECT_EQ(store.listener_count(), 0u);
}

TEST_F(RecordsTest, TheCachingVerifierChecksEachDistinctValueOnce) {
  CachingVerifier verifier(2);
  const SignedValue a = sign(alice_, 1, "a");
  SignedValue forged = sign(bob_, 1, "b");
  forged.data[0] = 'c';
  EXPECT_TRUE(verifier.verify(a));
  EXPECT_TRUE(verifier.verify(a));
  EXPECT_FALSE(verifier.verify(forged));
  EXPECT_FALSE(verifier.verify(forged));
  EXPECT_EQ(verifier.misses(), 2u);
  EXPECT_EQ(verifier.hits(), 2u);
  // Bounded: a third value evicts the oldest verdict.
  EXPECT_TRUE(verifier.verify(sign(alice_, 2, "z")));
  EXPECT_TRUE(verifier.verify(a));
  EXPECT_EQ(verifier.misses(), 4u);
}

TEST_F(RecordsTest, ProviderKeysIgnoreTheCidVersion) {
  const auto data = core::as_bytes("block");
  const crypto::Cid v0 = crypto::Cid::of(0, crypto::Codec::kDagPb, data);
  EXPECT_EQ(provider_key(v0), provider_key(v0.to_v1()));
}

}  // namespace
}  // namespace synapse::dht
