// Resource adverts (docs/jobs.md, "Resource adverts"): every node that runs jobs publishes one
// in the DHT, signed by it and refreshed every few seconds, and reads everybody's to schedule.
// An advert's age is its liveness: a node whose advert expired is gone, and a job it
// coordinated is taken over.
//
// Adverts are spread over kAdvertShards DHT keys (by the writer's first ID byte) so that a
// key holds at most a few hundred writers. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synapse/compute/host.h"
#include "synapse/compute/messages.h"
#include "synapse/compute/sandbox.h"
#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/identity.h"

namespace synapse::compute {

inline constexpr size_t kAdvertShards = 8;
// Adverts are DHT values, which hold at most 1 KiB (dht::kMaxValueDataSize).
inline constexpr size_t kMaxAdvertSize = 1024;

struct NodeAdvert {
  std::string name;  // the node's name: its certificate name, else its host name
  uint32_t cpus = 0;
  uint64_t memory = 0;     // bytes jobs may use in all
  uint64_t disk_free = 0;  // of the node's store
  std::vector<GpuInfo> gpus;
  std::vector<RuntimeKind> runtimes;
  std::vector<std::string> labels;
  Load load;
  double load1 = 0;
  bool accepts_jobs = true;
  bool mounted = false;  // the shared folder is mounted: inputs can be bound
  // Who may send it jobs (docs/jobs.md, "Policy"): empty means every member.
  std::vector<std::string> allow;
  uint32_t queue_depth = 0;  // tasks it accepts beyond what runs
  int64_t wall_ms = 0;       // its clock when it wrote this
  friend bool operator==(const NodeAdvert&, const NodeAdvert&) = default;
};

// The DHT key of shard `shard`: SHA-256 of "synapse/jobs/adverts/v1/<shard>".
crypto::NodeId advert_key(size_t shard);
inline size_t advert_shard_of(const crypto::NodeId& node) {
  return node.bytes()[0] % kAdvertShards;
}

// Lines "key value" for a peer's file in /.peers ("cpus 16", "memory 31.2 GiB", "gpus 1 (NVIDIA
// H200)", "load 0.52", "runtimes bubblewrap oci", ...).
std::string advert_text(const NodeAdvert& advert);

// At most kMaxAdvertSize bytes: names, labels, GPUs and the allow list are cut to fit.
core::Bytes encode_advert(const NodeAdvert& advert);
core::Result<NodeAdvert> decode_advert(core::ByteView bytes);

}  // namespace synapse::compute
