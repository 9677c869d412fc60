#include "daemon_methods.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace synapse::daemon {
namespace {

using core::ErrorCode;
using nlohmann::json;

core::Result<std::string> string_param(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_string()) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            std::string("missing string parameter \"") + name + "\"");
  }
  return it->get<std::string>();
}

core::Result<dht::Key> key_param(const json& params) {
  SYNAPSE_ASSIGN_OR_RETURN(std::string text, string_param(params, "key"));
  return dht_key_from_text(text);
}

std::string address_text(const dht::PeerAddress& address) {
  auto endpoint = dht::to_endpoint(address);
  return endpoint ? endpoint->to_string() : address.to_string();
}

std::string text_of(const core::Bytes& data) { return std::string(data.begin(), data.end()); }

// Peers whose clocks differ from ours by more than this are named in the status' warnings.
constexpr double kClockSkewWarning = 30;

double milliseconds(core::Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

// What an admin should look at (docs/troubleshooting.md), one sentence each.
json warnings_of(DaemonState& daemon, const json& status) {
  using namespace std::chrono_literals;
  json out = json::array();
  if (status.value("peers", 0) == 0 && daemon.uptime() > 10s) {
    out.push_back(
        "no peers: check that every node has the same swarm key (`synapse swarm id`), that UDP "
        "and TCP port " +
        std::to_string(daemon.transport().local_endpoint().port()) +
        " are open, and network.bootstrap (or LAN multicast for discovery)");
  }
  if (status.contains("store")) {
    const double used = status["store"].value("bytes", 0.0);
    const double capacity = status["store"].value("capacity", 0.0);
    if (capacity > 0 && used >= 0.9 * capacity) {
      out.push_back(
          "store nearly full: " + std::to_string(static_cast<int>(100 * used / capacity)) +
          " % of store.capacity used; unpin files or raise the capacity");
    }
  }
  if (daemon.options().certificate) {
    if (auto certificate = crypto::Certificate::decode(*daemon.options().certificate)) {
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      const int64_t left = certificate->not_after - now;
      if (left <= 0) {
        out.push_back(
            "the membership certificate has expired: peers that require one refuse "
            "this node; install a new one (`synapse ca sign`, `synapse cert install`)");
      } else if (left < 14 * 86400) {
        out.push_back("the membership certificate expires in " + std::to_string(left / 86400) +
                      " days; install a new one (`synapse ca sign`, `synapse cert install`)");
      }
    }
  }
  if (ComputeHost* compute = daemon.compute()) {
    for (const auto& [node, offset] : compute->clock_offsets()) {
      if (std::abs(offset) < kClockSkewWarning) continue;
      out.push_back("clock skew: node " + node.short_id() + "'s clock is " +
                    std::to_string(static_cast<int64_t>(std::abs(offset))) + " s " +
                    (offset > 0 ? "behind" : "ahead of") +
                    " ours; job times and leases need synchronised clocks (NTP)");
    }
  }
  if (!daemon.http_error().empty()) out.push_back(daemon.http_error());
  return out;
}

}  // namespace

json status_of(DaemonState& daemon) {
  const dht::Node& node = daemon.runtime().node();
  const dht::NodeStats& stats = node.stats();
  const dht::RecordStore& records = node.records();
  const dht::TransportStats& wire = daemon.transport().stats();
  json result = {
      {"node_id", node.id().to_hex()},
      {"short_id", node.id().short_id()},
      {"pid", static_cast<int>(::getpid())},
      {"listen", daemon.transport().local_endpoint().to_string()},
      {"control", daemon.options().control_socket().string()},
      {"uptime_seconds", std::chrono::duration<double>(daemon.uptime()).count()},
      {"joined", daemon.joined()},
      {"peers", node.routing_table().size()},
      {"dht",
       {{"values", records.value_count()},
        {"value_bytes", records.value_bytes()},
        {"providers", records.provider_count()},
        {"listeners", records.listener_count()},
        {"running_operations", node.running_operations()},
        {"pending_requests", node.pending_requests()},
        {"rto_ms", milliseconds(node.rto())},
        {"messages_received", stats.messages_received},
        {"messages_sent", stats.messages_sent},
        {"malformed_dropped", stats.malformed_dropped},
        {"requests_served", stats.requests_served},
        {"refused_rate_limited", stats.refused_rate_limited},
        {"refused_storage_full", stats.refused_storage_full},
        {"rpc_timeouts", stats.rpc_timeouts},
        {"values_rejected_signature", stats.values_rejected_signature},
        {"lookups_started", stats.lookups_started},
        {"lookups_completed", stats.lookups_completed},
        {"lookup_latency",
         {{"bounds_ms", dht::kLookupLatencyBoundsMs},
          {"buckets", stats.lookup_latency_buckets},
          {"sum_seconds", stats.lookup_latency_seconds_sum}}}}},
      {"transport",
       {{"packets_in", wire.packets_in},
        {"packets_out", wire.packets_out},
        {"bytes_in", wire.bytes_in},
        {"bytes_out", wire.bytes_out},
        {"handshakes_completed", wire.handshakes_completed},
        {"handshakes_failed_wrong_key", wire.handshakes_failed_wrong_key},
        {"handshakes_failed_admit", wire.handshakes_failed_admit},
        {"handshakes_failed_timeout", wire.handshakes_failed_timeout},
        {"malformed_dropped", wire.malformed_dropped},
        {"rate_limited_dropped", wire.rate_limited_dropped},
        {"sessions_active", wire.sessions_active},
        {"send_failures", daemon.runtime().stats().send_failures}}},
  };
  const exchange::ExchangeStats& exchange = daemon.exchange().stats();
  result["exchange"] = {{"blocks_served", exchange.blocks_served},
                        {"bytes_served", exchange.bytes_served},
                        {"missing_served", exchange.missing_served},
                        {"bytes_fetched", exchange.bytes_fetched},
                        {"fetches_completed", exchange.fetches_completed},
                        {"fetches_failed", exchange.fetches_failed},
                        {"streams_accepted", exchange.streams_accepted},
                        {"streams_opened", exchange.streams_opened},
                        {"stream_failures", exchange.stream_failures},
                        {"protocol_errors", exchange.protocol_errors}};
  uint64_t bad_blocks = 0;
  for (const auto& [peer, record] : daemon.exchange().scores().records())
    bad_blocks += record.bad_blocks;
  result["exchange"]["bad_blocks_received"] = bad_blocks;
  result["replication"] = daemon.data().replication_json();
  const fs::CacheStats cache = daemon.fs_host().shared_file_system().cache_stats();
  result["fs"] = {{"mount", daemon.options().mount ? daemon.options().mount->string() : ""},
                  {"cache",
                   {{"hits", cache.hits},
                    {"misses", cache.misses},
                    {"files", cache.files},
                    {"bytes", cache.bytes},
                    {"limit", daemon.options().fs_cache_size}}}};
  result["name"] = daemon.options().jobs.name;
  result["version"] = daemon.options().version;
  if (auto http = daemon.http_endpoint()) result["http"] = http->to_string();
  if (ComputeHost* compute = daemon.compute()) result["jobs"] = compute->status_json();
  if (auto store = daemon.store().stats()) {
    result["store"] = {{"blocks", store->blocks},
                       {"bytes", store->bytes},
                       {"capacity", store->capacity},
                       {"pinned_roots", store->pinned_roots}};
  }
  if (const dht::LanDiscovery* discovery = daemon.discovery()) {
    const dht::LanDiscoveryStats& beacons = discovery->stats();
    result["discovery"] = {{"enabled", true},
                           {"group", daemon.options().discovery_options.group.to_string()},
                           {"interfaces", discovery->interfaces()},
                           {"beacons_sent", beacons.beacons_sent},
                           {"beacons_received", beacons.beacons_received},
                           {"beacons_rejected", beacons.beacons_rejected}};
  } else {
    result["discovery"] = {{"enabled", false}};
  }
  result["warnings"] = warnings_of(daemon, result);
  return result;
}

namespace {

json advert_json(const compute::NodeAdvert& advert) {
  json gpus = json::array();
  for (const compute::GpuInfo& gpu : advert.gpus) {
    gpus.push_back({{"index", gpu.index}, {"name", gpu.name}, {"memory", gpu.memory_bytes}});
  }
  json runtimes = json::array();
  for (compute::RuntimeKind kind : advert.runtimes)
    runtimes.push_back(compute::runtime_kind_name(kind));
  return {{"name", advert.name},
          {"cpus", advert.cpus},
          {"memory", advert.memory},
          {"disk_free", advert.disk_free},
          {"gpus", gpus},
          {"runtimes", runtimes},
          {"labels", advert.labels},
          {"load1", advert.load1},
          {"cpus_free", advert.load.cpus_free},
          {"memory_free", advert.load.memory_free},
          {"jobs_running", advert.load.running},
          {"jobs_waiting", advert.load.waiting},
          {"accepts_jobs", advert.accepts_jobs}};
}

}  // namespace

json peers_of(DaemonState& daemon) {
  const dht::Node& node = daemon.runtime().node();
  const core::MonoTime now = daemon.runtime().now();
  const dht::RoutingTable& table = node.routing_table();
  json peers = json::array();
  for (const dht::Contact& contact : table.contacts()) {
    json peer = {{"id", contact.id.to_hex()},
                 {"short_id", contact.id.short_id()},
                 {"address", address_text(contact.address)},
                 {"bucket", table.bucket_index(contact.id)}};
    if (const dht::RoutingTable::Entry* entry = table.find(contact.id)) {
      peer["last_seen_seconds"] = std::chrono::duration<double>(now - entry->last_seen).count();
      peer["failures"] = entry->failures;
    }
    // Reputation from block exchanges (docs/exchange.md): unknown peers score 0.5.
    const exchange::PeerScores& scores = daemon.exchange().scores();
    peer["score"] = scores.score(contact.id);
    peer["backed_off"] = scores.backed_off(contact.id, now);
    if (const exchange::PeerRecord* record = scores.find(contact.id)) {
      peer["blocks_received"] = record->blocks_received;
      peer["bytes_received"] = record->bytes_received;
      peer["bad_blocks"] = record->bad_blocks;
      peer["exchange_failures"] = record->failures;
      peer["latency_ms"] = record->latency_ms;
      peer["throughput"] = record->throughput;
    } else {
      peer["blocks_received"] = 0;
      peer["bad_blocks"] = 0;
    }
    if (ComputeHost* compute = daemon.compute()) {
      for (const auto& [id, advert] : compute->adverts()) {
        if (id == contact.id) peer["resources"] = advert_json(advert);
      }
    }
    peers.push_back(std::move(peer));
  }
  return {{"peers", std::move(peers)}};
}

namespace {

void dht_put(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply) {
  auto key = key_param(request.params);
  auto value_text = string_param(request.params, "value");
  if (!key || !value_text) {
    reply(tl::unexpected(key ? value_text.error() : key.error()));
    return;
  }
  const json ttl = request.params.value("ttl", json(3600));
  if (!ttl.is_number_integer() || ttl.get<int64_t>() <= 0 ||
      ttl.get<int64_t>() > int64_t{dht::kMaxRecordTtlSeconds}) {
    reply(core::make_error(
        ErrorCode::kInvalidArgument,
        "\"ttl\" must be 1.." + std::to_string(dht::kMaxRecordTtlSeconds) + " seconds"));
    return;
  }
  auto value = dht::SignedValue::sign(daemon.options().identity, *key, daemon.next_sequence(),
                                      static_cast<uint32_t>(ttl.get<int64_t>()),
                                      core::Bytes(value_text->begin(), value_text->end()));
  if (!value) {
    reply(tl::unexpected(value.error()));
    return;
  }
  daemon.when_joined([&daemon, value = std::move(*value), reply = std::move(reply)]() mutable {
    daemon.runtime().run([&](dht::Node& node, core::MonoTime now) {
      const uint64_t seq = value.seq;
      node.put(value, now, [reply = std::move(reply), key = value.key, seq](dht::PutResult put) {
        if (!put.status) {
          reply(tl::unexpected(put.status.error()));
          return;
        }
        reply(json{{"key", key.to_hex()},
                   {"seq", seq},
                   {"acked", put.acked},
                   {"stored", put.stored},
                   {"hops", put.hops},
                   {"messages", put.messages}});
      });
    });
  });
}

void dht_get(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply) {
  auto parsed = key_param(request.params);
  if (!parsed) {
    reply(tl::unexpected(parsed.error()));
    return;
  }
  const dht::Key key = *parsed;
  daemon.when_joined([&daemon, key, reply = std::move(reply)]() mutable {
    daemon.runtime().run([&](dht::Node& node, core::MonoTime now) {
      node.get(key, now, [reply = std::move(reply), key](dht::GetResult get) {
        json values = json::array();
        for (const dht::SignedValue& value : get.values) {
          values.push_back({{"writer", value.writer_id().to_hex()},
                            {"seq", value.seq},
                            {"ttl", value.ttl_seconds},
                            {"value", text_of(value.data)}});
        }
        reply(json{{"key", key.to_hex()},
                   {"values", std::move(values)},
                   {"hops", get.hops},
                   {"messages", get.messages}});
      });
    });
  });
}

void dht_providers(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply,
                   bool announce) {
  auto parsed = key_param(request.params);
  if (!parsed) {
    reply(tl::unexpected(parsed.error()));
    return;
  }
  const dht::Key key = *parsed;
  daemon.when_joined([&daemon, key, announce, reply = std::move(reply)]() mutable {
    daemon.runtime().run([&](dht::Node& node, core::MonoTime now) {
      if (announce) {
        node.add_provider(key, now, [reply = std::move(reply), key](dht::PutResult put) {
          if (!put.status) {
            reply(tl::unexpected(put.status.error()));
            return;
          }
          reply(json{{"key", key.to_hex()}, {"acked", put.acked}, {"hops", put.hops}});
        });
        return;
      }
      node.get_providers(key, now, [reply = std::move(reply), key](dht::ProvidersResult found) {
        json providers = json::array();
        for (const dht::Contact& provider : found.providers) {
          providers.push_back(
              {{"id", provider.id.to_hex()},
               {"address", provider.address.empty() ? "self" : address_text(provider.address)}});
        }
        reply(
            json{{"key", key.to_hex()}, {"providers", std::move(providers)}, {"hops", found.hops}});
      });
    });
  });
}

core::Result<crypto::Cid> cid_param(const json& params) {
  SYNAPSE_ASSIGN_OR_RETURN(std::string text, string_param(params, "cid"));
  return crypto::Cid::parse(text);
}

void get_start(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply) {
  auto cid = cid_param(request.params);
  if (!cid) return reply(tl::unexpected(cid.error()));
  // Provider lookups need the DHT: wait for the join like dht.* requests.
  daemon.when_joined([&daemon, root = *cid, reply = std::move(reply)]() mutable {
    reply(json{{"id", daemon.data().start_get(root, daemon.runtime().now())}});
  });
}

void get_progress(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply) {
  const json id = request.params.value("id", json());
  if (!id.is_number_unsigned()) {
    return reply(core::make_error(ErrorCode::kInvalidArgument, "missing numeric \"id\""));
  }
  reply(daemon.data().get_progress(id.get<uint64_t>(), daemon.runtime().now()));
}

void leave(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply) {
  const json timeout = request.params.value("timeout", json(300));
  if (!timeout.is_number() || timeout.get<double>() <= 0) {
    return reply(core::make_error(ErrorCode::kInvalidArgument, "\"timeout\" must be seconds > 0"));
  }
  spdlog::info("leaving: handing every pinned file on first");
  daemon.when_joined(
      [&daemon, seconds = timeout.get<double>(), reply = std::move(reply)]() mutable {
        daemon.data().leave(
            std::chrono::duration_cast<core::Duration>(std::chrono::duration<double>(seconds)),
            daemon.runtime().now(), [&daemon, reply = std::move(reply)](core::Status status) {
              if (!status) {
                spdlog::warn("leave: {}", status.error().message());
                return reply(tl::unexpected(status.error()));
              }
              reply(json{{"handed_on", daemon.data().pins_json().size()}});
              spdlog::info("left: every file is held by enough other nodes");
              daemon.shutdown();
            });
      });
}

}  // namespace

void handle_request(DaemonState& daemon, const ControlRequest& request,
                    ControlServer::Reply reply) {
  const std::string& method = request.method;
  if (ComputeHost* compute = daemon.compute(); compute && compute->handle(request, reply)) return;
  if (method == "status") {
    reply(status_of(daemon));
  } else if (method == "peers") {
    reply(peers_of(daemon));
  } else if (method == "dht.put") {
    dht_put(daemon, request, std::move(reply));
  } else if (method == "dht.get") {
    dht_get(daemon, request, std::move(reply));
  } else if (method == "dht.providers") {
    dht_providers(daemon, request, std::move(reply), /*announce=*/false);
  } else if (method == "dht.provide") {
    dht_providers(daemon, request, std::move(reply), /*announce=*/true);
  } else if (method == "get.start") {
    get_start(daemon, request, std::move(reply));
  } else if (method == "get.progress") {
    get_progress(daemon, request, std::move(reply));
  } else if (method == "pins.changed") {
    daemon.data().pins_changed(daemon.runtime().now());
    reply(json::object());
  } else if (method == "pin.ls") {
    reply(json{{"pins", daemon.data().pins_json()}});
  } else if (method == "leave") {
    leave(daemon, request, std::move(reply));
  } else if (method == "shutdown") {
    reply(json::object());
    spdlog::info("shutdown requested over the control socket");
    daemon.shutdown();
  } else {
    reply(core::make_error(ErrorCode::kInvalidArgument, "unknown method \"" + method + "\""));
  }
}

}  // namespace synapse::daemon
