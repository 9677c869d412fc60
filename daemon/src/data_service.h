// The data side of a running node (docs/exchange.md): fetches for `synapse get` (kept alive by
// their watcher's polls), pinned files announced as provider records, and the replication of
// every pinned file: each holder checks every repair_interval how many live nodes hold it and,
// when it is the coordinator (the live holder closest to the file's key), asks the nodes
// closest to the key to keep replicas until `replication` do. `leave` hands every file on
// before the node stops.
//
// Threads: everything runs on the daemon's loop thread. The store, exchange and runtime must
// outlive the service.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "synapse/blockstore/block_store.h"
#include "synapse/core/rng.h"
#include "synapse/dht/node_runtime.h"
#include "synapse/exchange/exchange.h"

namespace synapse::daemon {

struct DataOptions {
  size_t replication = 3;
  core::Duration repair_interval = std::chrono::seconds(30);
  // A `get` whose watcher has not asked for progress for this long is cancelled.
  core::Duration fetch_lease = std::chrono::seconds(5);
};

class DataService {
 public:
  DataService(DataOptions options, blockstore::BlockStore& store, exchange::Exchange& exchange,
              dht::NodeRuntime& runtime, core::Rng& rng);

  // Loads the pins, announces them and schedules their first checks. Call once the node has
  // joined (announcements that reach nobody are repeated from tick()).
  void start(core::MonoTime now);
  // Runs due checks and expires unwatched fetches; call about every second.
  void tick(core::MonoTime now);

  // ---- Control methods (docs/control.md) ----
  // Starts fetching `root`; returns the id to poll.
  uint64_t start_get(const crypto::Cid& root, core::MonoTime now);
  // Progress of a get (and its end); kNotFound for an unknown or expired id.
  core::Result<nlohmann::json> get_progress(uint64_t id, core::MonoTime now);
  // The pins changed in the store (a CLI add or pin): announce new roots, check them now.
  void pins_changed(core::MonoTime now);
  nlohmann::json pins_json() const;
  nlohmann::json replication_json() const;
  // Hands every pinned file on (each keeps `replication` live holders other than this node,
  // as far as the swarm allows); `done` gets ok, or kIo naming what was not handed on in time.
  void leave(core::Duration timeout, core::MonoTime now, std::function<void(core::Status)> done);

  // ---- The shared file system (fs_host.cc) ----
  // Fetches `root` from `hint` (if it is a known contact) and from its providers.
  exchange::Exchange::FetchId fetch_for_fs(const crypto::Cid& root,
                                           const std::optional<crypto::NodeId>& hint,
                                           exchange::Exchange::FetchDone done);
  // Live holders of a pinned root at its last check (this node included) and its target;
  // nullopt before the first check.
  std::optional<std::pair<size_t, size_t>> replication_of(const crypto::Cid& root) const;

  // ---- Exchange hooks ----
  bool holds(const crypto::Cid& root) const;
  exchange::StoreReply on_store_request(const exchange::PeerRef& from,
                                        const exchange::StoreRequest& request);

 private:
  struct RootState {
    uint64_t size = 0;  // bytes of the file's blocks
    core::MonoTime next_check{};
    std::optional<size_t> holders;  // at the last check, this node included
    size_t target = 0;
    bool checking = false;
    bool announcing = false;
    bool announced = false;  // a provider record reached at least one other node
    std::map<crypto::NodeId, core::MonoTime> pending;  // accepted replicas, when
  };
  struct GetSession {
    explicit GetSession(const crypto::Cid& root) : root(root) {}
    crypto::Cid root;
    exchange::Exchange::FetchId fetch = 0;
    core::MonoTime started{};
    core::MonoTime last_poll{};
    std::optional<core::Status> result;
    exchange::FetchProgress progress;
    core::MonoTime finished{};
  };
  struct Check;
  struct Leave {
    core::MonoTime deadline;
    std::function<void(core::Status)> done;
    bool running = false;  // a round of checks is out
  };

  void announce(const crypto::Cid& root, core::MonoTime now);
  // Probes the nodes closest to `root` and its providers; `done` gets the live holders (this
  // node not counted), the closest nodes (closest first) and every node that answered a probe.
  using HoldersCallback = std::function<void(std::vector<exchange::PeerRef> holders,
                                             std::vector<exchange::PeerRef> closest,
                                             std::vector<crypto::NodeId> reachable)>;
  void find_holders(const crypto::Cid& root, HoldersCallback done);
  // Checks one root; with `leaving`, this node does not count as a holder.
  void check(const crypto::Cid& root, bool leaving, std::function<void(size_t holders)> done);
  void ask_next(std::shared_ptr<Check> check);
  void leave_round();
  void start_replica(const crypto::Cid& root, std::vector<exchange::PeerRef> first);
  size_t target(bool leaving) const;
  core::Duration jittered(core::Duration interval);
  uint64_t file_size_of(const crypto::Cid& root);
  void fetch_with_providers(const crypto::Cid& root, std::vector<exchange::PeerRef> first,
                            exchange::Exchange::FetchDone done,
                            std::function<void(exchange::Exchange::FetchId)> started);

  DataOptions options_;
  blockstore::BlockStore& store_;
  exchange::Exchange& exchange_;
  dht::NodeRuntime& runtime_;
  core::Rng& rng_;

  std::map<crypto::Cid, RootState> roots_;  // pinned roots (CIDv1)
  std::set<crypto::Cid> replicating_;       // replicas being fetched
  std::map<uint64_t, GetSession> gets_;
  uint64_t next_get_ = 1;
  std::map<uint64_t, std::pair<crypto::Cid, core::MonoTime>> running_checks_;  // id -> root, start
  uint64_t next_check_id_ = 1;
  std::optional<Leave> leave_;
};

}  // namespace synapse::daemon
