#include "synapse/blockstore/dag_pb.h"

#include "protobuf_wire.h"
#include "synapse/blockstore/block.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;

namespace {

core::Bytes encode_link(const PbLink& link) {
  core::Bytes out;
  wire::append_bytes_field(out, 1, link.cid.to_bytes());
  if (link.name) wire::append_bytes_field(out, 2, core::as_bytes(*link.name));
  if (link.tsize) wire::append_varint_field(out, 3, *link.tsize);
  return out;
}

core::Result<PbLink> decode_link(core::ByteView in) {
  std::optional<crypto::Cid> cid;
  PbLink link{.cid = crypto::Cid::v1(crypto::Codec::kRaw, {})};
  uint32_t last_field = 0;
  while (!in.empty()) {
    SYNAPSE_ASSIGN_OR_RETURN(wire::Field field, wire::read_field(in));
    if (field.number <= last_field) {
      return make_error(ErrorCode::kInvalidArgument, "dag-pb: link fields out of order");
    }
    last_field = field.number;
    if (field.number == 1 && field.type == wire::kLengthDelimited) {
      auto parsed = crypto::Cid::from_bytes(field.bytes);
      if (!parsed) return tl::unexpected(parsed.error().with_context("dag-pb: link hash"));
      cid = *parsed;
    } else if (field.number == 2 && field.type == wire::kLengthDelimited) {
      link.name = std::string(core::as_chars(field.bytes));
    } else if (field.number == 3 && field.type == wire::kVarint) {
      link.tsize = field.varint;
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        "dag-pb: unexpected link field " + std::to_string(field.number));
    }
  }
  if (!cid) return make_error(ErrorCode::kInvalidArgument, "dag-pb: link without a hash");
  link.cid = *cid;
  return link;
}

}  // namespace

core::Bytes encode_pb_node(const PbNode& node) {
  core::Bytes out;
  for (const PbLink& link : node.links) wire::append_bytes_field(out, 2, encode_link(link));
  if (node.data) wire::append_bytes_field(out, 1, *node.data);
  return out;
}

core::Result<PbNode> decode_pb_node(core::ByteView in) {
  if (in.size() > kMaxBlockSize) {
    return make_error(ErrorCode::kInvalidArgument, "dag-pb: node larger than the block limit");
  }
  PbNode node;
  while (!in.empty()) {
    SYNAPSE_ASSIGN_OR_RETURN(wire::Field field, wire::read_field(in));
    if (field.type != wire::kLengthDelimited || (field.number != 1 && field.number != 2)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "dag-pb: unexpected node field " + std::to_string(field.number));
    }
    if (node.data) {
      return make_error(ErrorCode::kInvalidArgument, "dag-pb: field after Data");
    }
    if (field.number == 1) {
      node.data = core::Bytes(field.bytes.begin(), field.bytes.end());
      continue;
    }
    if (node.links.size() >= kMaxLinks) {
      return make_error(ErrorCode::kInvalidArgument, "dag-pb: too many links");
    }
    SYNAPSE_ASSIGN_OR_RETURN(PbLink link, decode_link(field.bytes));
    node.links.push_back(std::move(link));
  }
  return node;
}

core::Result<std::vector<crypto::Cid>> child_links(const crypto::Cid& cid, core::ByteView bytes) {
  std::vector<crypto::Cid> links;
  if (cid.codec() != crypto::Codec::kDagPb) return links;
  if (bytes.size() > kMaxBlockSize) {
    return make_error(ErrorCode::kInvalidArgument, "dag-pb: node larger than the block limit");
  }
  // Like decode_pb_node, but without copying Data: pinning walks every dag-pb leaf this way.
  while (!bytes.empty()) {
    SYNAPSE_ASSIGN_OR_RETURN(wire::Field field, wire::read_field(bytes));
    if (field.type != wire::kLengthDelimited || (field.number != 1 && field.number != 2)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "dag-pb: unexpected node field " + std::to_string(field.number));
    }
    if (field.number == 1) {
      if (!bytes.empty())
        return make_error(ErrorCode::kInvalidArgument, "dag-pb: field after Data");
      break;
    }
    if (links.size() >= kMaxLinks) {
      return make_error(ErrorCode::kInvalidArgument, "dag-pb: too many links");
    }
    SYNAPSE_ASSIGN_OR_RETURN(PbLink link, decode_link(field.bytes));
    links.push_back(link.cid);
  }
  return links;
}

}  // namespace synapse::blockstore
