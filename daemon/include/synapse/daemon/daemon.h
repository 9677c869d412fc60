// A running Synapse node (`synapse up`): the encrypted transport, the Kademlia node on it, LAN
// discovery, the static bootstrap list and the saved peers, the block store with the block
// exchange and the replication of pinned files, and the control socket the CLI talks to
// (control.h; methods in docs/control.md). Every node is a full DHT server.
//
// run_daemon() owns a libuv loop on the calling thread and returns when the node has shut
// down: on SIGINT or SIGTERM, or a "shutdown" request. Logs go to spdlog's default logger; the
// caller sets its sinks, run_daemon() its pattern (with the short node ID).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "synapse/blockstore/lmdb_store.h"
#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/lan_discovery.h"
#include "synapse/dht/node.h"

namespace synapse::daemon {

// The [jobs] section of the config (docs/config.md).
struct JobsOptions {
  bool enabled = true;             // run jobs here (every node coordinates what it is given)
  std::optional<double> cpus;      // for jobs; default: every CPU
  std::optional<uint64_t> memory;  // for jobs; default: all but 10 % (at most 2 GiB kept back)
  std::vector<std::string> labels;
  std::vector<std::string> allow;  // "*", "node:<hex>", "name:<n>", "role:<r>"; empty: all
  std::string user = "nobody";     // the account jobs run as when the node runs as root
  uint32_t queue_depth = 0;        // tasks accepted beyond what runs; 0: twice the CPUs
  std::string name;                // this node's name; default: certificate name, else host name
  // The attempts' folders and unpacked images (ComputeHostOptions::state_dir); empty: the
  // default there.
  std::filesystem::path work_dir;
  // The certificate a peer presented if it verifies against the swarm's CA, else nullopt.
  std::function<std::optional<crypto::Certificate>(const crypto::NodeId&,
                                                   const std::optional<core::Bytes>&)>
      verify_certificate;
  // Fault injection for tests (SYNAPSE_FAULTS=advert-clock-offset=90s): adverts carry this
  // node's wall clock shifted by this much, as if its clock were off.
  std::chrono::milliseconds advert_clock_offset{0};
};

// What a config reload (SIGHUP) changes in a running node; everything else needs a restart.
struct ReloadableOptions {
  std::string log_level;  // trace, debug, info, warn, error
  std::vector<std::string> job_labels;
  std::vector<std::string> job_allow;
};

struct DaemonOptions {
  // The node's folder: control.sock, daemon.lock and peers.json live here.
  std::filesystem::path home;
  crypto::NodeIdentity identity;
  crypto::SwarmKey swarm_key;
  std::optional<core::Bytes> certificate;
  // The admission policy (docs/certificates.md); empty admits every holder of the swarm key.
  std::function<core::Status(const crypto::PeerIdentity&)> admit;

  dht::Endpoint listen = dht::Endpoint::ipv4({0, 0, 0, 0}, 4747);
  std::vector<dht::Endpoint> bootstrap;
  bool discovery = true;
  dht::LanDiscoveryOptions discovery_options;
  dht::NodeOptions node;
  // How long `dht.*` requests that arrive while the node is still joining wait for the join.
  core::Duration join_wait = std::chrono::seconds(10);
  core::Duration save_peers_interval = std::chrono::seconds(60);

  // The block store (<home>/blocks), shared with the CLI's commands on the same home.
  blockstore::LmdbOptions store;
  // Live nodes that should hold every pinned file (capped by the swarm's size), and how often
  // each holder checks that they do (docs/exchange.md, "Replication").
  size_t replication = 3;
  core::Duration repair_interval = std::chrono::seconds(30);
  // Bytes per second this node serves to others at most; 0: unlimited.
  uint64_t max_upload_rate = 0;
  // Where to mount the shared folder (`synapse up --mount DIR`); not mounted when unset (the
  // shared file system still runs and serves its layers).
  std::optional<std::filesystem::path> mount;
  // Content read from other nodes kept at most, and how long fsync() waits for replication.
  uint64_t fs_cache_size = uint64_t{4} << 30;
  core::Duration fsync_timeout = std::chrono::seconds(60);
  // Jobs (docs/jobs.md): what this node offers and to whom. The daemon fills in the folder,
  // the mount point and this node's certificate.
  JobsOptions jobs;
  // Fault injection for tests (SYNAPSE_FAULTS=corrupt-served-blocks): serve corrupt blocks.
  bool corrupt_served_blocks = false;
  // The HTTP server: Prometheus metrics, the status page and its JSON (docs/metrics.md); none
  // when unset. A port that cannot be bound is logged and the node runs without it.
  std::optional<dht::Endpoint> http_listen;
  // Log lines for journald ("<6>" priority prefixes, no timestamps: the journal adds its own)
  // instead of a terminal's.
  bool journal_log = false;
  // SIGHUP: re-reads what may change while the node runs (ReloadableOptions). Runs on the
  // loop thread; on an error the node keeps its settings and logs why. Unset: SIGHUP is
  // logged and ignored.
  std::function<core::Result<ReloadableOptions>()> reload;
  // The program's version, for the status and the metrics.
  std::string version;

  std::filesystem::path control_socket() const { return home / "control.sock"; }
  std::filesystem::path peers_file() const { return home / "peers.json"; }
  std::filesystem::path lock_file() const { return home / "daemon.lock"; }
  std::filesystem::path store_folder() const { return home / "blocks"; }
};

// What run_daemon() reports once the node serves (the `synapse up --detach` line).
struct ReadyInfo {
  int pid = 0;
  crypto::NodeId node_id;
  dht::Endpoint listen;  // with the port the kernel chose
  std::filesystem::path control_socket;
  size_t peers = 0;                   // routing table size when ready
  std::optional<dht::Endpoint> http;  // where metrics and the status page are served
};

// Runs the node. `on_ready` runs once, on the calling thread, when the transport is bound, the
// control socket listens and the first join has finished (or `join_wait` passed, or there was
// nobody to join through). Errors: kAlreadyExists (a node already runs on this home), kIo
// (bind failed, naming the address), the identity/key errors of the transport.
core::Status run_daemon(DaemonOptions options, std::function<void(const ReadyInfo&)> on_ready);

// The DHT key a control request names: 64 hex digits are the key itself, a CID gives its
// provider key (the digest, so `dht providers <cid>` finds block providers), and any other text
// is hashed with SHA-256.
dht::Key dht_key_from_text(std::string_view text);

}  // namespace synapse::daemon
