// The DHT wire format (docs/dht.md, "Messages"): one msgpack array per message,
//   [version, type, txid, field...]
// with version = 1, the type from MessageType, a 32-bit transaction ID that a reply echoes,
// and the type's fields in a fixed order. Decoding is strict: a wrong version, an unknown
// type, a missing or extra field, a wrong msgpack type, trailing bytes or any size over the
// limits below is an error, never an exception or a crash.
//
// Limits: a whole message is at most kMaxMessageSize bytes (the datagram transport's
// kMaxDatagramMessageSize, so every message fits one encrypted datagram); a reply names at
// most kMaxContactsPerReply contacts and carries at most kMaxValuesPerReply values; a value's
// data is at most kMaxValueDataSize bytes (records.h).
//
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/peer_address.h"
#include "synapse/dht/records.h"

namespace synapse::dht {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kMaxMessageSize = 8 * 1024;
inline constexpr size_t kMaxContactsPerReply = 20;
inline constexpr size_t kMaxValuesPerReply = 16;

enum class MessageType : uint8_t {
  kPing = 1,
  kPong = 2,
  kFindNode = 3,
  kNodes = 4,
  kGetValues = 5,
  kValues = 6,
  kPutValues = 7,
  kPutAck = 8,
  kAddProvider = 9,
  kAddProviderAck = 10,
  kGetProviders = 11,
  kProviders = 12,
  kListen = 13,
  kListenAck = 14,
  kNotify = 15,  // one-way: no reply
  kError = 16,   // a reply that refuses a request
};

// A value as it travels: the signed value and how much longer it lives.
struct WireValue {
  SignedValue value;
  uint32_t remaining_seconds = 0;

  friend bool operator==(const WireValue&, const WireValue&) = default;
};

struct Ping {};
struct Pong {};
struct FindNode {
  NodeId target;
};
struct Nodes {
  std::vector<Contact> nodes;
};
struct GetValues {
  Key key;
  // Paging: only writers whose public key sorts after this one.
  std::optional<crypto::Ed25519PublicKey> after;
};
struct Values {
  std::vector<WireValue> values;
  bool more = false;  // more values follow the last one (ask again with `after`)
  std::vector<Contact> nodes;
};
struct PutValues {
  std::vector<WireValue> values;
};
struct PutAck {
  uint32_t stored = 0;    // values new to the storer
  uint32_t rejected = 0;  // bad signature, over the limits, or storage full
};
struct AddProvider {
  Key key;
  uint32_t ttl_seconds = 0;  // the provider is the sender
};
struct AddProviderAck {};
struct GetProviders {
  Key key;
};
struct Providers {
  std::vector<Contact> providers;
  std::vector<Contact> nodes;
};
struct Listen {
  Key key;
  uint32_t seconds = 0;
};
struct ListenAck {
  uint32_t granted_seconds = 0;  // 0: refused
};
struct Notify {
  Key key;
  WireValue value;
};
enum class RefusalCode : uint8_t {
  kRateLimited = 1,
  kStorageFull = 2,
  kBadRequest = 3,
};
struct Refusal {
  RefusalCode code = RefusalCode::kBadRequest;
};

using MessageBody =
    std::variant<Ping, Pong, FindNode, Nodes, GetValues, Values, PutValues, PutAck, AddProvider,
                 AddProviderAck, GetProviders, Providers, Listen, ListenAck, Notify, Refusal>;

struct Message {
  uint32_t txid = 0;
  MessageBody body;

  MessageType type() const;
  // True for the types that answer a request.
  bool is_reply() const;
};

// Encodes `message`. kInvalidArgument if it breaks a limit (too many contacts or values, a
// value over kMaxValueDataSize, more than kMaxMessageSize bytes in all).
core::Result<core::Bytes> encode(const Message& message);

// Decodes one message; kInvalidArgument naming the problem for anything malformed. Signatures
// are not checked here.
core::Result<Message> decode(core::ByteView bytes);

// Bytes a WireValue adds to a message (an upper bound), for packing replies under the limit.
size_t encoded_size_bound(const WireValue& value);
// Bytes a message adds around its values and contacts (an upper bound).
inline constexpr size_t kMessageOverhead = 64;
// Bytes one contact adds (an upper bound).
inline constexpr size_t kContactSizeBound = 2 + 34 + 20;

}  // namespace synapse::dht
