// The dag-pb codec (https://ipld.io/specs/codecs/dag-pb/spec/): a protobuf message
//
//   message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3;
//   } message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
//
// written in canonical form: Links before Data, fields in the order above. libprotobuf would
// write Data first, so this codec is our own. The decoder is strict (canonical field order,
// no unknown fields, no duplicate fields) and bounded (kMaxBlockSize, kMaxLinks).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::blockstore {

// More links than fit in a 2 MiB block at the smallest possible link size.
inline constexpr size_t kMaxLinks = 65536;

struct PbLink {
  crypto::Cid cid;
  std::optional<std::string> name;
  std::optional<uint64_t> tsize;

  friend bool operator==(const PbLink&, const PbLink&) = default;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<core::Bytes> data;

  friend bool operator==(const PbNode&, const PbNode&) = default;
};

core::Bytes encode_pb_node(const PbNode& node);
core::Result<PbNode> decode_pb_node(core::ByteView bytes);

// The CIDs a block links to: none for raw blocks, the links of a dag-pb node.
core::Result<std::vector<crypto::Cid>> child_links(const crypto::Cid& cid, core::ByteView bytes);

}  // namespace synapse::blockstore
