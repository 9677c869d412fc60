// The node's configuration file (<home>/config.toml). Every key is optional; default_text()
// is the documented file `synapse init` writes, listing every key with its default.
// Reference: docs/config.md.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "synapse/blockstore/lmdb_store.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"
#include "synapse/crypto/identity.h"
#include "synapse/dht/discovery.h"
#include "synapse/dht/endpoint.h"

namespace synapse::cli {

// Membership: the swarm key and the optional CA (docs/certificates.md). Relative paths are
// relative to the home folder (`home / path` gives the file either way).
struct SwarmConfig {
  std::filesystem::path key_file = "swarm.key";
  std::optional<crypto::Ed25519PublicKey> ca;
  // Refuse peers without a valid certificate from `ca`; parse() rejects true without `ca`.
  bool require_certificate = false;
  // The CA's revocation list file; parse() rejects it without `ca`.
  std::optional<std::filesystem::path> revocation_list;
};

// Where the node listens and whom it joins through.
struct NetworkConfig {
  // UDP (messages) and TCP (streams) on the same address and port; port 0 picks a free one.
  dht::Endpoint listen = dht::Endpoint::ipv4({0, 0, 0, 0}, 4747);
  std::vector<dht::Endpoint> bootstrap;
};

struct DiscoveryConfig {
  bool enabled = true;
  dht::Endpoint group = dht::default_discovery_group();
  std::vector<std::string> interfaces;  // empty: every multicast-capable interface
  core::Duration interval = std::chrono::seconds(10);
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error
  // Where `synapse up --detach` writes its log; relative to the home folder.
  std::filesystem::path file = "synapse.log";
};

// What this node offers to jobs (docs/jobs.md, "Configuration").
struct JobsConfig {
  bool enabled = true;
  std::optional<double> cpus;      // default: every CPU
  std::optional<uint64_t> memory;  // default: all but 10 % (at most 2 GiB kept back)
  std::vector<std::string> labels;
  std::vector<std::string> allow;  // "*", "node:<hex>", "name:<n>", "role:<r>"; empty: all
  std::string user = "nobody";
  uint32_t queue_depth = 0;  // 0: twice the CPUs
  std::string name;          // default: the certificate's name, else the host name
  // The attempts' folders and unpacked images; empty: /var/tmp/synapse-jobs-<short ID> as
  // root, else <home>/jobs. Must be reachable by `user`.
  std::filesystem::path work_dir;
};

// The local HTTP server: Prometheus metrics at /metrics, the status page at /, its JSON under
// /api/ (docs/metrics.md). Read-only, no authentication: keep it on loopback unless a firewall
// guards the port.
struct HttpConfig {
  bool enabled = true;
  dht::Endpoint listen = dht::Endpoint::ipv4({127, 0, 0, 1}, 9477);
};

struct Config {
  blockstore::LmdbOptions store;
  size_t store_replication = 3;                               // store.replication
  core::Duration repair_interval = std::chrono::seconds(30);  // store.repair_interval
  uint64_t max_upload_rate = 0;                             // exchange.max_upload_rate; 0: no limit
  uint64_t fs_cache_size = uint64_t{4} << 30;               // fs.cache_size
  core::Duration fsync_timeout = std::chrono::seconds(60);  // fs.fsync_timeout
  std::optional<std::filesystem::path> fs_mount;            // fs.mount; `up --mount` wins
  std::string import_preset = "v1-raw-256k";
  SwarmConfig swarm;
  NetworkConfig network;
  DiscoveryConfig discovery;
  LogConfig log;
  JobsConfig jobs;
  HttpConfig http;

  // Parses TOML text. Errors are one line naming the source, the line and the key: syntax
  // errors, unknown sections or keys, values of the wrong type, invalid sizes or presets.
  static core::Result<Config> parse(std::string_view text, std::string_view source);
  // Loads `path`; a missing file gives the defaults.
  static core::Result<Config> load(core::Env& env, const std::filesystem::path& path);
  static std::string default_text();
};

}  // namespace synapse::cli
