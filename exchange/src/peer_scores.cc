#include "synapse/exchange/peer_scores.h"

#include <algorithm>
#include <cmath>

namespace synapse::exchange {
namespace {

using namespace std::chrono_literals;

// Moving averages weigh the newest sample by this much.
constexpr double kAlpha = 0.2;
// Throughput at which the speed factor is one half: a peer at this rate scores halfway between
// an idle link and an infinitely fast one.
constexpr double kReferenceThroughput = 50.0 * 1024 * 1024;
// Failures in a row before backing off; the backoff doubles from 1 s up to 5 minutes.
constexpr uint32_t kFailuresBeforeBackoff = 3;
constexpr core::Duration kMaxBackoff = 5min;
// Each corrupt block backs the peer off for this long (times the number it sent).
constexpr core::Duration kBadBlockBackoff = 60s;

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

PeerRecord& PeerScores::record(const crypto::NodeId& peer, core::MonoTime now) {
  auto it = records_.find(peer);
  if (it == records_.end()) {
    if (records_.size() >= kMaxPeers) {
      auto oldest = std::min_element(records_.begin(), records_.end(), [](auto& a, auto& b) {
        return a.second.last_seen < b.second.last_seen;
      });
      records_.erase(oldest);
    }
    it = records_.emplace(peer, PeerRecord{}).first;
  }
  it->second.last_seen = now;
  return it->second;
}

void PeerScores::on_block(const crypto::NodeId& peer, uint64_t bytes, core::Duration latency,
                          core::Duration busy, core::MonoTime now) {
  PeerRecord& r = record(peer, now);
  const double latency_ms = seconds(latency) * 1000;
  const double rate = static_cast<double>(bytes) / std::max(seconds(busy), 1e-6);
  const bool first = r.blocks_received == 0;
  r.latency_ms = first ? latency_ms : r.latency_ms + kAlpha * (latency_ms - r.latency_ms);
  r.throughput = first ? rate : r.throughput + kAlpha * (rate - r.throughput);
  ++r.blocks_received;
  r.bytes_received += bytes;
  r.consecutive_failures = 0;
}

void PeerScores::on_failure(const crypto::NodeId& peer, core::MonoTime now) {
  PeerRecord& r = record(peer, now);
  ++r.failures;
  ++r.consecutive_failures;
  if (r.consecutive_failures >= kFailuresBeforeBackoff) {
    const uint32_t doublings =
        std::min<uint32_t>(r.consecutive_failures - kFailuresBeforeBackoff, 9);
    const core::Duration backoff = std::min<core::Duration>(1s * (1 << doublings), kMaxBackoff);
    r.backoff_until = std::max(r.backoff_until, now + backoff);
  }
}

void PeerScores::on_bad_block(const crypto::NodeId& peer, core::MonoTime now) {
  PeerRecord& r = record(peer, now);
  ++r.bad_blocks;
  r.backoff_until =
      std::max(r.backoff_until,
               now + kBadBlockBackoff * static_cast<int>(std::min<uint64_t>(r.bad_blocks, 60)));
}

const PeerRecord* PeerScores::find(const crypto::NodeId& peer) const {
  auto it = records_.find(peer);
  return it == records_.end() ? nullptr : &it->second;
}

double PeerScores::score(const crypto::NodeId& peer) const {
  const PeerRecord* r = find(peer);
  if (r == nullptr) return 0.5;  // unknown: between a proven peer and a failing one
  // Laplace-smoothed success rate, halved per corrupt block, scaled by speed.
  const double success = (static_cast<double>(r->blocks_received) + 1) /
                         (static_cast<double>(r->blocks_received + r->failures) + 2);
  const double honesty = std::pow(0.5, static_cast<double>(std::min<uint64_t>(r->bad_blocks, 30)));
  const double speed = r->throughput / (r->throughput + kReferenceThroughput);
  return success * honesty * (0.5 + 0.5 * speed);
}

bool PeerScores::backed_off(const crypto::NodeId& peer, core::MonoTime now) const {
  const PeerRecord* r = find(peer);
  return r != nullptr && now < r->backoff_until;
}

size_t PeerScores::window(const crypto::NodeId& peer, size_t min_window, size_t max_window) const {
  const double s = score(peer);
  const auto scaled = static_cast<size_t>(std::lround(s * static_cast<double>(max_window)));
  return std::clamp(scaled, min_window, max_window);
}

std::vector<crypto::NodeId> PeerScores::order(std::vector<crypto::NodeId> peers,
                                              core::MonoTime now) const {
  std::stable_sort(peers.begin(), peers.end(), [&](const auto& a, const auto& b) {
    const bool a_off = backed_off(a, now);
    const bool b_off = backed_off(b, now);
    if (a_off != b_off) return b_off;
    return score(a) > score(b);
  });
  return peers;
}

}  // namespace synapse::exchange
