// The contacts of the routing table, saved across restarts in <home>/peers.json
// (docs/file-layout.md), so a restarted node rejoins through the peers it knew even when its
// bootstrap list and LAN discovery find nobody.
//
//   {"version": 1, "peers": [{"id": "<64 hex>", "address": "1.2.3.4:5"}, ...]}
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/crypto/identity.h"
#include "synapse/dht/endpoint.h"

namespace synapse::daemon {

// At most this many peers are saved and loaded.
inline constexpr size_t kMaxSavedPeers = 256;

struct SavedPeer {
  crypto::NodeId id;
  dht::Endpoint address;
  friend bool operator==(const SavedPeer&, const SavedPeer&) = default;
};

std::string encode_peer_cache(std::span<const SavedPeer> peers);
// kInvalidArgument for text that is not a version-1 peer cache; entries with a bad ID or
// address are skipped (a hand-edited file loses those lines, not the rest).
core::Result<std::vector<SavedPeer>> decode_peer_cache(std::string_view text);

// Writes the file atomically with mode 0600.
core::Status save_peer_cache(core::Env& env, const std::filesystem::path& path,
                             std::span<const SavedPeer> peers);
// A missing file gives no peers.
core::Result<std::vector<SavedPeer>> load_peer_cache(core::Env& env,
                                                     const std::filesystem::path& path);

}  // namespace synapse::daemon
