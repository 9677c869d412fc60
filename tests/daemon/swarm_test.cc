// Real `synapse up` processes: a 20-node swarm on loopback, restarts through saved peers, an
// outsider with another swarm key, detached nodes, and nodes in separate network namespaces
// that find each other by LAN discovery alone. Every process is killed and every namespace
// removed at the end, also when an assertion fails (the harness: swarm_harness.h).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <random>

#include "swarm_harness.h"

namespace synapse::daemon {
namespace {

using namespace std::chrono_literals;
using namespace harness;

std::vector<std::string> values_of(const json& get) {
  std::vector<std::string> values;
  for (const json& value : get["values"]) values.push_back(value["value"].get<std::string>());
  return values;
}

TEST(SynapseUp, TwentyNodesOnLoopbackJoinAndServePutsAndGets) {
  constexpr size_t kNodes = 20;
  Swarm swarm;
  for (size_t i = 0; i < kNodes; ++i) swarm.add_home();
  json first = swarm.start_loopback(0);
  ASSERT_TRUE(first.is_object()) << swarm.log(0);
  const std::string seed = first["listen"].get<std::string>();
  for (size_t i = 1; i < kNodes; ++i) {
    ASSERT_TRUE(swarm.start_loopback(i, {"--bootstrap", seed}).is_object()) << swarm.log(i);
  }
  for (size_t i = 0; i < kNodes; ++i) {
    EXPECT_TRUE(eventually([&] { return swarm.peers(i) >= kNodes / 2; }, 30s))
        << "node " << i << " has " << swarm.peers(i) << " peers\n"
        << swarm.log(i);
  }

  const uint32_t seed_value = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed_value));
  std::mt19937 random(seed_value);
  for (int op = 0; op < 30; ++op) {
    const size_t writer = random() % kNodes;
    const size_t reader = (writer + 1 + random() % (kNodes - 1)) % kNodes;
    const std::string key = "key-" + std::to_string(op);
    auto put = swarm.call(writer, "dht.put", {{"key", key}, {"value", "value " + key}});
    ASSERT_TRUE(put) << put.error().message();
    EXPECT_GE((*put)["acked"].get<size_t>(), 10u);
    auto get = swarm.call(reader, "dht.get", {{"key", key}});
    ASSERT_TRUE(get) << get.error().message();
    EXPECT_EQ(values_of(*get), std::vector<std::string>{"value " + key})
        << "put on " << writer << ", get on " << reader;
  }

  // Providers, and the CLI commands against a running node.
  ASSERT_TRUE(swarm.call(3, "dht.provide", {{"key", "dataset"}}));
  auto providers = swarm.cli(15, {"dht", "providers", "dataset"});
  EXPECT_EQ(providers.exit_code, 0) << providers.err;
  EXPECT_NE(providers.out.find(swarm.node(3).ready["node_id"].get<std::string>()),
            std::string::npos)
      << providers.out;
  auto get = swarm.cli(7, {"dht", "get", "key-0"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("value key-0"), std::string::npos) << get.out;
  EXPECT_EQ(swarm.cli(7, {"dht", "get", "never-written"}).exit_code, 1);

  auto peers = swarm.cli(5, {"peers", "--json"});
  ASSERT_EQ(peers.exit_code, 0) << peers.err;
  const json peer_list = json::parse(peers.out)["peers"];
  EXPECT_EQ(peer_list.size(), swarm.peers(5));
  for (const json& peer : peer_list) {
    EXPECT_EQ(peer["address"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << peer.dump();
  }
  auto status = swarm.cli(5, {"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("peers connected"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("not joined"), std::string::npos) << status.out;

  // Logs carry the node's short ID.
  EXPECT_NE(
      swarm.log(9).find("[" + swarm.node(9).ready["node_id"].get<std::string>().substr(0, 8) + "]"),
      std::string::npos);
}

TEST(SynapseUp, RestartedNodeRejoinsThroughItsSavedPeers) {
  Swarm swarm;
  for (size_t i = 0; i < 5; ++i) swarm.add_home();
  const std::string seed = swarm.start_loopback(0)["listen"].get<std::string>();
  for (size_t i = 1; i < 5; ++i) swarm.start_loopback(i, {"--bootstrap", seed});
  for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(eventually([&] { return swarm.peers(i) >= 3; }, 20s));
  ASSERT_TRUE(swarm.call(1, "dht.put", {{"key", "kept"}, {"value", "across restarts"}}));

  auto down = swarm.cli(4, {"down"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(swarm.node(4).process->wait_exit(10s), 0);
  ASSERT_TRUE(std::filesystem::exists(swarm.node(4).home / "peers.json"));

  // No bootstrap list and no discovery: only peers.json can bring it back.
  json ready = swarm.start_loopback(4);
  ASSERT_TRUE(ready.is_object()) << swarm.log(4);
  EXPECT_GE(ready["peers"].get<size_t>(), 1u) << swarm.log(4);
  auto get = swarm.call(4, "dht.get", {{"key", "kept"}});
  ASSERT_TRUE(get);
  EXPECT_EQ(values_of(*get), std::vector<std::string>{"across restarts"});
}

TEST(SynapseUp, NodeWithAnotherSwarmKeyCannotJoin) {
  Swarm swarm;
  swarm.add_home();
  swarm.add_home();
  const std::filesystem::path other_key = swarm.dir() / "other.key";
  ASSERT_EQ(testing::run_command({kSynapse, "swarm", "new", "-o", other_key.string()}).exit_code,
            0);
  const size_t outsider = swarm.add_home(other_key);
  const std::string seed = swarm.start_loopback(0)["listen"].get<std::string>();
  swarm.start_loopback(1, {"--bootstrap", seed});
  json ready = swarm.start_loopback(outsider, {"--bootstrap", seed});
  ASSERT_TRUE(ready.is_object()) << swarm.log(outsider);
  EXPECT_EQ(ready["peers"], 0);
  auto status = swarm.call(outsider, "status");
  ASSERT_TRUE(status);
  EXPECT_FALSE((*status)["joined"].get<bool>());
  auto member = swarm.call(0, "status");
  ASSERT_TRUE(member);
  EXPECT_GE((*member)["transport"]["handshakes_failed_wrong_key"].get<uint64_t>(), 1u);
  EXPECT_EQ((*member)["peers"], 1);
}

TEST(SynapseUp, SecondNodeOnTheSameHomeIsRefused) {
  Swarm swarm;
  swarm.add_home();
  ASSERT_TRUE(swarm.start_loopback(0).is_object());
  auto second = swarm.cli(0, {"up", "--listen", "127.0.0.1:0", "--no-discovery"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
}

TEST(SynapseStatus, WarnsOfNoPeersANearlyFullStoreAndAnExpiringCertificate) {
  Swarm swarm;
  swarm.add_home();
  swarm.configure(0, "[store]\ncapacity = \"1M\"\n");
  const std::string ca = (swarm.dir().path() / "ca").string();
  const std::string cert = (swarm.dir().path() / "lab.cert").string();
  ASSERT_EQ(synapse::testing::run_command({kSynapse, "ca", "init", "--ca-dir", ca}).exit_code, 0);
  std::string id = swarm.cli(0, {"id"}).out;
  id.erase(id.find_last_not_of("\n") + 1);
  ASSERT_EQ(synapse::testing::run_command({kSynapse, "ca", "sign", id, "--name", "lab", "--days",
                                           "3", "--ca-dir", ca, "-o", cert})
                .exit_code,
            0);
  ASSERT_EQ(swarm.cli(0, {"cert", "install", cert}).exit_code, 0);
  const auto data = swarm.dir().path() / "data.bin";
  std::string bytes(950'000, '\0');
  std::mt19937 random(7);  // not repetitive: identical chunks would be stored once
  for (char& byte : bytes) byte = static_cast<char>(random());
  std::ofstream(data, std::ios::binary) << bytes;
  ASSERT_EQ(swarm.cli(0, {"add", data.string()}).exit_code, 0);
  ASSERT_TRUE(swarm.start_loopback(0).is_object()) << swarm.log(0);
  // "No peers" only once a lone node has had time to find some (10 s).
  json warnings;
  ASSERT_TRUE(eventually(
      [&] {
        auto status = swarm.call(0, "status");
        if (!status) return false;
        warnings = (*status)["warnings"];
        return warnings.size() == 3;
      },
      20s))
      << warnings.dump();
  const auto text = swarm.cli(0, {"status"});
  EXPECT_NE(text.out.find("warnings\n  ! no peers"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("store nearly full: 90 %"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("certificate expires in 2 days"), std::string::npos) << text.out;
}

TEST(SynapseStatus, WarnsOfAPeerWhoseClockIsOff) {
  Swarm swarm;
  swarm.add_home();
  swarm.add_home();
  const std::string seed = swarm.start_loopback(0)["listen"].get<std::string>();
  ASSERT_TRUE(
      swarm.start_loopback(1, {"--bootstrap", seed}, {"SYNAPSE_FAULTS=advert-clock-offset=90s"})
          .is_object())
      << swarm.log(1);
  const std::string late = swarm.node(1).ready["node_id"].get<std::string>().substr(0, 8);
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        text = swarm.cli(0, {"status"}).out;
        return text.find("clock skew: node " + late + "'s clock is") != std::string::npos;
      },
      20s))
      << text;
  EXPECT_NE(text.find("s ahead of ours"), std::string::npos) << text;
  // Only the adverts of node 1 are off, not its clock: node 0's adverts look right to it.
  const std::string other = swarm.cli(1, {"status"}).out;
  EXPECT_EQ(other.find("clock skew"), std::string::npos) << other;
}

TEST(SynapseUp, DetachedNodeServesUntilDown) {
  Swarm swarm;
  swarm.add_home();
  auto up = swarm.cli(0, {"up", "--detach", "--json", "--listen", "127.0.0.1:0", "--no-discovery"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const json ready = json::parse(up.out);
  const pid_t pid = ready["pid"].get<int>();
  // Whatever happens below, the detached node does not outlive the test.
  std::unique_ptr<void, std::function<void(void*)>> reaper(reinterpret_cast<void*>(1),
                                                           [pid](void*) { ::kill(pid, SIGKILL); });
  auto status = swarm.cli(0, {"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(json::parse(status.out)["pid"], pid);
  auto down = swarm.cli(0, {"down"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_TRUE(eventually([&] { return !running(pid); }, 5s));
  EXPECT_FALSE(std::filesystem::exists(swarm.node(0).home / "control.sock"));
  auto after = swarm.cli(0, {"status"});
  EXPECT_EQ(after.exit_code, 1);
  EXPECT_NE(after.err.find("no node is running"), std::string::npos) << after.err;
  std::ifstream log(swarm.node(0).home / "synapse.log");
  EXPECT_NE(std::string(std::istreambuf_iterator<char>(log), {}).find("stopped"),
            std::string::npos);
}

TEST(SynapseUp, ControlMethodsRejectBadParameters) {
  Swarm swarm;
  swarm.add_home();
  ASSERT_TRUE(swarm.start_loopback(0).is_object()) << swarm.log(0);
  const std::pair<const char*, json> cases[] = {
      {"dht.put", {{"value", "v"}}},
      {"dht.put", {{"key", "k"}}},
      {"dht.put", {{"key", "k"}, {"value", "v"}, {"ttl", 0}}},
      {"dht.put", {{"key", "k"}, {"value", "v"}, {"ttl", 8 * 24 * 3600}}},
      {"dht.put", {{"key", "k"}, {"value", std::string(1025, 'x')}}},
      {"dht.get", {{"key", 7}}},
      {"dht.providers", json::object()},
      {"no.such.method", json::object()},
  };
  for (const auto& [method, params] : cases) {
    auto result = swarm.call(0, method, params);
    ASSERT_FALSE(result) << method << " " << params.dump();
    EXPECT_EQ(result.error().code(), core::ErrorCode::kInvalidArgument)
        << method << " " << params.dump() << ": " << result.error().message();
  }
  // The node still serves after the refusals.
  EXPECT_TRUE(swarm.call(0, "status"));
}

TEST(SynapseUp, BadConfigIsReportedWithFileLineAndKey) {
  Swarm swarm;
  swarm.add_home();
  const std::filesystem::path config = swarm.dir() / "custom.toml";
  std::ofstream(config) << "[network]\nlisten = \"127.0.0.1:0\"\nbootstrap = [\"nowhere\"]\n";
  auto up = swarm.cli(0, {"--config", config.string(), "up"});
  EXPECT_EQ(up.exit_code, 1);
  EXPECT_NE(up.err.find("custom.toml:3: network.bootstrap"), std::string::npos) << up.err;
}

TEST(SynapseUp, NodesInSeparateNamespacesFindEachOtherByMulticastAlone) {
  if (!can_use_namespaces()) GTEST_SKIP() << "needs root and ip netns";
  constexpr size_t kNodes = 4;
  BridgedNamespaces namespaces(kNodes, "10.78.0");
  Swarm swarm;
  ASSERT_TRUE(namespaces.ok());
  for (size_t i = 0; i < kNodes; ++i) {
    swarm.add_home();
    // Default config: listen on every address, LAN discovery on, no bootstrap list.
    json ready = swarm.start(i, {"--listen", "0.0.0.0:0"}, namespaces.exec(i));
    ASSERT_TRUE(ready.is_object()) << swarm.log(i);
  }
  for (size_t i = 0; i < kNodes; ++i) {
    EXPECT_TRUE(eventually([&] { return swarm.peers(i) == kNodes - 1; }, 30s))
        << "node " << i << " has " << swarm.peers(i) << " peers\n"
        << swarm.log(i);
  }
  auto status = swarm.call(2, "status");
  ASSERT_TRUE(status);
  EXPECT_GT((*status)["discovery"]["beacons_received"].get<uint64_t>(), 0u);
  auto peers = swarm.call(2, "peers");
  ASSERT_TRUE(peers);
  for (const json& peer : (*peers)["peers"]) {
    EXPECT_EQ(peer["address"].get<std::string>().rfind("10.78.0.", 0), 0u) << peer.dump();
  }
  ASSERT_TRUE(swarm.call(0, "dht.put", {{"key", "lan"}, {"value", "found by beacons"}}));
  auto get = swarm.call(kNodes - 1, "dht.get", {{"key", "lan"}});
  ASSERT_TRUE(get);
  EXPECT_EQ(values_of(*get), std::vector<std::string>{"found by beacons"});
}

}  // namespace
}  // namespace synapse::daemon
