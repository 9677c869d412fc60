// The msgpack codec of exchange messages: the only file of this module that calls msgpack,
// which throws; every exception is caught here.
#include "synapse/exchange/messages.h"

#include "synapse/core/msgpack_codec.h"

namespace synapse::exchange {
namespace {

using core::ErrorCode;
using core::make_error;
using namespace core::msgpack_codec;

// ---- Encoding ----

class Writer {
 public:
  explicit Writer(size_t reserve) : sink_(bytes_), packer_(sink_) {
    bytes_.reserve(reserve + 64);
    bytes_.resize(4);  // the length prefix, filled in by take()
  }
  void header(uint64_t type, size_t fields) {
    packer_.pack_array(static_cast<uint32_t>(2 + fields));
    packer_.pack_uint64(kExchangeVersion);
    packer_.pack_uint64(type);
  }
  void uint(uint64_t value) { packer_.pack_uint64(value); }
  void boolean(bool value) { value ? packer_.pack_true() : packer_.pack_false(); }
  void bin(core::ByteView bytes) {
    packer_.pack_bin(static_cast<uint32_t>(bytes.size()));
    packer_.pack_bin_body(reinterpret_cast<const char*>(bytes.data()),
                          static_cast<uint32_t>(bytes.size()));
  }
  void str(const std::string& text) { packer_.pack(text); }
  void cid(const crypto::Cid& cid) { bin(cid.to_bytes()); }
  void cids(const std::vector<crypto::Cid>& list) {
    SYNAPSE_CHECK(list.size() <= kMaxCidsPerMessage, "too many CIDs for one exchange message");
    packer_.pack_array(static_cast<uint32_t>(list.size()));
    for (const crypto::Cid& c : list) cid(c);
  }
  core::Bytes take() {
    const size_t payload = bytes_.size() - 4;
    SYNAPSE_CHECK(payload <= kMaxFrameSize, "exchange frame over the limit");
    for (int i = 0; i < 4; ++i) bytes_[i] = static_cast<uint8_t>(payload >> (24 - 8 * i));
    return std::move(bytes_);
  }

 private:
  core::Bytes bytes_;
  ByteSink sink_;
  msgpack::packer<ByteSink> packer_;
};

// Message types on the wire; the variant's alternatives in this order, from 1.
constexpr uint64_t kTypeCount = std::variant_size_v<Message>;
constexpr uint32_t kFieldCounts[kTypeCount] = {1, 1, 2, 1, 2, 2, 3, 3, 3, 4};

// ---- Decoding ----

std::string as_str(const msgpack::object& o) {
  if (o.type != msgpack::type::STR) fail("expected a string");
  if (o.via.str.size > kMaxReasonSize) fail("string over the limit");
  return std::string(o.via.str.ptr, o.via.str.size);
}
crypto::Cid as_cid(const msgpack::object& o) {
  const core::ByteView bytes = as_bin(o, crypto::Cid::kMaxBinarySize);
  auto cid = crypto::Cid::from_bytes(bytes);
  if (!cid) fail("bad CID");
  return *cid;
}
std::vector<crypto::Cid> as_cids(const msgpack::object& o) {
  const msgpack::object_array& list = as_list(o, kMaxCidsPerMessage);
  std::vector<crypto::Cid> cids;
  cids.reserve(list.size);
  for (uint32_t i = 0; i < list.size; ++i) cids.push_back(as_cid(list.ptr[i]));
  return cids;
}

Message read_body(uint64_t type, const msgpack::object* f) {
  switch (type) {
    case 1:
      return Want{as_cids(f[0])};
    case 2:
      return Cancel{as_cids(f[0])};
    case 3: {
      const core::ByteView data = as_bin(f[1], blockstore::kMaxBlockSize);
      return BlockData{as_cid(f[0]), core::Bytes(data.begin(), data.end())};
    }
    case 4:
      return Missing{as_cid(f[0])};
    case 5:
      return HoldsRequest{as_uint(f[0]), as_cid(f[1])};
    case 6:
      return HoldsReply{as_uint(f[0]), as_bool(f[1])};
    case 7:
      return StoreRequest{as_uint(f[0]), as_cid(f[1]), as_uint(f[2])};
    case 8:
      return StoreReply{as_uint(f[0]), as_bool(f[1]), as_str(f[2])};
    case 9: {
      const core::ByteView body = as_bin(f[2], kMaxCallBodySize);
      return CallRequest{as_uint(f[0]), static_cast<uint32_t>(as_uint(f[1], UINT32_MAX)),
                         core::Bytes(body.begin(), body.end())};
    }
    default: {
      const uint64_t error = as_uint(f[1], static_cast<uint64_t>(core::ErrorCode::kInternal) + 1);
      const core::ByteView body = as_bin(f[3], kMaxCallBodySize);
      return CallReply{as_uint(f[0]), static_cast<uint32_t>(error), as_str(f[2]),
                       core::Bytes(body.begin(), body.end())};
    }
  }
}

}  // namespace

core::Bytes encode_frame(const Message& message) {
  size_t reserve = 0;
  if (auto* block = std::get_if<BlockData>(&message)) reserve = block->data.size();
  if (auto* call = std::get_if<CallRequest>(&message)) reserve = call->body.size();
  if (auto* reply = std::get_if<CallReply>(&message)) reserve = reply->body.size();
  Writer w(reserve);
  w.header(message.index() + 1, kFieldCounts[message.index()]);
  std::visit(Overloaded{
                 [&](const Want& m) { w.cids(m.cids); },
                 [&](const Cancel& m) { w.cids(m.cids); },
                 [&](const BlockData& m) {
                   w.cid(m.cid);
                   w.bin(m.data);
                 },
                 [&](const Missing& m) { w.cid(m.cid); },
                 [&](const HoldsRequest& m) {
                   w.uint(m.id);
                   w.cid(m.root);
                 },
                 [&](const HoldsReply& m) {
                   w.uint(m.id);
                   w.boolean(m.holds);
                 },
                 [&](const StoreRequest& m) {
                   w.uint(m.id);
                   w.cid(m.root);
                   w.uint(m.size);
                 },
                 [&](const StoreReply& m) {
                   SYNAPSE_CHECK(m.reason.size() <= kMaxReasonSize, "store reply reason too long");
                   w.uint(m.id);
                   w.boolean(m.accepted);
                   w.str(m.reason);
                 },
                 [&](const CallRequest& m) {
                   SYNAPSE_CHECK(m.body.size() <= kMaxCallBodySize, "call body too long");
                   w.uint(m.id);
                   w.uint(m.service);
                   w.bin(m.body);
                 },
                 [&](const CallReply& m) {
                   SYNAPSE_CHECK(m.body.size() <= kMaxCallBodySize, "call reply body too long");
                   SYNAPSE_CHECK(m.message.size() <= kMaxReasonSize, "call reply message too long");
                   w.uint(m.id);
                   w.uint(m.error);
                   w.str(m.message);
                   w.bin(m.body);
                 },
             },
             message);
  return w.take();
}

core::Result<Message> decode_message(core::ByteView payload) {
  if (payload.size() > kMaxFrameSize) {
    return make_error(ErrorCode::kInvalidArgument, "exchange message over the limit");
  }
  msgpack::zone zone;
  try {
    // array, map, str, bin, ext sizes and nesting depth.
    const msgpack::unpack_limit limit(kMaxCidsPerMessage, 0, kMaxReasonSize, kMaxFrameSize, 0, 3);
    size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(zone, reinterpret_cast<const char*>(payload.data()), payload.size(), offset,
                        referenced, reference_bin, nullptr, limit);
    if (offset != payload.size()) fail("trailing bytes after the message");
    if (root.type != msgpack::type::ARRAY || root.via.array.size < 2) fail("not a message");
    const msgpack::object* items = root.via.array.ptr;
    if (as_uint(items[0]) != kExchangeVersion) fail("unsupported exchange version");
    const uint64_t type = as_uint(items[1]);
    if (type < 1 || type > kTypeCount) fail("unknown message type");
    if (root.via.array.size != 2 + kFieldCounts[type - 1]) fail("wrong number of fields");
    return read_body(type, items + 2);
  } catch (const DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("exchange message: ") + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("exchange message: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument, "exchange message: undecodable");
  }
}

core::Status FrameReader::feed(core::ByteView bytes,
                               const std::function<core::Status(Message)>& on_message) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  while (buffer_.size() - consumed_ >= 4) {
    const uint8_t* p = buffer_.data() + consumed_;
    const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    if (length > kMaxFrameSize) {
      return make_error(ErrorCode::kInvalidArgument, "exchange frame over the limit");
    }
    if (buffer_.size() - consumed_ - 4 < length) break;
    auto message = decode_message(core::ByteView(p + 4, length));
    if (!message) return tl::unexpected(message.error());
    consumed_ += 4 + length;
    SYNAPSE_RETURN_IF_ERROR(on_message(std::move(*message)));
  }
  // Drop consumed bytes once they dominate, so that the buffer stays about one frame long.
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  return core::ok();
}

}  // namespace synapse::exchange
