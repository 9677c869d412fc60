// The only file that calls toml++; its exceptions end here.
#include "synapse/cli/config.h"

#include <toml++/toml.h>

#include <set>

#include "synapse/blockstore/importer.h"
#include "synapse/core/units.h"
#include "synapse/crypto/certificate.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;

namespace {

constexpr size_t kMaxConfigSize = 1 << 20;

std::string where(std::string_view source, const toml::source_region& region) {
  return std::string(source) + ":" + std::to_string(region.begin.line);
}

core::Error key_error(std::string_view source, const toml::node& node, std::string_view key,
                      std::string_view problem) {
  return core::Error(
      ErrorCode::kInvalidArgument,
      where(source, node.source()) + ": " + std::string(key) + ": " + std::string(problem));
}

// A size: a string with a unit ("50G") or a plain number of bytes.
core::Result<uint64_t> size_value(std::string_view source, const toml::node& node,
                                  std::string_view key) {
  if (std::optional<int64_t> bytes = node.value_exact<int64_t>()) {
    if (*bytes < 0) return tl::unexpected(key_error(source, node, key, "must not be negative"));
    return static_cast<uint64_t>(*bytes);
  }
  std::optional<std::string> text = node.value_exact<std::string>();
  if (!text) {
    return tl::unexpected(
        key_error(source, node, key, "expected a size such as \"50G\" or a number of bytes"));
  }
  auto bytes = core::parse_size(*text);
  if (!bytes) return tl::unexpected(key_error(source, node, key, bytes.error().message()));
  return *bytes;
}

core::Status check_keys(std::string_view source, const toml::table& table, std::string_view prefix,
                        const std::set<std::string_view>& known) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      std::string name = prefix.empty() ? std::string(key.str())
                                        : std::string(prefix) + "." + std::string(key.str());
      return tl::unexpected(key_error(source, value, name, "unknown key"));
    }
  }
  return core::ok();
}

// A non-empty string value, or an error naming the key.
core::Result<std::string> path_value(std::string_view source, const toml::node& node,
                                     std::string_view key) {
  std::optional<std::string> text = node.value<std::string>();
  if (!text || text->empty()) {
    return tl::unexpected(key_error(source, node, key, "expected a file path"));
  }
  return *text;
}

core::Status apply_swarm(std::string_view source, const toml::node& node, SwarmConfig& swarm) {
  const toml::table* table = node.as_table();
  if (!table) return tl::unexpected(key_error(source, node, "swarm", "expected a table"));
  SYNAPSE_RETURN_IF_ERROR(check_keys(source, *table, "swarm",
                                     {"key_file", "ca", "require_certificate", "revocation_list"}));
  if (const toml::node* key_file = table->get("key_file")) {
    SYNAPSE_ASSIGN_OR_RETURN(swarm.key_file, path_value(source, *key_file, "swarm.key_file"));
  }
  if (const toml::node* ca = table->get("ca")) {
    std::optional<std::string> text = ca->value<std::string>();
    if (!text) {
      return tl::unexpected(
          key_error(source, *ca, "swarm.ca", "expected a public key \"ed25519:<64 hex digits>\""));
    }
    auto key = crypto::parse_public_key(*text);
    if (!key) return tl::unexpected(key_error(source, *ca, "swarm.ca", key.error().message()));
    swarm.ca = *key;
  }
  if (const toml::node* require = table->get("require_certificate")) {
    if (!require->is_boolean()) {
      return tl::unexpected(
          key_error(source, *require, "swarm.require_certificate", "expected true or false"));
    }
    swarm.require_certificate = *require->value<bool>();
    if (swarm.require_certificate && !swarm.ca) {
      return tl::unexpected(key_error(source, *require, "swarm.require_certificate",
                                      "true needs swarm.ca, the CA public key to check "
                                      "certificates against"));
    }
  }
  if (const toml::node* list = table->get("revocation_list")) {
    SYNAPSE_ASSIGN_OR_RETURN(swarm.revocation_list,
                             path_value(source, *list, "swarm.revocation_list"));
    if (!swarm.ca) {
      return tl::unexpected(key_error(source, *list, "swarm.revocation_list",
                                      "needs swarm.ca, the CA public key that signs the list"));
    }
  }
  return core::ok();
}

// An "address:port" string.
core::Result<dht::Endpoint> endpoint_value(std::string_view source, const toml::node& node,
                                           std::string_view key) {
  std::optional<std::string> text = node.value_exact<std::string>();
  if (!text) {
    return tl::unexpected(
        key_error(source, node, key, "expected an address and port such as \"10.0.0.5:4747\""));
  }
  auto endpoint = dht::Endpoint::parse(*text);
  if (!endpoint) return tl::unexpected(key_error(source, node, key, endpoint.error().message()));
  return *endpoint;
}

// A duration string such as "10s" or "500ms", at least 100 ms.
core::Result<std::chrono::milliseconds> duration_value(std::string_view source,
                                                       const toml::node& node,
                                                       std::string_view key) {
  std::optional<std::string> text = node.value_exact<std::string>();
  auto duration = text ? core::parse_duration(*text)
                       : core::Result<std::chrono::milliseconds>(core::make_error(
                             ErrorCode::kInvalidArgument, "expected a duration such as \"10s\""));
  if (duration && *duration < std::chrono::milliseconds(100)) {
    duration = core::make_error(ErrorCode::kInvalidArgument, "must be at least 100ms");
  }
  if (!duration) return tl::unexpected(key_error(source, node, key, duration.error().message()));
  return *duration;
}

core::Result<bool> bool_value(std::string_view source, const toml::node& node,
                              std::string_view key) {
  if (!node.is_boolean())
    return tl::unexpected(key_error(source, node, key, "expected true or false"));
  return *node.value<bool>();
}

const toml::table* section(std::string_view source, const toml::table& root, std::string_view name,
                           const std::set<std::string_view>& known, core::Status& status) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    status = tl::unexpected(key_error(source, *node, name, "expected a table"));
    return nullptr;
  }
  status = check_keys(source, *table, name, known);
  return status ? table : nullptr;
}

core::Status apply_network(std::string_view source, const toml::table& root, Config& config) {
  core::Status status = core::ok();
  const toml::table* network = section(source, root, "network", {"listen", "bootstrap"}, status);
  if (network == nullptr) return status;
  if (const toml::node* listen = network->get("listen")) {
    SYNAPSE_ASSIGN_OR_RETURN(config.network.listen,
                             endpoint_value(source, *listen, "network.listen"));
  }
  if (const toml::node* bootstrap = network->get("bootstrap")) {
    const toml::array* list = bootstrap->as_array();
    if (list == nullptr) {
      return tl::unexpected(key_error(source, *bootstrap, "network.bootstrap",
                                      "expected a list of \"address:port\" strings"));
    }
    for (const toml::node& entry : *list) {
      SYNAPSE_ASSIGN_OR_RETURN(dht::Endpoint endpoint,
                               endpoint_value(source, entry, "network.bootstrap"));
      config.network.bootstrap.push_back(endpoint);
    }
  }
  return core::ok();
}

core::Status apply_discovery(std::string_view source, const toml::table& root, Config& config) {
  core::Status status = core::ok();
  const toml::table* discovery =
      section(source, root, "discovery", {"enabled", "group", "interfaces", "interval"}, status);
  if (discovery == nullptr) return status;
  if (const toml::node* enabled = discovery->get("enabled")) {
    SYNAPSE_ASSIGN_OR_RETURN(config.discovery.enabled,
                             bool_value(source, *enabled, "discovery.enabled"));
  }
  if (const toml::node* group = discovery->get("group")) {
    std::optional<std::string> text = group->value_exact<std::string>();
    auto endpoint = text ? dht::parse_discovery_group(*text)
                         : core::Result<dht::Endpoint>(core::make_error(
                               ErrorCode::kInvalidArgument, "expected \"239.x.y.z:port\""));
    if (!endpoint) {
      return tl::unexpected(
          key_error(source, *group, "discovery.group", endpoint.error().message()));
    }
    config.discovery.group = *endpoint;
  }
  if (const toml::node* interfaces = discovery->get("interfaces")) {
    const toml::array* list = interfaces->as_array();
    if (list == nullptr) {
      return tl::unexpected(
          key_error(source, *interfaces, "discovery.interfaces", "expected a list of names"));
    }
    for (const toml::node& entry : *list) {
      std::optional<std::string> name = entry.value_exact<std::string>();
      if (!name || name->empty()) {
        return tl::unexpected(
            key_error(source, entry, "discovery.interfaces", "expected an interface name"));
      }
      config.discovery.interfaces.push_back(*name);
    }
  }
  if (const toml::node* interval = discovery->get("interval")) {
    SYNAPSE_ASSIGN_OR_RETURN(config.discovery.interval,
                             duration_value(source, *interval, "discovery.interval"));
  }
  return core::ok();
}

core::Status apply_log(std::string_view source, const toml::table& root, Config& config) {
  core::Status status = core::ok();
  const toml::table* log = section(source, root, "log", {"level", "file"}, status);
  if (log == nullptr) return status;
  if (const toml::node* level = log->get("level")) {
    std::optional<std::string> text = level->value_exact<std::string>();
    static const std::set<std::string_view> kLevels = {"trace", "debug", "info", "warn", "error"};
    if (!text || !kLevels.contains(*text)) {
      return tl::unexpected(key_error(source, *level, "log.level",
                                      "expected one of trace, debug, info, warn, error"));
    }
    config.log.level = *text;
  }
  if (const toml::node* file = log->get("file")) {
    SYNAPSE_ASSIGN_OR_RETURN(config.log.file, path_value(source, *file, "log.file"));
  }
  return core::ok();
}

// A list of short strings (labels, policy entries).
core::Result<std::vector<std::string>> strings_value(std::string_view source,
                                                     const toml::node& node, std::string_view key,
                                                     size_t max) {
  const toml::array* list = node.as_array();
  if (list == nullptr)
    return tl::unexpected(key_error(source, node, key, "expected a list of strings"));
  if (list->size() > max) {
    return tl::unexpected(
        key_error(source, node, key, "at most " + std::to_string(max) + " entries"));
  }
  std::vector<std::string> out;
  for (const toml::node& entry : *list) {
    std::optional<std::string> text = entry.value_exact<std::string>();
    if (!text || text->empty() || text->size() > 64) {
      return tl::unexpected(key_error(source, entry, key, "expected a string of 1 to 64 bytes"));
    }
    out.push_back(*text);
  }
  return out;
}

core::Status apply_jobs(std::string_view source, const toml::table& root, Config& config) {
  core::Status status = core::ok();
  const toml::table* jobs = section(
      source, root, "jobs",
      {"enabled", "cpus", "memory", "labels", "allow", "user", "queue_depth", "name", "work_dir"},
      status);
  if (jobs == nullptr) return status;
  JobsConfig& out = config.jobs;
  if (const toml::node* enabled = jobs->get("enabled")) {
    SYNAPSE_ASSIGN_OR_RETURN(out.enabled, bool_value(source, *enabled, "jobs.enabled"));
  }
  if (const toml::node* cpus = jobs->get("cpus")) {
    std::optional<double> value = cpus->value<double>();
    if (!value || *value < 0.01 || *value > 1024) {
      return tl::unexpected(key_error(source, *cpus, "jobs.cpus", "expected a number 0.01..1024"));
    }
    out.cpus = *value;
  }
  if (const toml::node* memory = jobs->get("memory")) {
    SYNAPSE_ASSIGN_OR_RETURN(out.memory, size_value(source, *memory, "jobs.memory"));
  }
  if (const toml::node* labels = jobs->get("labels")) {
    SYNAPSE_ASSIGN_OR_RETURN(out.labels, strings_value(source, *labels, "jobs.labels", 16));
  }
  if (const toml::node* allow = jobs->get("allow")) {
    SYNAPSE_ASSIGN_OR_RETURN(out.allow, strings_value(source, *allow, "jobs.allow", 64));
    for (const std::string& rule : out.allow) {
      const bool known = rule == "*" || rule.rfind("node:", 0) == 0 ||
                         rule.rfind("name:", 0) == 0 || rule.rfind("role:", 0) == 0;
      if (!known) {
        return tl::unexpected(key_error(source, *allow, "jobs.allow",
                                        "\"" + rule + "\" is not \"*\", node:, name: or role:"));
      }
    }
  }
  if (const toml::node* user = jobs->get("user")) {
    std::optional<std::string> text = user->value_exact<std::string>();
    if (!text || text->empty()) {
      return tl::unexpected(key_error(source, *user, "jobs.user", "expected an account name"));
    }
    out.user = *text;
  }
  if (const toml::node* depth = jobs->get("queue_depth")) {
    std::optional<int64_t> value = depth->value_exact<int64_t>();
    if (!value || *value < 0 || *value > 10000) {
      return tl::unexpected(
          key_error(source, *depth, "jobs.queue_depth", "expected a whole number 0..10000"));
    }
    out.queue_depth = static_cast<uint32_t>(*value);
  }
  if (const toml::node* dir = jobs->get("work_dir")) {
    SYNAPSE_ASSIGN_OR_RETURN(std::string path, path_value(source, *dir, "jobs.work_dir"));
    if (path.front() != '/') {
      return tl::unexpected(key_error(source, *dir, "jobs.work_dir", "expected an absolute path"));
    }
    out.work_dir = path;
  }
  if (const toml::node* name = jobs->get("name")) {
    std::optional<std::string> text = name->value_exact<std::string>();
    if (!text || text->empty() || text->size() > 64) {
      return tl::unexpected(key_error(source, *name, "jobs.name", "expected 1 to 64 bytes"));
    }
    out.name = *text;
  }
  return core::ok();
}

core::Status apply(std::string_view source, const toml::table& root, Config& config) {
  SYNAPSE_RETURN_IF_ERROR(check_keys(source, root, "",
                                     {"store", "import", "swarm", "network", "discovery",
                                      "exchange", "fs", "log", "jobs", "http"}));
  SYNAPSE_RETURN_IF_ERROR(apply_jobs(source, root, config));
  SYNAPSE_RETURN_IF_ERROR(apply_network(source, root, config));
  SYNAPSE_RETURN_IF_ERROR(apply_discovery(source, root, config));
  SYNAPSE_RETURN_IF_ERROR(apply_log(source, root, config));
  if (const toml::node* node = root.get("store")) {
    const toml::table* store = node->as_table();
    if (!store) return tl::unexpected(key_error(source, *node, "store", "expected a table"));
    SYNAPSE_RETURN_IF_ERROR(check_keys(source, *store, "store",
                                       {"capacity", "sync", "replication", "repair_interval"}));
    if (const toml::node* replication = store->get("replication")) {
      std::optional<int64_t> count = replication->value_exact<int64_t>();
      if (!count || *count < 1 || *count > 20) {
        return tl::unexpected(
            key_error(source, *replication, "store.replication", "expected a whole number 1..20"));
      }
      config.store_replication = static_cast<size_t>(*count);
    }
    if (const toml::node* interval = store->get("repair_interval")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.repair_interval,
                               duration_value(source, *interval, "store.repair_interval"));
    }
    if (const toml::node* capacity = store->get("capacity")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.store.capacity,
                               size_value(source, *capacity, "store.capacity"));
    }
    if (const toml::node* sync = store->get("sync")) {
      if (!sync->is_boolean()) {
        return tl::unexpected(key_error(source, *sync, "store.sync", "expected true or false"));
      }
      config.store.sync = *sync->value<bool>();
    }
  }
  core::Status status = core::ok();
  if (const toml::table* exchange =
          section(source, root, "exchange", {"max_upload_rate"}, status)) {
    if (const toml::node* rate = exchange->get("max_upload_rate")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.max_upload_rate,
                               size_value(source, *rate, "exchange.max_upload_rate"));
    }
  }
  SYNAPSE_RETURN_IF_ERROR(status);
  if (const toml::table* fs =
          section(source, root, "fs", {"cache_size", "fsync_timeout", "mount"}, status)) {
    if (const toml::node* mount = fs->get("mount")) {
      SYNAPSE_ASSIGN_OR_RETURN(const std::filesystem::path dir,
                               path_value(source, *mount, "fs.mount"));
      if (!dir.is_absolute()) {
        return tl::unexpected(key_error(source, *mount, "fs.mount", "expected an absolute path"));
      }
      config.fs_mount = dir;
    }
    if (const toml::node* size = fs->get("cache_size")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.fs_cache_size, size_value(source, *size, "fs.cache_size"));
    }
    if (const toml::node* timeout = fs->get("fsync_timeout")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.fsync_timeout,
                               duration_value(source, *timeout, "fs.fsync_timeout"));
    }
  }
  SYNAPSE_RETURN_IF_ERROR(status);
  if (const toml::table* http = section(source, root, "http", {"enabled", "listen"}, status)) {
    if (const toml::node* enabled = http->get("enabled")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.http.enabled, bool_value(source, *enabled, "http.enabled"));
    }
    if (const toml::node* listen = http->get("listen")) {
      SYNAPSE_ASSIGN_OR_RETURN(config.http.listen, endpoint_value(source, *listen, "http.listen"));
    }
  }
  SYNAPSE_RETURN_IF_ERROR(status);
  if (const toml::node* node = root.get("import")) {
    const toml::table* import = node->as_table();
    if (!import) return tl::unexpected(key_error(source, *node, "import", "expected a table"));
    SYNAPSE_RETURN_IF_ERROR(check_keys(source, *import, "import", {"preset"}));
    if (const toml::node* preset = import->get("preset")) {
      std::optional<std::string> name = preset->value<std::string>();
      if (!name) {
        return tl::unexpected(key_error(source, *preset, "import.preset", "expected a string"));
      }
      auto options = blockstore::import_preset(*name);
      if (!options) {
        return tl::unexpected(
            key_error(source, *preset, "import.preset", options.error().message()));
      }
      config.import_preset = *name;
    }
  }
  if (const toml::node* node = root.get("swarm")) {
    SYNAPSE_RETURN_IF_ERROR(apply_swarm(source, *node, config.swarm));
  }
  return core::ok();
}

}  // namespace

core::Result<Config> Config::parse(std::string_view text, std::string_view source) {
  Config config;
  try {
    toml::table root = toml::parse(text, source);
    SYNAPSE_RETURN_IF_ERROR(apply(source, root, config));
  } catch (const toml::parse_error& error) {
    return make_error(ErrorCode::kInvalidArgument,
                      where(source, error.source()) + ": " + std::string(error.description()));
  }
  return config;
}

core::Result<Config> Config::load(core::Env& env, const std::filesystem::path& path) {
  auto text = env.read_file(path, kMaxConfigSize);
  if (!text && text.error().code() == ErrorCode::kNotFound) return Config{};
  if (!text) return tl::unexpected(text.error());
  return parse(core::as_chars(*text), path.string());
}

std::string Config::default_text() {
  return R"(# Synapse node configuration. Every key is optional: the values shown are the defaults.
# Reference: docs/config.md.

[store]
# Upper bound on the bytes of blocks this node keeps (suffixes K, M, G, T are powers of 1024).
# A put that would pass it fails with "store full".
capacity = "50G"
# fsync every commit. With false a process crash still loses nothing, but a power failure may
# lose the most recent writes or damage the store: only for data that can be fetched again.
sync = true
# Live nodes that should hold every pinned file (capped by the swarm's size). After an add the
# file is copied to the nodes closest to it; lost copies are replaced automatically.
replication = 3
# How often each holder of a file checks that enough live nodes hold it.
repair_interval = "30s"

[import]
# Layout of files added with `synapse add`: kubo-default, v1-raw-256k or v1-2025-1MiB.
preset = "v1-raw-256k"

[swarm]
# The swarm key (`synapse swarm new -o`); relative paths are relative to the home folder.
key_file = "swarm.key"
# Public key of the swarm CA, as `synapse ca init` prints it. Unset: the swarm key alone admits
# members. Set: a peer that presents a certificate must present a valid one from this CA.
# ca = "ed25519:<64 hex digits>"
# Refuse peers without a valid, unexpired, unrevoked certificate from `ca` (needs `ca`).
require_certificate = false
# The CA's revocation list (`synapse ca revoke` writes revoked.crl); relative to the home folder.
# revocation_list = "revoked.crl"

[network]
# Address and port of the node's transport (UDP for messages, TCP for streams, same port).
# Port 0 picks a free port (see `synapse status` for the one chosen).
listen = "0.0.0.0:4747"
# Nodes to join through, as "address:port"; LAN discovery needs none on one network.
bootstrap = []

[discovery]
# LAN discovery: encrypted UDP multicast beacons that only holders of the swarm key can read.
enabled = true
# Multicast group and port; every node of a LAN must use the same one.
group = "239.192.83.89:4748"
# Interface names to beacon on; empty: every multicast-capable interface with an IPv4 address.
interfaces = []
# Beacon period once started (the first beacons go out faster).
interval = "10s"

[exchange]
# Bytes per second this node serves to other nodes at most (K, M, G suffixes); "0": no limit.
max_upload_rate = "0"

[fs]
# Where to mount the shared folder; `synapse up --mount DIR` overrides it. Unset: not mounted
# unless --mount is given.
# mount = "/synapse"
# Files read from other nodes are kept in the block store up to this size (K, M, G suffixes),
# least recently used evicted first.
cache_size = "4G"
# fsync() on the shared folder returns once `store.replication` nodes hold the file; after this
# long it fails with EIO instead.
fsync_timeout = "60s"

[jobs]
# Run jobs on this node (docs/jobs.md). Every node coordinates the jobs submitted on it either
# way.
enabled = true
# What jobs may use here in all; unset: every CPU, and all the memory but 10 % (at most 2 GiB).
# cpus = 4
# memory = "16G"
# Labels a job can ask for with [placement] labels = [...].
labels = []
# Who may run jobs here: "*", "node:<ID prefix>", "name:<certificate name>", "role:<role>".
# Empty: every member of the swarm.
allow = []
# The account jobs run as when the node runs as root (otherwise they run as the node's user).
user = "nobody"
# Tasks accepted beyond what runs now; 0: twice the CPUs.
queue_depth = 0
# This node's name for [placement] nodes and `synapse peers`; unset: the certificate's name,
# else the host name.
# name = "lab-pc-3"
# Where running jobs' folders and unpacked images live; the job account must be able to reach
# it. Unset: /var/tmp/synapse-jobs-<short node ID> when the node runs as root (jobs get a
# private /var/tmp), else <home>/jobs.
# work_dir = "/var/tmp/synapse-jobs"

[http]
# Prometheus metrics (/metrics), the status page (/) and its JSON (/api/status, /api/peers,
# /api/jobs), read-only and without authentication: keep it on loopback, or firewall the port.
enabled = true
# Port 0 picks a free port (`synapse status` shows it).
listen = "127.0.0.1:9477"

[log]
# trace, debug, info, warn or error.
level = "info"
# The log file of `synapse up --detach` (foreground nodes log to stderr); relative to home.
file = "synapse.log"
)";
}

}  // namespace synapse::cli
