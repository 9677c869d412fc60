#include "synapse/blockstore/file_reader.h"

#include <algorithm>

#include "synapse/blockstore/dag_pb.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;

namespace {

struct FileNode {
  PbNode node;
  UnixfsData unixfs;
};

core::Result<FileNode> decode_file_node(const crypto::Cid& cid, core::ByteView bytes) {
  auto fail = [&](const core::Error& error) {
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() + ": " + error.message());
  };
  auto node = decode_pb_node(bytes);
  if (!node) return fail(node.error());
  if (!node->data)
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() + " has no UnixFS data");
  auto unixfs = decode_unixfs(*node->data);
  if (!unixfs) return fail(unixfs.error());
  if (unixfs->type != UnixfsType::kFile && unixfs->type != UnixfsType::kRaw) {
    const char* kind = unixfs->type == UnixfsType::kDirectory   ? "a directory"
                       : unixfs->type == UnixfsType::kHamtShard ? "a sharded directory"
                       : unixfs->type == UnixfsType::kSymlink   ? "a symlink"
                                                                : "not a file";
    return make_error(ErrorCode::kInvalidArgument,
                      cid.to_string() + " is " + kind + ", not a file");
  }
  if (unixfs->blocksizes.size() != node->links.size()) {
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() +
                                               " has a different number of links and blocksizes");
  }
  return FileNode{std::move(*node), std::move(*unixfs)};
}

uint64_t content_size(const FileNode& file) {
  uint64_t size = file.unixfs.data ? file.unixfs.data->size() : 0;
  for (uint64_t child : file.unixfs.blocksizes) size += child;
  return size;
}

}  // namespace

core::Result<FileReader> FileReader::open(BlockStore& store, const crypto::Cid& root) {
  if (root.codec() == crypto::Codec::kRaw) {
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, store.size(root));
    return FileReader(store, root, size);
  }
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, store.get(root));
  SYNAPSE_ASSIGN_OR_RETURN(FileNode file, decode_file_node(root, bytes));
  return FileReader(store, root, content_size(file));
}

core::Status FileReader::read(uint64_t offset, uint64_t length, const Sink& sink) const {
  if (offset >= size_ || length == 0) return core::ok();
  const uint64_t end = offset + std::min(length, size_ - offset);
  return read_node(root_, 0, size_, offset, end, 0, sink);
}

core::Status FileReader::read_node(const crypto::Cid& cid, uint64_t node_start, uint64_t node_size,
                                   uint64_t begin, uint64_t end, int depth,
                                   const Sink& sink) const {
  if (depth > kMaxDepth) {
    return make_error(ErrorCode::kCorrupt, "DAG below " + root_.to_string() + " is too deep");
  }
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, store_->get(cid));
  // Emits the part of [start, start + piece.size()) that lies in [begin, end).
  auto emit = [&](uint64_t start, core::ByteView piece) -> core::Status {
    const uint64_t from = std::max(begin, start);
    const uint64_t to = std::min(end, start + piece.size());
    if (from >= to) return core::ok();
    return sink(piece.subspan(from - start, to - from));
  };
  if (cid.codec() == crypto::Codec::kRaw) {
    if (bytes.size() != node_size) {
      return make_error(ErrorCode::kCorrupt,
                        "block " + cid.to_string() + " has " + std::to_string(bytes.size()) +
                            " bytes, its parent says " + std::to_string(node_size));
    }
    return emit(node_start, bytes);
  }
  SYNAPSE_ASSIGN_OR_RETURN(FileNode file, decode_file_node(cid, bytes));
  if (content_size(file) != node_size) {
    return make_error(ErrorCode::kCorrupt,
                      "block " + cid.to_string() + " holds a different size than its parent says");
  }
  uint64_t position = node_start;
  if (file.unixfs.data) {
    SYNAPSE_RETURN_IF_ERROR(emit(position, *file.unixfs.data));
    position += file.unixfs.data->size();
  }
  for (size_t i = 0; i < file.node.links.size() && position < end; ++i) {
    const uint64_t child_size = file.unixfs.blocksizes[i];
    if (position + child_size > begin) {
      SYNAPSE_RETURN_IF_ERROR(
          read_node(file.node.links[i].cid, position, child_size, begin, end, depth + 1, sink));
    }
    position += child_size;
  }
  return core::ok();
}

}  // namespace synapse::blockstore
