#include "synapse/daemon/peer_cache.h"

#include <nlohmann/json.hpp>

namespace synapse::daemon {

using core::ErrorCode;
using nlohmann::json;

std::string encode_peer_cache(std::span<const SavedPeer> peers) {
  json list = json::array();
  for (const SavedPeer& peer : peers.first(std::min(peers.size(), kMaxSavedPeers))) {
    list.push_back({{"id", peer.id.to_hex()}, {"address", peer.address.to_string()}});
  }
  return json{{"version", 1}, {"peers", std::move(list)}}.dump(1) + "\n";
}

core::Result<std::vector<SavedPeer>> decode_peer_cache(std::string_view text) {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object() || root.value("version", json()) != json(1) ||
      !root.contains("peers") || !root["peers"].is_array()) {
    return core::make_error(ErrorCode::kInvalidArgument, "not a version-1 peer cache");
  }
  std::vector<SavedPeer> peers;
  for (const json& entry : root["peers"]) {
    if (peers.size() == kMaxSavedPeers) break;
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string() ||
        !entry.contains("address") || !entry["address"].is_string()) {
      continue;
    }
    auto id = crypto::NodeId::parse(entry["id"].get<std::string>());
    auto address = dht::Endpoint::parse(entry["address"].get<std::string>());
    if (id && address) peers.push_back({*id, *address});
  }
  return peers;
}

core::Status save_peer_cache(core::Env& env, const std::filesystem::path& path,
                             std::span<const SavedPeer> peers) {
  const std::string text = encode_peer_cache(peers);
  return env.write_file_atomic(
      path, core::ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0600,
      /*overwrite=*/true);
}

core::Result<std::vector<SavedPeer>> load_peer_cache(core::Env& env,
                                                     const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, env.exists(path));
  if (!exists) return std::vector<SavedPeer>{};
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, env.read_file(path, 1 << 20));
  auto peers = decode_peer_cache(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!peers) return tl::unexpected(peers.error().with_context(path.string()));
  return peers;
}

}  // namespace synapse::daemon
