#include "synapse/exchange/messages.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/rng.h"
#include "test_util.h"

namespace synapse::exchange {
namespace {

using core::Bytes;
using core::ByteView;
using crypto::Cid;
using crypto::Codec;

Cid raw_cid(int n) {
  const std::string text = "raw block " + std::to_string(n);
  return Cid::of(1, Codec::kRaw, core::as_bytes(text));
}
Cid pb_cid(int n, int version = 1) {
  const std::string text = "dag-pb node " + std::to_string(n);
  return Cid::of(version, Codec::kDagPb, core::as_bytes(text));
}
std::vector<Cid> cids(int count) {
  std::vector<Cid> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(i % 3 == 0 ? raw_cid(i) : pb_cid(i, i % 3 == 1 ? 0 : 1));
  }
  return out;
}

// Field-by-field equality (messages have no operator==).
bool same(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<Want>(&a)) return x->cids == std::get<Want>(b).cids;
  if (auto* x = std::get_if<Cancel>(&a)) return x->cids == std::get<Cancel>(b).cids;
  if (auto* x = std::get_if<BlockData>(&a)) {
    const auto& y = std::get<BlockData>(b);
    return x->cid == y.cid && x->data == y.data;
  }
  if (auto* x = std::get_if<Missing>(&a)) return x->cid == std::get<Missing>(b).cid;
  if (auto* x = std::get_if<HoldsRequest>(&a)) {
    const auto& y = std::get<HoldsRequest>(b);
    return x->id == y.id && x->root == y.root;
  }
  if (auto* x = std::get_if<HoldsReply>(&a)) {
    const auto& y = std::get<HoldsReply>(b);
    return x->id == y.id && x->holds == y.holds;
  }
  if (auto* x = std::get_if<StoreRequest>(&a)) {
    const auto& y = std::get<StoreRequest>(b);
    return x->id == y.id && x->root == y.root && x->size == y.size;
  }
  if (auto* x = std::get_if<StoreReply>(&a)) {
    const auto& y = std::get<StoreReply>(b);
    return x->id == y.id && x->accepted == y.accepted && x->reason == y.reason;
  }
  if (auto* x = std::get_if<CallRequest>(&a)) {
    const auto& y = std::get<CallRequest>(b);
    return x->id == y.id && x->service == y.service && x->body == y.body;
  }
  const auto& x = std::get<CallReply>(a);
  const auto& y = std::get<CallReply>(b);
  return x.id == y.id && x.error == y.error && x.message == y.message && x.body == y.body;
}

// One or more of every message type, with edge values.
std::vector<Message> every_message() {
  core::SeededRng rng(11);
  std::vector<Message> out;
  out.push_back(Want{});
  out.push_back(Want{cids(3)});
  out.push_back(Want{cids(static_cast<int>(kMaxCidsPerMessage))});
  out.push_back(Cancel{});
  out.push_back(Cancel{cids(17)});
  out.push_back(BlockData{raw_cid(1), {}});
  out.push_back(BlockData{raw_cid(2), testing::random_bytes(rng, 1000)});
  out.push_back(BlockData{pb_cid(3, 0), testing::random_bytes(rng, 200 * 1024)});
  out.push_back(BlockData{raw_cid(4), testing::random_bytes(rng, blockstore::kMaxBlockSize)});
  out.push_back(Missing{pb_cid(5, 0)});
  out.push_back(Missing{raw_cid(6)});
  out.push_back(HoldsRequest{0, pb_cid(7)});
  out.push_back(HoldsRequest{UINT64_MAX, pb_cid(8, 0)});
  out.push_back(HoldsReply{1, true});
  out.push_back(HoldsReply{UINT64_MAX, false});
  out.push_back(StoreRequest{42, pb_cid(9), 0});
  out.push_back(StoreRequest{UINT64_MAX, raw_cid(10), UINT64_MAX});
  out.push_back(StoreReply{7, true, ""});
  out.push_back(StoreReply{8, false, "store full"});
  out.push_back(StoreReply{9, false, std::string(kMaxReasonSize, 'r')});
  out.push_back(CallRequest{1, 0, {}});
  out.push_back(CallRequest{UINT64_MAX, UINT32_MAX, testing::random_bytes(rng, kMaxCallBodySize)});
  out.push_back(CallReply{2, 0, "", testing::random_bytes(rng, 300)});
  out.push_back(CallReply{3,
                          static_cast<uint32_t>(core::ErrorCode::kInternal) + 1,
                          std::string(kMaxReasonSize, 'm'),
                          {}});
  return out;
}

ByteView payload_of(const Bytes& frame) { return ByteView(frame).subspan(4); }

// A minimal msgpack writer, to build payloads the encoder would never produce.
class Pack {
 public:
  Pack& array(uint32_t n) {
    if (n < 16) return byte(0x90 | n);
    if (n <= 0xffff) return byte(0xdc).be(n, 2);
    return byte(0xdd).be(n, 4);
  }
  Pack& uint(uint64_t v) { return v < 128 ? byte(static_cast<uint8_t>(v)) : byte(0xcf).be(v, 8); }
  Pack& boolean(bool b) { return byte(b ? 0xc3 : 0xc2); }
  Pack& bin(ByteView b) {
    if (b.size() < 256) {
      byte(0xc4).be(b.size(), 1);
    } else if (b.size() <= 0xffff) {
      byte(0xc5).be(b.size(), 2);
    } else {
      byte(0xc6).be(b.size(), 4);
    }
    return raw(b);
  }
  Pack& str(std::string_view s) {
    if (s.size() < 32) {
      byte(static_cast<uint8_t>(0xa0 | s.size()));
    } else if (s.size() < 256) {
      byte(0xd9).be(s.size(), 1);
    } else {
      byte(0xda).be(s.size(), 2);
    }
    return raw(core::as_bytes(s));
  }
  Pack& cid(const Cid& c) { return bin(c.to_bytes()); }
  Pack& cid_list(const std::vector<Cid>& list) {
    array(static_cast<uint32_t>(list.size()));
    for (const Cid& c : list) cid(c);
    return *this;
  }
  Pack& raw(ByteView b) {
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  Pack& byte(uint8_t b) {
    bytes_.push_back(b);
    return *this;
  }
  Pack& be(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

Bytes frame_of(ByteView payload) {
  Bytes out;
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(payload.size() >> (8 * i)));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void expect_rejected(ByteView payload, std::string_view why) {
  auto decoded = decode_message(payload);
  ASSERT_FALSE(decoded.has_value()) << why;
  EXPECT_EQ(decoded.error().code(), core::ErrorCode::kInvalidArgument) << why;
  // A FrameReader carrying the same payload fails too.
  FrameReader reader;
  int delivered = 0;
  auto status = reader.feed(frame_of(payload), [&](Message) {
    ++delivered;
    return core::ok();
  });
  EXPECT_FALSE(status.has_value()) << why;
  EXPECT_EQ(delivered, 0) << why;
}

TEST(ExchangeMessages, EveryMessageTypeRoundTripsThroughItsFrame) {
  std::set<size_t> types;
  for (const Message& message : every_message()) {
    types.insert(message.index());
    const Bytes frame = encode_frame(message);
    ASSERT_GE(frame.size(), 4u);
    const uint32_t length = (uint32_t{frame[0]} << 24) | (uint32_t{frame[1]} << 16) |
                            (uint32_t{frame[2]} << 8) | frame[3];
    EXPECT_EQ(length, frame.size() - 4);
    EXPECT_LE(length, kMaxFrameSize);
    auto decoded = decode_message(payload_of(frame));
    ASSERT_TRUE(decoded.has_value())
        << "type " << message.index() + 1 << ": " << decoded.error().message();
    EXPECT_TRUE(same(*decoded, message)) << "type " << message.index() + 1;
    EXPECT_EQ(encode_frame(*decoded), frame);
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

TEST(ExchangeMessages, FramesAreNumberedAndLaidOutAsDocumented) {
  // [1, type, fields...]: a msgpack array whose first items are the version and the type.
  const std::vector<Message> messages = {Want{},
                                         Cancel{},
                                         BlockData{raw_cid(1), {}},
                                         Missing{raw_cid(1)},
                                         HoldsRequest{1, raw_cid(1)},
                                         HoldsReply{1, true},
                                         StoreRequest{1, raw_cid(1), 2},
                                         StoreReply{1, true, ""},
                                         CallRequest{1, 2, {}},
                                         CallReply{1, 0, "", {}}};
  const uint8_t fields[] = {1, 1, 2, 1, 2, 2, 3, 3, 3, 4};
  for (size_t i = 0; i < messages.size(); ++i) {
    const Bytes frame = encode_frame(messages[i]);
    ASSERT_GE(frame.size(), 7u);
    EXPECT_EQ(frame[4], 0x90 | (2 + fields[i])) << i;
    EXPECT_EQ(frame[5], kExchangeVersion) << i;
    EXPECT_EQ(frame[6], i + 1) << i;
  }
  // A hand-built want decodes to the same message.
  const std::vector<Cid> list = cids(2);
  auto decoded = decode_message(Pack().array(3).uint(1).uint(1).cid_list(list).bytes());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_TRUE(same(*decoded, Want{list}));
}

class FrameReassembly : public ::testing::TestWithParam<size_t> {};

TEST_P(FrameReassembly, AStreamCutIntoPiecesYieldsEveryMessageInOrder) {
  const std::vector<Message> messages = every_message();
  Bytes stream;
  for (const Message& m : messages) {
    const Bytes frame = encode_frame(m);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  const size_t piece = GetParam();
  FrameReader reader;
  std::vector<Message> received;
  for (size_t at = 0; at < stream.size(); at += piece) {
    const size_t n = std::min(piece, stream.size() - at);
    auto status = reader.feed(ByteView(stream).subspan(at, n), [&](Message m) {
      received.push_back(std::move(m));
      return core::ok();
    });
    ASSERT_TRUE(status.has_value()) << status.error().message();
    EXPECT_LT(reader.buffered(), kMaxFrameSize + 4);
  }
  EXPECT_EQ(reader.buffered(), 0u);
  ASSERT_EQ(received.size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_TRUE(same(received[i], messages[i])) << "message " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(PieceSizes, FrameReassembly, ::testing::Values(1, 7, 64 * 1024),
                         [](const auto& info) { return "Pieces" + std::to_string(info.param); });

TEST(ExchangeMessages, FrameReaderHoldsAnIncompleteFrameUntilTheRestArrives) {
  const Bytes frame = encode_frame(BlockData{raw_cid(1), Bytes(5000, 0xab)});
  FrameReader reader;
  int delivered = 0;
  auto count = [&](Message) {
    ++delivered;
    return core::ok();
  };
  ASSERT_TRUE(reader.feed(ByteView(frame).first(3), count).has_value());
  EXPECT_EQ(reader.buffered(), 3u);
  ASSERT_TRUE(reader.feed(ByteView(frame).subspan(3, frame.size() - 4), count).has_value());
  EXPECT_EQ(delivered, 0);
  EXPECT_EQ(reader.buffered(), frame.size() - 1);
  ASSERT_TRUE(reader.feed(ByteView(frame).last(1), count).has_value());
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(ExchangeMessages, FrameReaderStopsAtTheFirstErrorOfTheCallback) {
  Bytes stream;
  for (int i = 0; i < 3; ++i) {
    const Bytes frame = encode_frame(Missing{raw_cid(i)});
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  FrameReader reader;
  int delivered = 0;
  auto status = reader.feed(stream, [&](Message) -> core::Status {
    if (++delivered == 2) return core::make_error(core::ErrorCode::kFailedPrecondition, "stop");
    return core::ok();
  });
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(delivered, 2);
}

TEST(ExchangeMessages, DecodeRejectsAnUnsupportedVersion) {
  const std::vector<Cid> list = cids(1);
  for (uint64_t version : {uint64_t{0}, uint64_t{2}, uint64_t{255}, UINT64_MAX}) {
    expect_rejected(Pack().array(3).uint(version).uint(1).cid_list(list).bytes(),
                    "version " + std::to_string(version));
  }
  // The version must be an unsigned integer, not a string or a boolean.
  expect_rejected(Pack().array(3).str("1").uint(1).cid_list(list).bytes(), "string version");
  expect_rejected(Pack().array(3).boolean(true).uint(1).cid_list(list).bytes(), "bool version");
}

TEST(ExchangeMessages, DecodeRejectsAnUnknownType) {
  const std::vector<Cid> list = cids(1);
  for (uint64_t type : {uint64_t{0}, uint64_t{11}, uint64_t{100}, UINT64_MAX}) {
    expect_rejected(Pack().array(3).uint(1).uint(type).cid_list(list).bytes(),
                    "type " + std::to_string(type));
  }
}

TEST(ExchangeMessages, DecodeRejectsAWrongNumberOfFields) {
  const Cid cid = raw_cid(1);
  const std::vector<Cid> list = {cid};
  expect_rejected(Pack().array(0).bytes(), "empty array");
  expect_rejected(Pack().array(1).uint(1).bytes(), "version only");
  expect_rejected(Pack().array(2).uint(1).uint(1).bytes(), "want without its list");
  expect_rejected(Pack().array(4).uint(1).uint(1).cid_list(list).cid_list(list).bytes(),
                  "want with two lists");
  expect_rejected(Pack().array(3).uint(1).uint(3).cid(cid).bytes(), "block without data");
  expect_rejected(Pack().array(5).uint(1).uint(3).cid(cid).bin({}).uint(0).bytes(),
                  "block with an extra field");
  expect_rejected(Pack().array(4).uint(1).uint(7).uint(1).cid(cid).bytes(), "store without size");
  expect_rejected(Pack().array(4).uint(1).uint(8).uint(1).boolean(false).bytes(),
                  "store reply without reason");
  // The same shapes with the right counts decode: the rejections above are about the counts.
  EXPECT_TRUE(decode_message(Pack().array(4).uint(1).uint(3).cid(cid).bin({}).bytes()));
  EXPECT_TRUE(decode_message(Pack().array(5).uint(1).uint(7).uint(1).cid(cid).uint(9).bytes()));
  EXPECT_TRUE(
      decode_message(Pack().array(5).uint(1).uint(8).uint(1).boolean(false).str("x").bytes()));
}

TEST(ExchangeMessages, DecodeRejectsFieldsOfTheWrongKind) {
  const Cid cid = raw_cid(1);
  expect_rejected(Pack().array(3).uint(1).uint(1).cid(cid).bytes(), "want of a bare CID");
  expect_rejected(Pack().array(3).uint(1).uint(4).str("cid").bytes(), "missing of a string");
  expect_rejected(Pack().array(4).uint(1).uint(6).uint(1).uint(1).bytes(), "holds as an integer");
  expect_rejected(Pack().array(4).uint(1).uint(5).byte(0xff).cid(cid).bytes(), "negative id");
  expect_rejected(Pack().array(4).uint(1).uint(3).cid(cid).str("data").bytes(), "data as str");
  expect_rejected(Pack().uint(1).bytes(), "not an array");
  expect_rejected(Pack()
                      .array(5)
                      .uint(1)
                      .uint(8)
                      .uint(1)
                      .boolean(false)
                      .str(std::string(kMaxReasonSize + 1, 'r'))
                      .bytes(),
                  "reason over the limit");
}

TEST(ExchangeMessages, DecodeRejectsCallBodiesOverTheLimitAndUnknownErrorCodes) {
  const Bytes body(kMaxCallBodySize + 1, 1);
  expect_rejected(Pack().array(5).uint(1).uint(9).uint(1).uint(2).bin(body).bytes(),
                  "call body over the limit");
  expect_rejected(Pack().array(6).uint(1).uint(10).uint(1).uint(0).str("").bin(body).bytes(),
                  "call reply body over the limit");
  const uint64_t past_last = static_cast<uint64_t>(core::ErrorCode::kInternal) + 2;
  expect_rejected(Pack().array(6).uint(1).uint(10).uint(1).uint(past_last).str("x").bin({}).bytes(),
                  "error code past the last");
  expect_rejected(Pack().array(5).uint(1).uint(9).uint(1).uint(uint64_t{1} << 32).bin({}).bytes(),
                  "service over 32 bits");
}

TEST(ExchangeMessages, DecodeRejectsTrailingBytes) {
  Bytes payload = Pack().array(3).uint(1).uint(4).cid(raw_cid(1)).bytes();
  ASSERT_TRUE(decode_message(payload).has_value());
  payload.push_back(0x00);
  expect_rejected(payload, "one trailing byte");
  // Two messages in one frame are trailing bytes too.
  Bytes twice = encode_frame(Missing{raw_cid(1)});
  const Bytes second = encode_frame(Missing{raw_cid(2)});
  twice.erase(twice.begin(), twice.begin() + 4);
  twice.insert(twice.end(), second.begin() + 4, second.end());
  expect_rejected(twice, "two messages in one payload");
}

TEST(ExchangeMessages, DecodeRejectsATruncatedPayload) {
  const Bytes frame = encode_frame(BlockData{raw_cid(1), Bytes(300, 7)});
  const ByteView payload = payload_of(frame);
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, payload.size() / 2, payload.size() - 1}) {
    expect_rejected(payload.first(n), "truncated to " + std::to_string(n));
  }
}

TEST(ExchangeMessages, FrameReaderRejectsAnOversizedFrameLengthBeforeItsPayloadArrives) {
  for (uint64_t length : {uint64_t{kMaxFrameSize} + 1, uint64_t{0xffffffff}}) {
    Bytes header;
    for (int i = 3; i >= 0; --i) header.push_back(static_cast<uint8_t>(length >> (8 * i)));
    FrameReader reader;
    auto status = reader.feed(header, [](Message) { return core::ok(); });
    ASSERT_FALSE(status.has_value()) << length;
    EXPECT_EQ(status.error().code(), core::ErrorCode::kInvalidArgument);
  }
  // A length of exactly the limit is waited for, not refused.
  Bytes header;
  for (int i = 3; i >= 0; --i) header.push_back(static_cast<uint8_t>(kMaxFrameSize >> (8 * i)));
  FrameReader reader;
  EXPECT_TRUE(reader.feed(header, [](Message) { return core::ok(); }).has_value());
  EXPECT_EQ(reader.buffered(), 4u);
  // decode_message refuses a payload over the limit whatever it holds.
  const Bytes big(kMaxFrameSize + 1, 0);
  auto decoded = decode_message(big);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), core::ErrorCode::kInvalidArgument);
}

TEST(ExchangeMessages, DecodeRejectsMoreCidsThanTheLimit) {
  const std::vector<Cid> most = cids(static_cast<int>(kMaxCidsPerMessage));
  EXPECT_TRUE(decode_message(Pack().array(3).uint(1).uint(1).cid_list(most).bytes()));
  const std::vector<Cid> too_many = cids(static_cast<int>(kMaxCidsPerMessage) + 1);
  expect_rejected(Pack().array(3).uint(1).uint(1).cid_list(too_many).bytes(), "want");
  expect_rejected(Pack().array(3).uint(1).uint(2).cid_list(too_many).bytes(), "cancel");
  // A list header claiming more than the limit with no items behind it.
  expect_rejected(Pack().array(3).uint(1).uint(1).array(0xffffffff).bytes(), "huge list header");
}

TEST(ExchangeMessages, DecodeRejectsBadCidBytes) {
  const Bytes good = raw_cid(1).to_bytes();
  Bytes wrong_codec = good;
  wrong_codec[1] = 0x71;  // dag-cbor: not a codec Synapse stores
  Bytes short_digest(good.begin(), good.end() - 1);
  Bytes long_digest = good;
  long_digest.push_back(0);
  Bytes wrong_hash = good;
  wrong_hash[2] = 0x13;  // sha2-512's code with a 32-byte digest
  Bytes oversized(crypto::Cid::kMaxBinarySize + 1, 0x12);
  const std::vector<std::pair<std::string, Bytes>> bad = {{"empty", {}},
                                                          {"unknown codec", wrong_codec},
                                                          {"short digest", short_digest},
                                                          {"long digest", long_digest},
                                                          {"wrong hash", wrong_hash},
                                                          {"oversized", oversized},
                                                          {"garbage", Bytes(34, 0xff)}};
  ASSERT_TRUE(decode_message(Pack().array(3).uint(1).uint(4).bin(good).bytes()));
  for (const auto& [name, bytes] : bad) {
    expect_rejected(Pack().array(3).uint(1).uint(4).bin(bytes).bytes(), "missing: " + name);
    expect_rejected(Pack().array(3).uint(1).uint(1).array(2).bin(good).bin(bytes).bytes(),
                    "want: " + name);
    expect_rejected(Pack().array(4).uint(1).uint(3).bin(bytes).bin({}).bytes(), "block: " + name);
    expect_rejected(Pack().array(4).uint(1).uint(5).uint(1).bin(bytes).bytes(), "holds: " + name);
  }
}

TEST(ExchangeMessages, DecodeRejectsABlockOverTheMaximumBlockSize) {
  const Cid cid = raw_cid(1);
  const Bytes largest(blockstore::kMaxBlockSize, 1);
  const Bytes payload = Pack().array(4).uint(1).uint(3).cid(cid).bin(largest).bytes();
  ASSERT_LE(payload.size(), kMaxFrameSize);
  auto decoded = decode_message(payload);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(std::get<BlockData>(*decoded).data.size(), blockstore::kMaxBlockSize);

  const Bytes over(blockstore::kMaxBlockSize + 1, 1);
  const Bytes too_big = Pack().array(4).uint(1).uint(3).cid(cid).bin(over).bytes();
  ASSERT_LE(too_big.size(), kMaxFrameSize);  // within the frame: the block limit must catch it
  expect_rejected(too_big, "block of kMaxBlockSize + 1 bytes");
}

TEST(ExchangeMessagesDeathTest, EncodingMoreCidsThanTheLimitIsAProgrammerError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Want want{cids(static_cast<int>(kMaxCidsPerMessage) + 1)};
  EXPECT_DEATH((void)encode_frame(want), "too many CIDs");
}

}  // namespace
}  // namespace synapse::exchange
