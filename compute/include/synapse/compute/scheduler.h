// Placement of one task (docs/jobs.md, "Scheduling"): which nodes can run it, and in what
// order of preference. Pure functions over what the coordinator knows of each node.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "synapse/compute/advert.h"
#include "synapse/compute/spec.h"
#include "synapse/crypto/identity.h"

namespace synapse::compute {

// Who is asking, for the nodes' policies (docs/jobs.md, "Policy").
struct Principal {
  crypto::NodeId node;
  std::string name;                // certificate name; empty without a certificate
  std::vector<std::string> roles;  // certificate roles
};

// The runtime to run `spec` with among `available`: the one the spec names, or for kAuto
// bubblewrap (else OCI) for host and shared images, docker (else podman) for docker:// ones.
std::optional<RuntimeKind> pick_runtime(const JobSpec& spec,
                                        const std::vector<RuntimeKind>& available);

// Whether `allow` (a node's policy: "*", "node:<hex prefix>", "name:<name>", "role:<role>";
// empty means everyone) admits `who`.
bool policy_admits(const std::vector<std::string>& allow, const Principal& who);

// A node as the scheduler sees it.
struct NodeView {
  crypto::NodeId id;
  NodeAdvert advert;
  Load load;                 // the freshest of the advert's and the node's last reply
  uint32_t outstanding = 0;  // offers this coordinator sent that the node has not counted yet
};

// Why `node` can never run `spec` (too small, lacks a runtime, label, policy), or nullopt if it
// could once it has room.
std::optional<std::string> unfit_reason(const JobSpec& spec, const NodeView& node,
                                        const Principal& who);

// True when the node has room for the task now or in its queue of accepted tasks.
bool has_room(const JobSpec& spec, const NodeView& node);

struct Ranked {
  crypto::NodeId node;
  double score = 0;
};

// The nodes that fit and have room, best first: most of the job's input bytes held
// (`held_bytes` of `input_bytes`), then most free CPU and memory relative to the request,
// then fewest queued tasks; ties go by XOR distance between the node and `spread` (a hash of
// the task), so that array tasks spread and every coordinator orders the same way.
std::vector<Ranked> rank_nodes(const JobSpec& spec, const std::vector<NodeView>& nodes,
                               const Principal& who,
                               const std::map<crypto::NodeId, uint64_t>& held_bytes,
                               uint64_t input_bytes, const crypto::NodeId& spread);

// The node whose ID is closest to `job_key` among `live` (the coordinator-of-last-resort for a
// job whose coordinator is gone); nullopt when `live` is empty.
std::optional<crypto::NodeId> closest_node(const crypto::NodeId& job_key,
                                           const std::vector<crypto::NodeId>& live);

// SHA-256 of "synapse/jobs/v1/" name "/" instance (16 hex digits).
crypto::NodeId job_key(const std::string& name, uint64_t instance);

}  // namespace synapse::compute
