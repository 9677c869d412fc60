// The block exchange's wire format (docs/exchange.md): messages on an encrypted stream
// (synapse/dht/stream.h), each one frame of a 4-byte big-endian length and a msgpack array
// [version, type, fields...]. The peer that opened the stream asks (want, cancel, holds, store);
// the peer that accepted it answers (block, missing, holds reply, store reply, call reply).
//
// Decoding is strict and bounded: frames over kMaxFrameSize, lists over kMaxCidsPerMessage,
// unknown versions or types and trailing bytes are errors (the stream is then dropped).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "synapse/blockstore/block.h"
#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::exchange {

inline constexpr uint64_t kExchangeVersion = 1;
// Room for the largest block and the fields around it.
inline constexpr size_t kMaxFrameSize = blockstore::kMaxBlockSize + 1024;
inline constexpr size_t kMaxCidsPerMessage = 1024;
inline constexpr size_t kMaxReasonSize = 256;
// Largest body of a call or its reply (a service of the node above the exchange: jobs).
inline constexpr size_t kMaxCallBodySize = 1 << 20;

// Asks for blocks, in the order the asker wants them.
struct Want {
  std::vector<crypto::Cid> cids;
};
// Withdraws wants not yet served.
struct Cancel {
  std::vector<crypto::Cid> cids;
};
// A block, unverified until the receiver checks it against `cid`.
struct BlockData {
  crypto::Cid cid;
  core::Bytes data;
};
// The answer to a want the server cannot serve.
struct Missing {
  crypto::Cid cid;
};
// Does the server hold the whole file below `root` (pinned)?
struct HoldsRequest {
  uint64_t id = 0;
  crypto::Cid root;
};
struct HoldsReply {
  uint64_t id = 0;
  bool holds = false;
};
// Asks the server to keep a replica of the file below `root` (`size` bytes of blocks): an
// accepting server fetches it from the asker (and other providers) and pins it.
struct StoreRequest {
  uint64_t id = 0;
  crypto::Cid root;
  uint64_t size = 0;
};
struct StoreReply {
  uint64_t id = 0;
  bool accepted = false;
  std::string reason;  // why not, when declined
};

// A request for a service above the exchange (Exchange::call): `body` is that service's own
// encoding, at most kMaxCallBodySize bytes.
struct CallRequest {
  uint64_t id = 0;
  uint32_t service = 0;
  core::Bytes body;
};
// The answer: `error` is 0 with the service's `body`, or 1 + core::ErrorCode with `message`.
struct CallReply {
  uint64_t id = 0;
  uint32_t error = 0;
  std::string message;  // at most kMaxReasonSize bytes
  core::Bytes body;
};

using Message = std::variant<Want, Cancel, BlockData, Missing, HoldsRequest, HoldsReply,
                             StoreRequest, StoreReply, CallRequest, CallReply>;

// The frame (length prefix included) of one message. Lists and reasons must be within the
// limits above (checked: a programmer error otherwise).
core::Bytes encode_frame(const Message& message);
// Decodes one frame's payload (without the length prefix). kInvalidArgument when malformed.
core::Result<Message> decode_message(core::ByteView payload);

// Splits a stream's bytes into messages. Not thread-safe.
class FrameReader {
 public:
  // Appends `bytes` and calls `on_message` for every complete frame, in order. The first error
  // (a malformed or oversized frame, or one returned by on_message) stops and is returned;
  // the reader must not be fed again after an error.
  core::Status feed(core::ByteView bytes, const std::function<core::Status(Message)>& on_message);
  // Bytes held of an incomplete frame.
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  core::Bytes buffer_;
  size_t consumed_ = 0;
};

}  // namespace synapse::exchange
