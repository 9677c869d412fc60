// The read-only trees beside the shared one: /.cid/<cid> (any file or UnixFS directory by
// content ID) and /.peers/<name> (one text file per live peer, from the Backend).
#include "shared_impl.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::fs {

using core::ErrorCode;
using core::make_error;

namespace {

Attr read_only_attr(Ino ino, FileType type, uint64_t size) {
  Attr attr;
  attr.ino = ino;
  attr.type = type;
  attr.size = size;
  attr.mode = type == FileType::kDirectory ? 0555 : 0444;
  attr.nlink = type == FileType::kDirectory ? 2 : 1;
  attr.read_only = true;
  return attr;
}

}  // namespace

core::Result<std::pair<FileType, uint64_t>> SharedFs::cid_shape(const crypto::Cid& cid) {
  SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes block, store_.get(cid));
  if (cid.codec() == crypto::Codec::kRaw) return std::pair{FileType::kRegular, block.size()};
  SYNAPSE_ASSIGN_OR_RETURN(const blockstore::PbNode node, blockstore::decode_pb_node(block));
  if (!node.data) return make_error(ErrorCode::kUnsupported, "not a UnixFS node");
  SYNAPSE_ASSIGN_OR_RETURN(const blockstore::UnixfsData data,
                           blockstore::decode_unixfs(*node.data));
  switch (data.type) {
    case blockstore::UnixfsType::kDirectory:
      return std::pair{FileType::kDirectory, uint64_t{0}};
    case blockstore::UnixfsType::kFile:
    case blockstore::UnixfsType::kRaw:
      return std::pair{FileType::kRegular,
                       data.filesize.value_or(data.data ? data.data->size() : 0)};
    default:
      return make_error(ErrorCode::kUnsupported, "UnixFS node type not supported under .cid");
  }
}

Attr SharedFs::special_attr(Ino ino, Inode& inode) {
  if (inode.kind == NodeKind::kPeersFile) {
    for (const auto& [name, text] : backend_.peer_files()) {
      if (name == inode.name) inode.last = read_only_attr(ino, FileType::kRegular, text.size());
    }
    return inode.last;
  }
  if (inode.kind == NodeKind::kCidRoot || inode.kind == NodeKind::kPeersRoot) {
    inode.last = read_only_attr(ino, FileType::kDirectory, 0);
  }
  return inode.last;
}

core::Result<Attr> SharedFs::lookup_special(Ino parent, const std::string& name) {
  NodeKind kind;
  std::optional<crypto::Cid> dir_cid;
  {
    Lock lock(mu_);
    const Inode& dir = inodes_[parent];
    if (parent == kRootIno) {
      kind = name == kCidDirName ? NodeKind::kCidRoot : NodeKind::kPeersRoot;
      const Ino ino = ino_for(parent, name, kind, FileType::kDirectory);
      return special_attr(ino, inodes_[ino]);
    }
    if (dir.type != FileType::kDirectory) {
      return make_error(ErrorCode::kNotDirectory, "not a directory");
    }
    kind = dir.kind;
    dir_cid = dir.cid;
    if (kind == NodeKind::kPeersRoot) {
      for (const auto& [peer, text] : backend_.peer_files()) {
        if (peer != name) continue;
        const Ino ino = ino_for(parent, name, NodeKind::kPeersFile, FileType::kRegular);
        return special_attr(ino, inodes_[ino]);
      }
      return make_error(ErrorCode::kNotFound, "no live peer named " + name);
    }
  }
  std::optional<crypto::Cid> found_cid;
  if (kind == NodeKind::kCidRoot) {
    auto parsed = crypto::Cid::parse(name);
    if (!parsed) return make_error(ErrorCode::kNotFound, name + " is not a CID");
    const crypto::Cid& cid = *parsed;
    found_cid = cid;
    // The whole DAG: a directory's entries need their children's types and sizes.
    SYNAPSE_RETURN_IF_ERROR(backend_.fetch(cid, WriterId{}, options_.network_timeout));
  } else {
    SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes block, store_.get(*dir_cid));
    SYNAPSE_ASSIGN_OR_RETURN(const blockstore::PbNode node, blockstore::decode_pb_node(block));
    const blockstore::PbLink* found = nullptr;
    for (const auto& link : node.links) {
      if (link.name && *link.name == name) found = &link;
    }
    if (!found) return make_error(ErrorCode::kNotFound, name + " is not in this directory");
    found_cid = found->cid;
  }
  const crypto::Cid cid = *found_cid;
  SYNAPSE_ASSIGN_OR_RETURN(const auto shape, cid_shape(cid));
  Lock lock(mu_);
  const Ino ino = ino_for(parent, name, NodeKind::kCidEntry, shape.first);
  Inode& inode = inodes_[ino];
  inode.cid = cid;
  inode.last = read_only_attr(ino, shape.first, shape.second);
  complete_.insert(cid);
  return inode.last;
}

core::Result<std::vector<DirEntry>> SharedFs::readdir_special(Ino dir) {
  std::vector<DirEntry> out;
  std::optional<crypto::Cid> cid;
  {
    Lock lock(mu_);
    Inode& inode = inodes_[dir];
    if (inode.type != FileType::kDirectory) {
      return make_error(ErrorCode::kNotDirectory, "not a directory");
    }
    if (inode.kind == NodeKind::kCidRoot) return out;  // content IDs are looked up, not listed
    if (inode.kind == NodeKind::kPeersRoot) {
      for (const auto& [name, text] : backend_.peer_files()) {
        const Ino ino = ino_for(dir, name, NodeKind::kPeersFile, FileType::kRegular);
        out.push_back({name, special_attr(ino, inodes_[ino])});
      }
      return out;
    }
    cid = inode.cid;
  }
  SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes block, store_.get(*cid));
  SYNAPSE_ASSIGN_OR_RETURN(const blockstore::PbNode node, blockstore::decode_pb_node(block));
  for (const auto& link : node.links) {
    if (!link.name || check_name(*link.name).has_value() == false) continue;
    SYNAPSE_ASSIGN_OR_RETURN(const auto shape, cid_shape(link.cid));
    Lock lock(mu_);
    const Ino ino = ino_for(dir, *link.name, NodeKind::kCidEntry, shape.first);
    Inode& inode = inodes_[ino];
    inode.cid = link.cid;
    inode.last = read_only_attr(ino, shape.first, shape.second);
    out.push_back({*link.name, inode.last});
  }
  return out;
}

}  // namespace synapse::fs
