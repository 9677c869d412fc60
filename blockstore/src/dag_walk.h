// The DAG walk shared by the LMDB and the memory store for pin and unpin (private header).
//
// pin(root) adds to the reference count of every block below the root once per link, i.e. the
// number of distinct paths from the root to it (the root itself has one). Walking every path
// would take time exponential in the depth for DAGs that share subtrees (a node linking twice to
// the same child, a file of identical chunks), so the walk reads each distinct block once,
// records the edges, and counts paths in one pass over a topological order (Kahn). The count
// saturates at UINT64_MAX, which only a DAG built to do so can reach.
//
// No recursion: DAGs can be deep (a chain of 100,000 nodes) as well as wide.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::blockstore::internal {

enum class NodeState { kPresent, kMissing, kCorrupt };

struct NodeLookup {
  NodeState state = NodeState::kMissing;
  std::vector<crypto::Cid> children;  // the node's links in order, any CID version
};

struct DagWalk {
  // Every distinct block reached from the root, in CIDv1 form and sorted (= LMDB key order),
  // with the number of paths from the root to it. Missing and corrupt blocks are included
  // (they are referenced); their children are not known and so not reached.
  std::vector<std::pair<crypto::Cid, uint64_t>> reached;
  std::vector<crypto::Cid> missing;  // reached but not stored (CIDv1)
  std::vector<crypto::Cid> corrupt;  // reached, stored, but failing verification (CIDv1)
};

inline uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

// Walks the DAG below `root`. `lookup(const crypto::Cid& v1) -> core::Result<NodeLookup>` is
// called once per distinct block. With `stop_at_first_problem`, the walk returns as soon as one
// block is missing or corrupt (with only that block in `missing` or `corrupt`; `reached` is
// then empty). Errors from `lookup` are returned as they are; a cycle (only possible if a
// lookup returned links of unverified bytes) is kCorrupt.
template <typename Lookup>
core::Result<DagWalk> walk_dag(const crypto::Cid& root, Lookup&& lookup,
                               bool stop_at_first_problem) {
  struct Node {
    crypto::Cid cid;
    uint32_t first_edge = 0;
    uint32_t edge_count = 0;
    uint32_t indegree = 0;
  };
  std::vector<Node> nodes;
  std::vector<uint32_t> edges;
  std::unordered_map<crypto::Cid, uint32_t> index;
  std::vector<uint32_t> stack;
  DagWalk walk;

  auto intern = [&](const crypto::Cid& cid) -> uint32_t {
    auto [it, inserted] = index.try_emplace(cid.to_v1(), static_cast<uint32_t>(nodes.size()));
    if (inserted) {
      nodes.push_back(Node{.cid = it->first});
      stack.push_back(it->second);
    }
    return it->second;
  };

  intern(root);
  while (!stack.empty()) {
    const uint32_t u = stack.back();
    stack.pop_back();
    const crypto::Cid cid = nodes[u].cid;
    SYNAPSE_ASSIGN_OR_RETURN(NodeLookup found, lookup(cid));
    if (found.state != NodeState::kPresent) {
      (found.state == NodeState::kMissing ? walk.missing : walk.corrupt).push_back(cid);
      if (stop_at_first_problem) return walk;
      continue;
    }
    nodes[u].first_edge = static_cast<uint32_t>(edges.size());
    nodes[u].edge_count = static_cast<uint32_t>(found.children.size());
    for (const crypto::Cid& child : found.children) {
      const uint32_t v = intern(child);
      edges.push_back(v);
      ++nodes[v].indegree;
    }
  }

  // Path counts in topological order. Every node but the root was reached through an edge, so
  // the root is the only source; a node never released sits on a cycle.
  std::vector<uint64_t> paths(nodes.size(), 0);
  std::vector<uint32_t> ready;
  size_t done = 0;
  if (nodes[0].indegree == 0) {
    paths[0] = 1;
    ready.push_back(0);
  }
  while (!ready.empty()) {
    const uint32_t u = ready.back();
    ready.pop_back();
    ++done;
    const Node& node = nodes[u];
    for (uint32_t e = node.first_edge; e < node.first_edge + node.edge_count; ++e) {
      const uint32_t v = edges[e];
      paths[v] = saturating_add(paths[v], paths[u]);
      if (--nodes[v].indegree == 0) ready.push_back(v);
    }
  }
  if (done != nodes.size()) {
    return core::make_error(core::ErrorCode::kCorrupt,
                            "the DAG below " + root.to_string() + " contains a cycle");
  }

  walk.reached.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) walk.reached.emplace_back(nodes[i].cid, paths[i]);
  std::sort(walk.reached.begin(), walk.reached.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return walk;
}

}  // namespace synapse::blockstore::internal
