// Fuzzes the dag-pb and UnixFS decoders: no input may crash them, and whatever they accept
// must survive an encode/decode round trip unchanged and agree with child_links().
#include <cstdlib>

#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/unixfs.h"

using namespace synapse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  core::ByteView input(data, size);
  const crypto::Cid cid = crypto::Cid::of(1, crypto::Codec::kDagPb, input);

  auto node = blockstore::decode_pb_node(input);
  auto links = blockstore::child_links(cid, input);
  if (node.has_value() != links.has_value()) std::abort();
  if (node) {
    if (links->size() != node->links.size()) std::abort();
    for (size_t i = 0; i < links->size(); ++i) {
      if ((*links)[i] != node->links[i].cid) std::abort();
    }
    auto again = blockstore::decode_pb_node(blockstore::encode_pb_node(*node));
    if (!again || *again != *node) std::abort();
  }

  auto unixfs = blockstore::decode_unixfs(input);
  if (unixfs) {
    auto again = blockstore::decode_unixfs(blockstore::encode_unixfs(*unixfs));
    if (!again || *again != *unixfs) std::abort();
  }
  return 0;
}
