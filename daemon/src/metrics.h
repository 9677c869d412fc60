// The node's metrics in the Prometheus text format (docs/metrics.md).
//
// Two sources: the FUSE operation latencies, observed as they happen on the mount's threads
// into prometheus-cpp histograms, and everything else, read from the node's status (the
// `status` control method's JSON) that the loop thread hands over about once a second. The
// status is cumulative already (counters since the node started, gauges now), so a scrape
// sees values at most one refresh old and no counter is kept twice.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace synapse::daemon {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One FUSE request served (mount::MountOptions::on_operation): `op` is a string literal.
  void observe_fuse(const char* op, std::chrono::nanoseconds took);
  // The node's latest status; the metrics read from it change with the next render().
  void update(nlohmann::json status);
  // The exposition text (text/plain; version=0.0.4) of every metric family.
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& fuse_latency_;
  mutable std::mutex mu_;
  std::map<const char*, prometheus::Histogram*> fuse_by_op_;  // by literal's address
  nlohmann::json status_ = nlohmann::json::object();
};

}  // namespace synapse::daemon
