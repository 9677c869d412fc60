// The msgpack codec of DHT messages: the only file that calls msgpack, which throws; every
// exception is caught here.
#include "synapse/dht/messages.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "synapse/core/msgpack_codec.h"

namespace synapse::dht {
namespace {

using core::ErrorCode;
using core::make_error;
using namespace core::msgpack_codec;

// ---- Encoding ----

class Writer {
 public:
  Writer() : sink_(bytes_), packer_(sink_) { bytes_.reserve(256); }
  void array(size_t size) { packer_.pack_array(static_cast<uint32_t>(size)); }
  void uint(uint64_t value) { packer_.pack_uint64(value); }
  void boolean(bool value) { value ? packer_.pack_true() : packer_.pack_false(); }
  void bin(core::ByteView bytes) {
    packer_.pack_bin(static_cast<uint32_t>(bytes.size()));
    packer_.pack_bin_body(reinterpret_cast<const char*>(bytes.data()),
                          static_cast<uint32_t>(bytes.size()));
  }
  void id(const NodeId& id) { bin(id.bytes()); }
  void contact(const Contact& contact) {
    array(2);
    id(contact.id);
    bin(contact.address.bytes());
  }
  void contacts(const std::vector<Contact>& list) {
    array(list.size());
    for (const Contact& c : list) contact(c);
  }
  void value(const WireValue& wire) {
    const SignedValue& v = wire.value;
    array(7);
    id(v.key);
    bin(v.writer);
    uint(v.seq);
    uint(v.ttl_seconds);
    bin(v.data);
    bin(v.signature);
    uint(wire.remaining_seconds);
  }
  void values(const std::vector<WireValue>& list) {
    array(list.size());
    for (const WireValue& v : list) value(v);
  }
  core::Bytes take() { return std::move(bytes_); }

 private:
  core::Bytes bytes_;
  ByteSink sink_;
  msgpack::packer<ByteSink> packer_;
};

size_t field_count(const MessageBody& body) {
  return std::visit(Overloaded{
                        [](const Ping&) { return 0; },
                        [](const Pong&) { return 0; },
                        [](const FindNode&) { return 1; },
                        [](const Nodes&) { return 1; },
                        [](const GetValues&) { return 2; },
                        [](const Values&) { return 3; },
                        [](const PutValues&) { return 1; },
                        [](const PutAck&) { return 2; },
                        [](const AddProvider&) { return 2; },
                        [](const AddProviderAck&) { return 0; },
                        [](const GetProviders&) { return 1; },
                        [](const Providers&) { return 2; },
                        [](const Listen&) { return 2; },
                        [](const ListenAck&) { return 1; },
                        [](const Notify&) { return 2; },
                        [](const Refusal&) { return 1; },
                    },
                    body);
}

core::Status check_limits(const MessageBody& body) {
  auto check_contacts = [](const std::vector<Contact>& list) -> core::Status {
    if (list.size() > kMaxContactsPerReply) {
      return make_error(ErrorCode::kInvalidArgument, "too many contacts in one message");
    }
    return core::ok();
  };
  auto check_values = [](const std::vector<WireValue>& list) -> core::Status {
    if (list.size() > kMaxValuesPerReply) {
      return make_error(ErrorCode::kInvalidArgument, "too many values in one message");
    }
    for (const WireValue& v : list) {
      if (v.value.data.size() > kMaxValueDataSize) {
        return make_error(ErrorCode::kInvalidArgument, "value data over the limit");
      }
    }
    return core::ok();
  };
  return std::visit(
      Overloaded{
          [&](const Nodes& m) { return check_contacts(m.nodes); },
          [&](const Values& m) -> core::Status {
            SYNAPSE_RETURN_IF_ERROR(check_contacts(m.nodes));
            return check_values(m.values);
          },
          [&](const PutValues& m) { return check_values(m.values); },
          [&](const Providers& m) -> core::Status {
            SYNAPSE_RETURN_IF_ERROR(check_contacts(m.nodes));
            return check_contacts(m.providers);
          },
          [&](const Notify& m) { return check_values(std::vector<WireValue>{m.value}); },
          [](const auto&) { return core::ok(); },
      },
      body);
}

void write_body(Writer& w, const MessageBody& body) {
  std::visit(Overloaded{
                 [](const Ping&) {},
                 [](const Pong&) {},
                 [&](const FindNode& m) { w.id(m.target); },
                 [&](const Nodes& m) { w.contacts(m.nodes); },
                 [&](const GetValues& m) {
                   w.id(m.key);
                   if (m.after) {
                     w.bin(*m.after);
                   } else {
                     w.bin({});
                   }
                 },
                 [&](const Values& m) {
                   w.values(m.values);
                   w.boolean(m.more);
                   w.contacts(m.nodes);
                 },
                 [&](const PutValues& m) { w.values(m.values); },
                 [&](const PutAck& m) {
                   w.uint(m.stored);
                   w.uint(m.rejected);
                 },
                 [&](const AddProvider& m) {
                   w.id(m.key);
                   w.uint(m.ttl_seconds);
                 },
                 [](const AddProviderAck&) {},
                 [&](const GetProviders& m) { w.id(m.key); },
                 [&](const Providers& m) {
                   w.contacts(m.providers);
                   w.contacts(m.nodes);
                 },
                 [&](const Listen& m) {
                   w.id(m.key);
                   w.uint(m.seconds);
                 },
                 [&](const ListenAck& m) { w.uint(m.granted_seconds); },
                 [&](const Notify& m) {
                   w.id(m.key);
                   w.value(m.value);
                 },
                 [&](const Refusal& m) { w.uint(static_cast<uint8_t>(m.code)); },
             },
             body);
}

// ---- Decoding ----

const msgpack::object_array& as_array(const msgpack::object& o, size_t size) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != size) fail("wrong array shape");
  return o.via.array;
}

template <size_t N>
std::array<uint8_t, N> as_fixed(const msgpack::object& o) {
  core::ByteView bytes = as_bin(o, N);
  if (bytes.size() != N) fail("fixed-size field has the wrong length");
  std::array<uint8_t, N> out;
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

NodeId as_id(const msgpack::object& o) { return NodeId(as_fixed<NodeId::kSize>(o)); }

Contact as_contact(const msgpack::object& o) {
  const auto& a = as_array(o, 2);
  Contact contact;
  contact.id = as_id(a.ptr[0]);
  auto address = PeerAddress::from_bytes(as_bin(a.ptr[1], PeerAddress::kMaxSize));
  if (!address) fail("bad peer address");
  contact.address = *address;
  return contact;
}

std::vector<Contact> as_contacts(const msgpack::object& o) {
  const auto& a = as_list(o, kMaxContactsPerReply);
  std::vector<Contact> out;
  out.reserve(a.size);
  for (uint32_t i = 0; i < a.size; ++i) out.push_back(as_contact(a.ptr[i]));
  return out;
}

WireValue as_value(const msgpack::object& o) {
  const auto& a = as_array(o, 7);
  WireValue wire;
  SignedValue& v = wire.value;
  v.key = as_id(a.ptr[0]);
  v.writer = as_fixed<32>(a.ptr[1]);
  v.seq = as_uint(a.ptr[2], UINT64_MAX);
  v.ttl_seconds = static_cast<uint32_t>(as_uint(a.ptr[3], kMaxRecordTtlSeconds));
  core::ByteView data = as_bin(a.ptr[4], kMaxValueDataSize);
  v.data.assign(data.begin(), data.end());
  v.signature = as_fixed<64>(a.ptr[5]);
  wire.remaining_seconds = static_cast<uint32_t>(as_uint(a.ptr[6], kMaxRecordTtlSeconds));
  return wire;
}

std::vector<WireValue> as_values(const msgpack::object& o) {
  const auto& a = as_list(o, kMaxValuesPerReply);
  std::vector<WireValue> out;
  out.reserve(a.size);
  for (uint32_t i = 0; i < a.size; ++i) out.push_back(as_value(a.ptr[i]));
  return out;
}

uint32_t as_u32(const msgpack::object& o) { return static_cast<uint32_t>(as_uint(o, UINT32_MAX)); }

MessageBody read_body(MessageType type, const msgpack::object* f) {
  switch (type) {
    case MessageType::kPing:
      return Ping{};
    case MessageType::kPong:
      return Pong{};
    case MessageType::kFindNode:
      return FindNode{as_id(f[0])};
    case MessageType::kNodes:
      return Nodes{as_contacts(f[0])};
    case MessageType::kGetValues: {
      GetValues m{as_id(f[0]), std::nullopt};
      core::ByteView after = as_bin(f[1], 32);
      if (after.size() == 32) {
        m.after.emplace();
        std::memcpy(m.after->data(), after.data(), 32);
      } else if (!after.empty()) {
        fail("paging cursor has the wrong length");
      }
      return m;
    }
    case MessageType::kValues: {
      Values m;
      m.values = as_values(f[0]);
      m.more = as_bool(f[1]);
      m.nodes = as_contacts(f[2]);
      return m;
    }
    case MessageType::kPutValues:
      return PutValues{as_values(f[0])};
    case MessageType::kPutAck:
      return PutAck{as_u32(f[0]), as_u32(f[1])};
    case MessageType::kAddProvider:
      return AddProvider{as_id(f[0]), as_u32(f[1])};
    case MessageType::kAddProviderAck:
      return AddProviderAck{};
    case MessageType::kGetProviders:
      return GetProviders{as_id(f[0])};
    case MessageType::kProviders: {
      Providers m;
      m.providers = as_contacts(f[0]);
      m.nodes = as_contacts(f[1]);
      return m;
    }
    case MessageType::kListen:
      return Listen{as_id(f[0]), as_u32(f[1])};
    case MessageType::kListenAck:
      return ListenAck{as_u32(f[0])};
    case MessageType::kNotify:
      return Notify{as_id(f[0]), as_value(f[1])};
    case MessageType::kError: {
      const uint64_t code = as_uint(f[0], 255);
      if (code < 1 || code > 3) fail("unknown refusal code");
      return Refusal{static_cast<RefusalCode>(code)};
    }
  }
  fail("unknown message type");
}

// The field count each type must have (index = type).
constexpr std::array<int, 17> kFieldCounts = {-1, 0, 0, 1, 1, 2, 3, 1, 2, 2, 0, 1, 2, 2, 1, 2, 1};

}  // namespace

MessageType Message::type() const { return static_cast<MessageType>(body.index() + 1); }

bool Message::is_reply() const {
  switch (type()) {
    case MessageType::kPong:
    case MessageType::kNodes:
    case MessageType::kValues:
    case MessageType::kPutAck:
    case MessageType::kAddProviderAck:
    case MessageType::kProviders:
    case MessageType::kListenAck:
    case MessageType::kError:
      return true;
    default:
      return false;
  }
}

size_t encoded_size_bound(const WireValue& value) {
  // array(1) + key(34) + writer(34) + seq(9) + ttl(5) + data(3 + n) + signature(66) + rest(5)
  return 1 + 34 + 34 + 9 + 5 + 3 + value.value.data.size() + 66 + 5;
}

core::Result<core::Bytes> encode(const Message& message) {
  SYNAPSE_RETURN_IF_ERROR(check_limits(message.body));
  try {
    Writer w;
    w.array(3 + field_count(message.body));
    w.uint(kWireVersion);
    w.uint(static_cast<uint8_t>(message.type()));
    w.uint(message.txid);
    write_body(w, message.body);
    core::Bytes out = w.take();
    if (out.size() > kMaxMessageSize) {
      return make_error(ErrorCode::kInvalidArgument, "message over 8 KiB");
    }
    return out;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("msgpack encode: ") + e.what());
  }
}

core::Result<Message> decode(core::ByteView bytes) {
  if (bytes.size() > kMaxMessageSize) {
    return make_error(ErrorCode::kInvalidArgument, "message over 8 KiB");
  }
  if (bytes.empty()) return make_error(ErrorCode::kInvalidArgument, "empty message");
  // One zone per thread, emptied after every message (it keeps its first chunk), instead of
  // a fresh 8 KiB allocation per message.
  thread_local msgpack::zone zone;
  struct ClearZone {
    ~ClearZone() { zone.clear(); }
  } clear_zone;
  try {
    // array, map, str, bin, ext sizes and nesting depth.
    const msgpack::unpack_limit limit(64, 0, 0, kMaxMessageSize, 0, 4);
    size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(zone, reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                        referenced, reference_bin, nullptr, limit);
    if (offset != bytes.size()) fail("trailing bytes after the message");
    if (root.type != msgpack::type::ARRAY || root.via.array.size < 3) fail("not a message");
    const msgpack::object* items = root.via.array.ptr;
    if (as_uint(items[0], 255) != kWireVersion) fail("unsupported wire version");
    const uint64_t type = as_uint(items[1], 255);
    if (type < 1 || type >= kFieldCounts.size()) fail("unknown message type");
    if (root.via.array.size != 3 + static_cast<uint32_t>(kFieldCounts[type])) {
      fail("wrong number of fields");
    }
    Message message;
    message.txid = as_u32(items[2]);
    message.body = read_body(static_cast<MessageType>(type), items + 3);
    return message;
  } catch (const DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("dht message: ") + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("dht message: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument, "dht message: undecodable");
  }
}

}  // namespace synapse::dht
