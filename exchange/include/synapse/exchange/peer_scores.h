// Peer reputation: what this node has observed of each peer it fetched blocks from (docs/
// exchange.md, "Reputation"). Only our own observations count; nothing is taken from peers.
//
// A score in (0, 1] orders providers (higher first) and sizes how many requests a peer gets
// at once; a peer that keeps failing is backed off for a growing time, and one that sent a
// corrupt block for longer still. Sans-I/O: time comes in as an argument. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/crypto/identity.h"

namespace synapse::exchange {

struct PeerRecord {
  uint64_t blocks_received = 0;  // verified blocks
  uint64_t bytes_received = 0;
  uint64_t failures = 0;    // timeouts and broken streams ("missing" is no failure: a
                            // provider may hold only part of a file)
  uint64_t bad_blocks = 0;  // blocks that did not match their CID
  double latency_ms = 0;    // moving average, request to block
  double throughput = 0;    // moving average, bytes per second while busy
  uint32_t consecutive_failures = 0;
  core::MonoTime backoff_until{};
  core::MonoTime last_seen{};
};

class PeerScores {
 public:
  // At most this many peers are remembered; the least recently seen is forgotten first.
  static constexpr size_t kMaxPeers = 4096;

  // A verified block of `bytes` arrived `latency` after it was asked for; `busy` is the time
  // since the peer's previous block (or since the request, if it was idle), for throughput.
  void on_block(const crypto::NodeId& peer, uint64_t bytes, core::Duration latency,
                core::Duration busy, core::MonoTime now);
  void on_failure(const crypto::NodeId& peer, core::MonoTime now);
  void on_bad_block(const crypto::NodeId& peer, core::MonoTime now);

  double score(const crypto::NodeId& peer) const;
  bool backed_off(const crypto::NodeId& peer, core::MonoTime now) const;
  // Blocks to keep requested from `peer` at once: more for fast, reliable peers.
  size_t window(const crypto::NodeId& peer, size_t min_window, size_t max_window) const;
  // `peers` sorted best first: not backed off before backed off, then by score.
  std::vector<crypto::NodeId> order(std::vector<crypto::NodeId> peers, core::MonoTime now) const;

  const std::map<crypto::NodeId, PeerRecord>& records() const { return records_; }
  const PeerRecord* find(const crypto::NodeId& peer) const;

 private:
  PeerRecord& record(const crypto::NodeId& peer, core::MonoTime now);

  std::map<crypto::NodeId, PeerRecord> records_;
};

}  // namespace synapse::exchange
