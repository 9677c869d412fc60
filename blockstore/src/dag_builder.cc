#include <algorithm>

#include "protobuf_wire.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/importer.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;
using crypto::Codec;

core::Status ImportOptions::validate() const {
  if (chunk_size == 0 || chunk_size > (1u << 20)) {
    return make_error(ErrorCode::kInvalidArgument, "chunk size must be between 1 B and 1 MiB");
  }
  if (max_links < 2 || max_links > 8192) {
    return make_error(ErrorCode::kInvalidArgument, "links per node must be between 2 and 8192");
  }
  if (cid_version != 0 && cid_version != 1) {
    return make_error(ErrorCode::kInvalidArgument, "CID version must be 0 or 1");
  }
  if (cid_version == 0 && raw_leaves) {
    return make_error(ErrorCode::kInvalidArgument, "raw leaves need CID version 1");
  }
  return core::ok();
}

const std::vector<std::string_view>& import_preset_names() {
  static const std::vector<std::string_view> names = {"kubo-default", "v1-raw-256k",
                                                      "v1-2025-1MiB"};
  return names;
}

core::Result<ImportOptions> import_preset(std::string_view name) {
  if (name == "kubo-default") return ImportOptions{256 * 1024, false, 0, 174};
  if (name == "v1-raw-256k") return ImportOptions{256 * 1024, true, 1, 174};
  if (name == "v1-2025-1MiB") return ImportOptions{1024 * 1024, true, 1, 1024};
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown preset '" + std::string(name) +
                        "' (choose kubo-default, v1-raw-256k or v1-2025-1MiB)");
}

DagBuilder::DagBuilder(const ImportOptions& options) : options_(options) {}

Block DagBuilder::make_leaf(const ImportOptions& options, core::Bytes chunk) {
  if (options.raw_leaves) return Block::make(Codec::kRaw, std::move(chunk), 1);
  // PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: n}}, the bytes encode_pb_node and
  // encode_unixfs would give, written in one pass: they would copy the chunk twice.
  const size_t n = chunk.size();
  core::Bytes head;
  wire::append_varint_field(head, 1, static_cast<uint64_t>(UnixfsType::kFile));
  if (n > 0) {
    wire::append_tag(head, 2, wire::kLengthDelimited);
    core::append_varint(head, n);
  }
  core::Bytes tail;
  wire::append_varint_field(tail, 3, n);
  core::Bytes node;
  node.reserve(head.size() + n + tail.size() + 16);
  wire::append_tag(node, 1, wire::kLengthDelimited);
  core::append_varint(node, head.size() + n + tail.size());
  node.insert(node.end(), head.begin(), head.end());
  node.insert(node.end(), chunk.begin(), chunk.end());
  node.insert(node.end(), tail.begin(), tail.end());
  return Block::make(Codec::kDagPb, std::move(node), options.cid_version);
}

DagBuilder::Node DagBuilder::leaf_node(const Block& leaf, uint64_t chunk_size) {
  return Node{leaf.cid(), chunk_size, leaf.data().size()};
}

void DagBuilder::add_leaf(const Node& leaf, std::vector<Block>& out) { add_at_level(0, leaf, out); }

void DagBuilder::add_at_level(size_t level, const Node& node, std::vector<Block>& out) {
  if (pending_.size() <= level) {
    pending_.resize(level + 1);
    total_.resize(level + 1, 0);
  }
  pending_[level].push_back(node);
  ++total_[level];
  // A full group gets its parent at once; the reference importer batches the same way.
  if (pending_[level].size() == options_.max_links) {
    Node parent = reduce(pending_[level], out);
    add_at_level(level + 1, parent, out);
  }
}

DagBuilder::Node DagBuilder::finish(std::vector<Block>& out) {
  SYNAPSE_CHECK(!total_.empty(), "DagBuilder::finish before any leaf");
  // A file of one chunk is that chunk's leaf (reduceSingleLeafToSelf).
  if (total_.size() == 1 && total_[0] == 1) return pending_[0].front();
  for (size_t level = 0;; ++level) {
    // The first level above the leaves that ever held exactly one node holds the root.
    if (level > 0 && total_[level] == 1) return pending_[level].front();
    if (!pending_[level].empty()) {
      Node parent = reduce(pending_[level], out);
      add_at_level(level + 1, parent, out);
    }
  }
}

DagBuilder::Node DagBuilder::reduce(std::vector<Node>& children, std::vector<Block>& out) {
  UnixfsData unixfs;
  unixfs.type = UnixfsType::kFile;
  PbNode node;
  uint64_t file_size = 0;
  uint64_t tsize = 0;
  for (const Node& child : children) {
    // The reference importer links only children with content.
    if (child.file_size == 0) continue;
    node.links.push_back(PbLink{child.cid, std::string(), child.tsize});
    unixfs.blocksizes.push_back(child.file_size);
    file_size += child.file_size;
    tsize += child.tsize;
  }
  children.clear();
  unixfs.filesize = file_size;
  node.data = encode_unixfs(unixfs);
  Block block = Block::make(Codec::kDagPb, encode_pb_node(node), options_.cid_version);
  Node result{block.cid(), file_size, tsize + block.data().size()};
  out.push_back(std::move(block));
  return result;
}

}  // namespace synapse::blockstore
