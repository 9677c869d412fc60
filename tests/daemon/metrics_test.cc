// The metrics' exposition (daemon/src/metrics.h): families read from the status JSON, the FUSE
// histograms, and a scrape that comes before the node handed over any status.
#include "metrics.h"

#include <gtest/gtest.h>

namespace synapse::daemon {
namespace {

using nlohmann::json;

TEST(Metrics, AScrapeBeforeTheFirstStatusGivesEveryFamilyAtZero) {
  Metrics metrics;
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE synapse_dht_lookup_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("\nsynapse_peers 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsynapse_store_bytes 0\n"), std::string::npos) << text;
}

TEST(Metrics, ReadsCountersGaugesAndTheLookupHistogramFromTheStatus) {
  Metrics metrics;
  metrics.update(json{{"transport", {{"sessions_active", 4}, {"bytes_in", 1000}}},
                      {"dht",
                       {{"lookup_latency",
                         {{"bounds_ms", {5, 10}}, {"buckets", {1, 2, 3}}, {"sum_seconds", 0.5}}}}},
                      {"jobs", {{"by_state", {{"running", 2}, {"queued", 1}}}}}});
  metrics.observe_fuse("read", std::chrono::milliseconds(3));
  const std::string text = metrics.render();
  EXPECT_NE(text.find("\nsynapse_peers 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("synapse_network_bytes_total{class=\"dht\",direction=\"in\"} 1000"),
            std::string::npos);
  EXPECT_NE(text.find("synapse_dht_lookup_duration_seconds_bucket{le=\"0.01\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("synapse_dht_lookup_duration_seconds_count 6"), std::string::npos);
  EXPECT_NE(text.find("synapse_jobs{state=\"running\"} 2"), std::string::npos);
  EXPECT_NE(text.find("synapse_fuse_operation_duration_seconds_count{op=\"read\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace synapse::daemon
