// Metrics (metrics.h): prometheus-cpp for the live histograms and the text format; the rest is
// built from the status JSON at scrape time. Names and meanings: docs/metrics.md.
#include "metrics.h"

#include <prometheus/text_serializer.h>

#include <deque>
#include <initializer_list>
#include <sstream>

namespace synapse::daemon {

using nlohmann::json;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

// FUSE requests take microseconds (cached attributes) to seconds (a fetch over the network).
const prometheus::Histogram::BucketBoundaries kFuseBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

// The value at `path` in `status`; null where it is missing (a part of the node not running,
// or no status yet).
const json* at_path(const json& status, std::initializer_list<const char*> path) {
  const json* at = &status;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

// The number at `path` in `status`; 0 where it is missing.
double number(const json& status, std::initializer_list<const char*> path) {
  const json* at = at_path(status, path);
  if (at == nullptr) return 0;
  return at->is_number() ? at->get<double>() : at->is_boolean() ? (at->get<bool>() ? 1 : 0) : 0;
}

// Builds the families read from the status.
class Families {
 public:
  explicit Families(const json& status) : status_(status) {}

  // The new family; the reference stays valid while more are added.
  MetricFamily& family(std::string name, std::string help, MetricType type) {
    out_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return out_.back();
  }

  void gauge(std::string name, std::string help, std::initializer_list<const char*> path) {
    add(family(std::move(name), std::move(help), MetricType::Gauge), number(status_, path), {});
  }
  void counter(std::string name, std::string help, std::initializer_list<const char*> path) {
    add(family(std::move(name), std::move(help), MetricType::Counter), number(status_, path), {});
  }

  // One labelled series of `family` (a gauge or a counter, as the family's type says).
  static void add(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }

  // One series per key of the object at `path` (label `label` = the key).
  void by_key(MetricFamily& family, const char* label, std::initializer_list<const char*> path) {
    const json* at = at_path(status_, path);
    if (at == nullptr || !at->is_object()) return;
    for (const auto& [key, value] : at->items()) {
      if (value.is_number()) add(family, value.get<double>(), {{label, key}});
    }
  }

  std::vector<MetricFamily> take() {
    return {std::make_move_iterator(out_.begin()), std::make_move_iterator(out_.end())};
  }
  const json& status() const { return status_; }

 private:
  const json& status_;
  std::deque<MetricFamily> out_;  // a deque: family() hands out references into it
};

void dht_lookup_histogram(Families& families) {
  const json* found = at_path(families.status(), {"dht", "lookup_latency"});
  const json latency = found != nullptr && found->is_object() ? *found : json::object();
  MetricFamily& family =
      families.family("synapse_dht_lookup_duration_seconds",
                      "DHT lookups from start to convergence", MetricType::Histogram);
  ClientMetric metric;
  const json bounds = latency.value("bounds_ms", json::array());
  const json buckets = latency.value("buckets", json::array());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i].get<uint64_t>();
    const double bound = i < bounds.size() ? bounds[i].get<double>() / 1000.0
                                           : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back({cumulative, bound});
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = latency.value("sum_seconds", 0.0);
  family.metric.push_back(std::move(metric));
}

std::vector<MetricFamily> status_families(const json& status) {
  Families f(status);
  MetricFamily& info = f.family("synapse_node_info", "This node (value 1)", MetricType::Gauge);
  Families::add(info, 1,
                {{"node_id", status.value("node_id", "")},
                 {"version", status.value("version", "")},
                 {"name", status.value("name", "")}});
  f.gauge("synapse_uptime_seconds", "Seconds since the node started", {"uptime_seconds"});
  f.gauge("synapse_peers", "Peers with a live encrypted session", {"transport", "sessions_active"});
  f.gauge("synapse_routing_table_contacts", "Contacts in the DHT routing table", {"peers"});

  dht_lookup_histogram(f);
  f.counter("synapse_dht_lookups_started_total", "DHT lookups started", {"dht", "lookups_started"});
  f.counter("synapse_dht_rpc_timeouts_total", "DHT requests that got no answer in time",
            {"dht", "rpc_timeouts"});
  f.counter("synapse_dht_requests_served_total", "DHT requests this node answered",
            {"dht", "requests_served"});
  f.gauge("synapse_dht_values", "DHT values stored here", {"dht", "values"});
  f.gauge("synapse_dht_provider_records", "DHT provider records stored here", {"dht", "providers"});

  MetricFamily& bytes =
      f.family("synapse_network_bytes_total",
               "Bytes exchanged with peers by class: dht = encrypted datagrams (DHT messages, "
               "handshakes), blocks = block payloads over streams",
               MetricType::Counter);
  Families::add(bytes, number(status, {"transport", "bytes_in"}),
                {{"class", "dht"}, {"direction", "in"}});
  Families::add(bytes, number(status, {"transport", "bytes_out"}),
                {{"class", "dht"}, {"direction", "out"}});
  Families::add(bytes, number(status, {"exchange", "bytes_fetched"}),
                {{"class", "blocks"}, {"direction", "in"}});
  Families::add(bytes, number(status, {"exchange", "bytes_served"}),
                {{"class", "blocks"}, {"direction", "out"}});
  MetricFamily& refused = f.family("synapse_handshakes_failed_total",
                                   "Handshakes refused or failed, by reason", MetricType::Counter);
  Families::add(refused, number(status, {"transport", "handshakes_failed_wrong_key"}),
                {{"reason", "wrong_key"}});
  Families::add(refused, number(status, {"transport", "handshakes_failed_admit"}),
                {{"reason", "not_admitted"}});
  Families::add(refused, number(status, {"transport", "handshakes_failed_timeout"}),
                {{"reason", "timeout"}});
  f.counter("synapse_blocks_corrupt_received_total",
            "Blocks from peers that failed verification (dropped)",
            {"exchange", "bad_blocks_received"});

  f.gauge("synapse_store_blocks", "Blocks in the local store", {"store", "blocks"});
  f.gauge("synapse_store_bytes", "Bytes of the blocks in the local store", {"store", "bytes"});
  f.gauge("synapse_store_capacity_bytes", "The local store's capacity", {"store", "capacity"});
  f.gauge("synapse_store_pinned_roots", "Files pinned here", {"store", "pinned_roots"});
  f.gauge("synapse_replication_target", "Live holders every pinned file should have",
          {"replication", "target"});
  f.gauge("synapse_replication_files", "Pinned files this node checks", {"replication", "files"});
  f.gauge("synapse_replication_files_under_target",
          "Pinned files with fewer live holders than the target at their last check",
          {"replication", "under_target"});
  f.gauge("synapse_replication_deficit",
          "Replicas missing over all pinned files (target minus live holders)",
          {"replication", "missing_replicas"});

  f.counter("synapse_fs_cache_hits_total",
            "Opens of other nodes' files served from content already here",
            {"fs", "cache", "hits"});
  f.counter("synapse_fs_cache_misses_total", "Opens of other nodes' files that had to fetch",
            {"fs", "cache", "misses"});
  f.gauge("synapse_fs_cache_bytes", "Bytes of fetched content kept in the cache",
          {"fs", "cache", "bytes"});

  MetricFamily& jobs = f.family(
      "synapse_jobs", "Jobs coordinated here (running, or ended in the last minutes), by state",
      MetricType::Gauge);
  f.by_key(jobs, "state", {"jobs", "by_state"});
  MetricFamily& ended = f.family("synapse_jobs_ended_total",
                                 "Jobs coordinated here that ended, by state", MetricType::Counter);
  f.by_key(ended, "state", {"jobs", "ended"});
  f.gauge("synapse_tasks_running", "Tasks running (or being prepared) on this node",
          {"jobs", "running"});
  f.gauge("synapse_tasks_waiting", "Tasks accepted here, waiting for room", {"jobs", "waiting"});
  MetricFamily& ends =
      f.family("synapse_sandbox_ends_total", "Sandboxes that ended on this node, by outcome",
               MetricType::Counter);
  for (const char* outcome :
       {"succeeded", "exited_nonzero", "signaled", "timed_out", "out_of_memory", "cancelled"}) {
    Families::add(ends, number(status, {"jobs", "sandbox", outcome}), {{"outcome", outcome}});
  }
  MetricFamily& failures = f.family(
      "synapse_sandbox_failures_total",
      "Sandboxes that could not be run here: their folders or image could not be prepared, no "
      "runtime could run them, or the runtime failed to start them",
      MetricType::Counter);
  for (const char* kind : {"prepare_failed", "no_runtime", "start_failed"}) {
    Families::add(failures, number(status, {"jobs", "sandbox", kind}), {{"kind", kind}});
  }
  return f.take();
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      fuse_latency_(prometheus::BuildHistogram()
                        .Name("synapse_fuse_operation_duration_seconds")
                        .Help("FUSE requests served by the mount, by operation")
                        .Register(*registry_)) {}

void Metrics::observe_fuse(const char* op, std::chrono::nanoseconds took) {
  prometheus::Histogram* histogram = nullptr;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = fuse_by_op_.try_emplace(op, nullptr);
    if (inserted) it->second = &fuse_latency_.Add({{"op", op}}, kFuseBuckets);
    histogram = it->second;
  }
  histogram->Observe(std::chrono::duration<double>(took).count());
}

void Metrics::update(json status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
}

std::string Metrics::render() const {
  std::vector<MetricFamily> families = registry_->Collect();
  {
    std::lock_guard lock(mu_);
    std::vector<MetricFamily> from_status = status_families(status_);
    families.insert(families.end(), std::make_move_iterator(from_status.begin()),
                    std::make_move_iterator(from_status.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace synapse::daemon
