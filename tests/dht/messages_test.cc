#include "synapse/dht/messages.h"

#include <gtest/gtest.h>

#include <vector>

#include "synapse/core/rng.h"
#include "synapse/crypto/identity.h"

namespace synapse::dht {
namespace {

class MessagesTest : public ::testing::Test {
 protected:
  Contact contact(uint32_t address) { return {random_id(rng_), PeerAddress::from_u32(address)}; }
  std::vector<Contact> contacts(size_t n) {
    std::vector<Contact> out;
    for (size_t i = 0; i < n; ++i) out.push_back(contact(static_cast<uint32_t>(i)));
    return out;
  }
  WireValue value(size_t size, uint64_t seq = 3) {
    core::Bytes data(size);
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 7);
    auto signed_value = SignedValue::sign(writer_, key_, seq, 3600, data);
    EXPECT_TRUE(signed_value.has_value());
    return {*signed_value, 1800};
  }
  Message round_trip(const Message& message) {
    auto bytes = encode(message);
    EXPECT_TRUE(bytes.has_value()) << (bytes ? "" : bytes.error().message());
    if (!bytes) return {};
    EXPECT_LE(bytes->size(), kMaxMessageSize);
    auto decoded = decode(*bytes);
    EXPECT_TRUE(decoded.has_value()) << (decoded ? "" : decoded.error().message());
    return decoded ? *decoded : Message{};
  }

  core::SeededRng rng_{5};
  crypto::NodeIdentity writer_ = crypto::NodeIdentity::generate(rng_);
  Key key_ = random_id(rng_);
};

template <class T>
const T& body(const Message& message) {
  return std::get<T>(message.body);
}

TEST_F(MessagesTest, PingHasTheDocumentedLayout) {
  auto bytes = encode(Message{7, Ping{}});
  ASSERT_TRUE(bytes.has_value());
  // fixarray(3): version 1, type 1, txid 7
  EXPECT_EQ(*bytes, (core::Bytes{0x93, 0x01, 0x01, 0x07}));
  auto find = encode(Message{0x12345678, FindNode{key_}});
  ASSERT_TRUE(find.has_value());
  ASSERT_EQ(find->size(), 4 + 4 + 2 + 32u);
  EXPECT_EQ((core::Bytes(find->begin(), find->begin() + 10)),
            (core::Bytes{0x94, 0x01, 0x03, 0xce, 0x12, 0x34, 0x56, 0x78, 0xc4, 0x20}));
}

TEST_F(MessagesTest, RoundTripsEveryType) {
  const auto nodes = contacts(20);
  const WireValue v = value(100);
  std::vector<Message> all = {
      {1, Ping{}},
      {2, Pong{}},
      {3, FindNode{key_}},
      {4, Nodes{nodes}},
      {5, GetValues{key_, std::nullopt}},
      {6, GetValues{key_, writer_.public_key()}},
      {7, Values{{v, value(10, 4)}, true, nodes}},
      {8, PutValues{{v}}},
      {9, PutAck{3, 1}},
      {10, AddProvider{key_, 86400}},
      {11, AddProviderAck{}},
      {12, GetProviders{key_}},
      {13, Providers{contacts(3), nodes}},
      {14, Listen{key_, 600}},
      {15, ListenAck{300}},
      {0, Notify{key_, v}},
      {16, Refusal{RefusalCode::kRateLimited}},
  };
  for (const Message& message : all) {
    const Message back = round_trip(message);
    EXPECT_EQ(back.txid, message.txid);
    EXPECT_EQ(back.type(), message.type());
  }
  EXPECT_EQ(body<Nodes>(round_trip(all[3])).nodes, nodes);
  EXPECT_EQ(body<GetValues>(round_trip(all[5])).after, writer_.public_key());
  EXPECT_FALSE(body<GetValues>(round_trip(all[4])).after.has_value());
  const auto values = body<Values>(round_trip(all[6]));
  ASSERT_EQ(values.values.size(), 2u);
  EXPECT_EQ(values.values[0], v);
  EXPECT_TRUE(values.values[0].value.verify());
  EXPECT_TRUE(values.more);
  EXPECT_EQ(body<PutAck>(round_trip(all[8])).stored, 3u);
  EXPECT_EQ(body<AddProvider>(round_trip(all[9])).ttl_seconds, 86400u);
  EXPECT_EQ(body<Providers>(round_trip(all[12])).providers.size(), 3u);
  EXPECT_EQ(body<Notify>(round_trip(all[15])).value, v);
  EXPECT_EQ(body<Refusal>(round_trip(all[16])).code, RefusalCode::kRateLimited);
  EXPECT_TRUE(all[1].is_reply());
  EXPECT_FALSE(all[0].is_reply());
  EXPECT_FALSE(all[15].is_reply());
}

TEST_F(MessagesTest, FullRepliesFitTheLimit) {
  // The largest value and 20 contacts: the size bound used to pack replies holds.
  const WireValue big = value(kMaxValueDataSize);
  const auto nodes = contacts(kMaxContactsPerReply);
  Values reply{{}, false, nodes};
  size_t budget = kMaxMessageSize - kMessageOverhead - nodes.size() * kContactSizeBound;
  while (encoded_size_bound(big) <= budget) {
    reply.values.push_back(big);
    budget -= encoded_size_bound(big);
  }
  EXPECT_GE(reply.values.size(), 5u);
  auto bytes = encode(Message{1, reply});
  ASSERT_TRUE(bytes.has_value());
  EXPECT_LE(bytes->size(), kMaxMessageSize);
}

TEST_F(MessagesTest, EncodeRefusesMessagesOverTheLimits) {
  EXPECT_FALSE(encode(Message{1, Nodes{contacts(kMaxContactsPerReply + 1)}}).has_value());
  WireValue too_big = value(10);
  too_big.value.data.resize(kMaxValueDataSize + 1);
  EXPECT_FALSE(encode(Message{1, PutValues{{too_big}}}).has_value());
  PutValues many;
  for (size_t i = 0; i <= kMaxValuesPerReply; ++i) many.values.push_back(value(1));
  EXPECT_FALSE(encode(Message{1, many}).has_value());
  PutValues heavy;
  for (int i = 0; i < 8; ++i) heavy.values.push_back(value(kMaxValueDataSize));
  EXPECT_FALSE(encode(Message{1, heavy}).has_value());  // over 8 KiB
}

TEST_F(MessagesTest, RejectsMalformedInput) {
  auto reject = [](core::Bytes bytes) {
    auto decoded = decode(bytes);
    EXPECT_FALSE(decoded.has_value());
    if (decoded) return;
    EXPECT_EQ(decoded.error().code(), core::ErrorCode::kInvalidArgument);
  };
  reject({});
  reject({0xc0});                                            // nil
  reject({0x93, 0x02, 0x01, 0x07});                          // version 2
  reject({0x93, 0x01, 0x00, 0x07});                          // type 0
  reject({0x93, 0x01, 0x11, 0x07});                          // type 17
  reject({0x93, 0x01, 0x03, 0x07});                          // FindNode without its target
  reject({0x94, 0x01, 0x01, 0x07, 0x01});                    // Ping with an extra field
  reject({0x93, 0x01, 0x01, 0x07, 0x00});                    // trailing byte
  reject({0x93, 0x01, 0x01, 0xff});                          // negative txid
  reject({0x93, 0x01, 0x01, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0});  // txid over 32 bits
  reject({0x93, 0x01, 0x01, 0xca, 0, 0, 0, 0});              // float txid
  reject({0x81, 0x01, 0x01});                                // a map
  // A 31-byte target.
  core::Bytes short_target = {0x94, 0x01, 0x03, 0x07, 0xc4, 31};
  short_target.resize(short_target.size() + 31);
  reject(short_target);
  // A string where binary data belongs.
  core::Bytes string_target = {0x94, 0x01, 0x03, 0x07, 0xd9, 32};
  string_target.resize(string_target.size() + 32);
  reject(string_target);
  // Over 8 KiB.
  reject(core::Bytes(kMaxMessageSize + 1, 0x90));
  // A huge array header with nothing behind it.
  reject({0xdd, 0xff, 0xff, 0xff, 0xff});
  // Deep nesting.
  reject(core::Bytes(64, 0x91));
}

TEST_F(MessagesTest, RejectsEveryTruncationAndSurvivesBitFlips) {
  auto bytes = encode(Message{9, Values{{value(200)}, false, contacts(20)}});
  ASSERT_TRUE(bytes.has_value());
  for (size_t size = 0; size < bytes->size(); ++size) {
    EXPECT_FALSE(decode(core::ByteView(bytes->data(), size)).has_value()) << size;
  }
  for (size_t i = 0; i < bytes->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      core::Bytes flipped = *bytes;
      flipped[i] ^= static_cast<uint8_t>(1 << bit);
      (void)decode(flipped);  // must not crash or throw
    }
  }
}

TEST_F(MessagesTest, DecodesValuesWithoutCheckingSignatures) {
  WireValue forged = value(20);
  forged.value.data[0] ^= 1;
  const Message back = round_trip(Message{1, PutValues{{forged}}});
  ASSERT_EQ(body<PutValues>(back).values.size(), 1u);
  EXPECT_FALSE(body<PutValues>(back).values[0].value.verify());
}

}  // namespace
}  // namespace synapse::dht
