// Running a node for real (docs/metrics.md, docs/quickstart.md): the metrics endpoint of a
// three-node swarm in network namespaces, scraped after the mount and a job were used; the
// status page rendered by headless Chromium; a config reload on SIGHUP; a clean stop on SIGTERM.
// HTTP servers listen on each namespace's loopback, so the test's own clients (curl, chromium)
// run inside the namespace (nsenter --net).
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <regex>
#include <sstream>

#include "mounted_swarm.h"

namespace synapse::daemon {
namespace {

using namespace harness;
using nlohmann::json;

synapse::testing::CommandResult sh(const std::string& command, std::chrono::seconds timeout = 60s) {
  return synapse::testing::run_command({"/bin/bash", "-c", command}, "", timeout);
}

// Parsed exposition text: every sample by its series ("name{labels}"), and the families named
// by TYPE lines.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;

  double value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
  // The sum over every series of `name` whose labels contain `label` (e.g. op="read").
  double sum(const std::string& name, const std::string& label = "") const {
    double total = 0;
    for (const auto& [series, value] : samples) {
      if (series.rfind(name + "{", 0) != 0 && series != name) continue;
      if (!label.empty() && series.find(label) == std::string::npos) continue;
      total += value;
    }
    return total;
  }
};

Scrape parse_exposition(const std::string& text) {
  Scrape scrape;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      scrape.types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    scrape.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return scrape;
}

class Operations : public MountedSwarm {
 protected:
  // What node i's HTTP server answers at `path` (fetched inside its namespace).
  synapse::testing::CommandResult http_get(size_t i, const std::string& path) {
    return sh(namespaces_->enter_net(i) + " curl -sS --max-time 10 http://" + http_address(i) +
              path);
  }
  std::string http_address(size_t i) { return swarm_.node(i).ready["http"].get<std::string>(); }
  Scrape scrape(size_t i) {
    const auto result = http_get(i, "/metrics");
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return parse_exposition(result.out);
  }
  pid_t pid_of(size_t i) { return swarm_.node(i).ready["pid"].get<pid_t>(); }
  std::string id_of(size_t i) { return swarm_.node(i).ready["node_id"].get<std::string>(); }

  // A file written on node 0, read twice on node 1 (a fetch, then the cache); a job copied in
  // on node 2 that reads it. Returns once the job succeeded.
  void use_the_swarm() {
    fsys::create_directories(mount_dir(0) / "data");
    write_text(mount_dir(0) / "data" / "words.txt", "one two three\n");
    std::this_thread::sleep_for(1100ms);  // close-to-open across nodes
    ASSERT_EQ(read_text(mount_dir(1) / "data" / "words.txt"), "one two three\n");
    ASSERT_EQ(read_text(mount_dir(1) / "data" / "words.txt"), "one two three\n");
    submit(2, "count",
           "command = [\"sh\", \"-c\", \"wc -w < /in/words.txt > /out/n\"]\n"
           "inputs = { \"/in\" = \"/synapse/data\" }\n"
           "outputs = { \"/out\" = \"/synapse/results/count\" }\n");
    ASSERT_EQ(wait_done(2, "count"), "succeeded") << read_text(job_dir(2, "count") / "stderr");
  }
};

TEST_F(Operations, MetricsCoverEveryFamilyAndCountWhatTheSwarmDid) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.87.0"));
  ASSERT_NO_FATAL_FAILURE(use_the_swarm());

  const std::map<std::string, std::string> families = {
      {"synapse_peers", "gauge"},
      {"synapse_routing_table_contacts", "gauge"},
      {"synapse_dht_lookup_duration_seconds", "histogram"},
      {"synapse_network_bytes_total", "counter"},
      {"synapse_store_blocks", "gauge"},
      {"synapse_store_bytes", "gauge"},
      {"synapse_replication_deficit", "gauge"},
      {"synapse_fs_cache_hits_total", "counter"},
      {"synapse_fs_cache_misses_total", "counter"},
      {"synapse_fuse_operation_duration_seconds", "histogram"},
      {"synapse_jobs", "gauge"},
      {"synapse_jobs_ended_total", "counter"},
      {"synapse_sandbox_ends_total", "counter"},
      {"synapse_sandbox_failures_total", "counter"},
  };
  std::vector<Scrape> scrapes;
  for (size_t i = 0; i < 3; ++i) {
    // The metrics are at most a second old: wait for the job's end to show.
    ASSERT_TRUE(eventually(
        [&] {
          Scrape s = scrape(2);
          return s.value("synapse_jobs_ended_total{state=\"succeeded\"}") == 1;
        },
        10s));
    scrapes.push_back(scrape(i));
    for (const auto& [name, type] : families) {
      auto it = scrapes[i].types.find(name);
      ASSERT_NE(it, scrapes[i].types.end()) << "node " << i << " lacks " << name;
      EXPECT_EQ(it->second, type) << name;
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(scrapes[i].value("synapse_peers"), 2) << i;
    EXPECT_EQ(scrapes[i].value("synapse_routing_table_contacts"), 2) << i;
    EXPECT_GT(scrapes[i].value("synapse_dht_lookup_duration_seconds_count"), 0) << i;
    EXPECT_GT(scrapes[i].value("synapse_network_bytes_total{class=\"dht\",direction=\"in\"}"), 0);
    EXPECT_GT(scrapes[i].sum("synapse_fuse_operation_duration_seconds_count"), 0) << i;
  }
  // Node 0 wrote the file; node 1 fetched it once and then read it from its cache.
  EXPECT_GT(scrapes[0].sum("synapse_fuse_operation_duration_seconds_count", "op=\"write\""), 0);
  EXPECT_GT(scrapes[1].sum("synapse_fuse_operation_duration_seconds_count", "op=\"read\""), 0);
  EXPECT_GE(scrapes[1].value("synapse_fs_cache_misses_total"), 1);
  EXPECT_GE(scrapes[1].value("synapse_fs_cache_hits_total"), 1);
  EXPECT_GT(scrapes[0].value("synapse_store_bytes"), 0);
  // The job: coordinated (and counted as ended) by node 2, run by exactly one node.
  EXPECT_EQ(scrapes[2].value("synapse_jobs_ended_total{state=\"succeeded\"}"), 1);
  double ran = 0;
  for (const Scrape& s : scrapes)
    ran += s.value("synapse_sandbox_ends_total{outcome=\"succeeded\"}");
  EXPECT_EQ(ran, 1);
  for (const Scrape& s : scrapes) EXPECT_EQ(s.sum("synapse_sandbox_failures_total"), 0);

  // Every metric the Grafana dashboard queries is one the nodes export.
  const json dashboard = json::parse(read_text(GRAFANA_DASHBOARD), nullptr, false);
  ASSERT_TRUE(dashboard.is_object());
  const std::regex metric_name("synapse_[a-z_]+");
  size_t queried = 0;
  for (const json& panel : dashboard["panels"]) {
    for (const json& target : panel["targets"]) {
      const std::string expr = target["expr"].get<std::string>();
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric_name), end; it != end; ++it) {
        std::string name = it->str();
        for (const char* suffix : {"_bucket", "_count", "_sum"}) {
          const std::string s(suffix);
          if (name.size() > s.size() && name.ends_with(s) &&
              scrapes[0].types.count(name.substr(0, name.size() - s.size()))) {
            name.resize(name.size() - s.size());
          }
        }
        EXPECT_TRUE(scrapes[0].types.count(name)) << panel["title"] << " queries " << name;
        ++queried;
      }
    }
  }
  EXPECT_GT(queried, 15u);

  // The JSON the status page reads.
  const auto status = http_get(0, "/api/status");
  ASSERT_EQ(status.exit_code, 0);
  const json parsed = json::parse(status.out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << status.out;
  EXPECT_EQ(parsed["node_id"], id_of(0));
  EXPECT_TRUE(parsed["warnings"].empty()) << parsed["warnings"].dump();
  // Read-only: anything but GET and HEAD is refused.
  const auto post =
      sh(namespaces_->enter_net(0) + " curl -s -o /dev/null -w '%{http_code}' -X POST http://" +
         http_address(0) + "/metrics");
  EXPECT_EQ(post.out, "405");
}

TEST_F(Operations, SighupReloadsLabelsAndSigtermStopsCleanlyWithinTenSeconds) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.88.0"));
  // A label added to node 1's config and SIGHUP: the others see it in its advert.
  swarm_.configure(1, "[jobs]\nlabels = [\"gpu-lab\"]\n");
  ASSERT_EQ(::kill(pid_of(1), SIGHUP), 0);
  ASSERT_TRUE(eventually(
      [&] {
        const auto peers = swarm_.cli(0, {"peers", "--json"});
        const json parsed = json::parse(peers.out, nullptr, false);
        if (!parsed.is_object()) return false;
        for (const json& peer : parsed["peers"]) {
          if (peer["id"] == id_of(1) && peer.contains("resources") &&
              peer["resources"]["labels"] == json::array({"gpu-lab"})) {
            return true;
          }
        }
        return false;
      },
      20s))
      << swarm_.log(1);
  EXPECT_NE(swarm_.log(1).find("SIGHUP: config reloaded"), std::string::npos);
  // A broken config is refused; the node keeps running with what it had.
  swarm_.configure(1, "[jobs]\nlabels = 7\n");
  ASSERT_EQ(::kill(pid_of(1), SIGHUP), 0);
  ASSERT_TRUE(eventually(
      [&] {
        return swarm_.log(1).find("SIGHUP: keeping the running settings") != std::string::npos;
      },
      10s));
  EXPECT_TRUE(swarm_.call(1, "status").has_value());

  // SIGTERM: unmounted, stopped, exit code 0, within 10 s.
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pid_of(2), SIGTERM), 0);
  const int code = swarm_.node(2).process->wait_exit(15s);
  const auto took = std::chrono::steady_clock::now() - started;
  swarm_.node(2).process.reset();
  EXPECT_EQ(code, 0) << swarm_.log(2);
  EXPECT_LT(took, 10s);
  EXPECT_NE(sh("mountpoint -q " + mount_dir(2).string()).exit_code, 0) << "still mounted";
  EXPECT_NE(swarm_.log(2).find("stopped"), std::string::npos);
}

TEST_F(Operations, TheStatusPageInHeadlessChromiumShowsPeersStorageAndJobs) {
  const std::string chromium = "/usr/bin/chromium";
  if (::access(chromium.c_str(), X_OK) != 0) GTEST_SKIP() << "needs Debian's chromium";
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.89.0"));
  ASSERT_NO_FATAL_FAILURE(use_the_swarm());

  const fsys::path output = fsys::path(TEST_OUTPUT_DIR) / "status-page";
  fsys::create_directories(output);
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --disable-background-networking"
      " --no-first-run --user-data-dir=" +
      (swarm_.dir().path() / "chromium").string() + " --virtual-time-budget=8000";
  const std::string url = "http://" + http_address(0) + "/";
  // The page's script polls every 2 s; the jobs list is read once the page asked for it.
  json peers_rows;
  std::string dom;
  ASSERT_TRUE(eventually(
      [&] {
        const auto dumped = sh(namespaces_->enter_net(0) + " " + chromium + flags + " --dump-dom " +
                                   url + " 2>/dev/null",
                               60s);
        dom = dumped.out;
        return dom.find("data-loaded=\"true\"") != std::string::npos &&
               dom.find("data-state=\"succeeded\"") != std::string::npos;
      },
      90s))
      << dom.substr(0, 4000);
  // Both other nodes as rows of the peers table, by node ID.
  for (size_t i : {1, 2}) {
    EXPECT_NE(dom.find("data-node=\"" + id_of(i) + "\""), std::string::npos) << i;
  }
  EXPECT_EQ(dom.find("data-node=\"" + id_of(0) + "\""), std::string::npos) << "not itself";
  EXPECT_NE(dom.find(">count<"), std::string::npos) << "the job's name";
  EXPECT_NE(dom.find("id=\"peer-count\">2<"), std::string::npos);
  EXPECT_NE(dom.find("healthy"), std::string::npos) << "replication health";
  EXPECT_EQ(dom.find("HTTP 5"), std::string::npos);
  std::ofstream(output / "status-page.html") << dom;

  const fsys::path screenshot = output / "status-page.png";
  fsys::remove(screenshot);
  const auto shot =
      sh(namespaces_->enter_net(0) + " " + chromium + flags +
             " --window-size=1280,1000 --screenshot=" + screenshot.string() + " " + url + " 2>&1",
         90s);
  ASSERT_TRUE(fsys::exists(screenshot)) << shot.out;
  EXPECT_GT(fsys::file_size(screenshot), 10'000u);
  std::printf("status page screenshot: %s\n", screenshot.c_str());
}

}  // namespace
}  // namespace synapse::daemon
