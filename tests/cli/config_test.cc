#include "synapse/cli/config.h"

#include <gtest/gtest.h>

namespace synapse::cli {
namespace {

TEST(Config, TheDefaultTextParsesToTheDefaults) {
  Config parsed = Config::parse(Config::default_text(), "config.toml").value();
  Config defaults;
  EXPECT_EQ(parsed.store.capacity, defaults.store.capacity);
  EXPECT_EQ(parsed.store.sync, defaults.store.sync);
  EXPECT_EQ(parsed.import_preset, defaults.import_preset);
  EXPECT_EQ(parsed.swarm.key_file, defaults.swarm.key_file);
  EXPECT_EQ(parsed.swarm.key_file, "swarm.key");
  EXPECT_FALSE(parsed.swarm.ca);
  EXPECT_FALSE(parsed.swarm.require_certificate);
  EXPECT_FALSE(parsed.swarm.revocation_list);
  EXPECT_EQ(parsed.network.listen, defaults.network.listen);
  EXPECT_EQ(parsed.network.listen.to_string(), "0.0.0.0:4747");
  EXPECT_TRUE(parsed.network.bootstrap.empty());
  EXPECT_TRUE(parsed.discovery.enabled);
  EXPECT_EQ(parsed.discovery.group, dht::default_discovery_group());
  EXPECT_TRUE(parsed.discovery.interfaces.empty());
  EXPECT_EQ(parsed.discovery.interval, defaults.discovery.interval);
  EXPECT_EQ(parsed.log.level, "info");
  EXPECT_EQ(parsed.log.file, "synapse.log");
  EXPECT_EQ(parsed.store_replication, 3u);
  EXPECT_EQ(parsed.repair_interval, std::chrono::seconds(30));
  EXPECT_EQ(parsed.max_upload_rate, 0u);
  EXPECT_EQ(parsed.fs_cache_size, uint64_t{4} << 30);
  EXPECT_EQ(parsed.fsync_timeout, std::chrono::seconds(60));
  EXPECT_FALSE(parsed.fs_mount);
  EXPECT_TRUE(parsed.http.enabled);
  EXPECT_EQ(parsed.http.listen.to_string(), "127.0.0.1:9477");
}

TEST(Config, ReadsTheMountPointAndTheHttpServer) {
  Config config = Config::parse(
                      "[fs]\nmount = \"/synapse\"\n"
                      "[http]\nenabled = false\nlisten = \"0.0.0.0:9100\"\n",
                      "c.toml")
                      .value();
  EXPECT_EQ(config.fs_mount, std::filesystem::path("/synapse"));
  EXPECT_FALSE(config.http.enabled);
  EXPECT_EQ(config.http.listen.to_string(), "0.0.0.0:9100");
}

TEST(Config, ReadsReplicationAndExchangeKeys) {
  Config config = Config::parse(
                      "[store]\nreplication = 5\nrepair_interval = \"3s\"\n"
                      "[exchange]\nmax_upload_rate = \"20M\"\n"
                      "[fs]\ncache_size = \"100M\"\nfsync_timeout = \"5s\"\n",
                      "c.toml")
                      .value();
  EXPECT_EQ(config.store_replication, 5u);
  EXPECT_EQ(config.repair_interval, std::chrono::seconds(3));
  EXPECT_EQ(config.max_upload_rate, 20u << 20);
  EXPECT_EQ(config.fs_cache_size, 100u << 20);
  EXPECT_EQ(config.fsync_timeout, std::chrono::seconds(5));
  const std::pair<const char*, const char*> cases[] = {
      {"[store]\nreplication = 0", "c.toml:2: store.replication: expected a whole number 1..20"},
      {"[store]\nreplication = \"3\"", "c.toml:2: store.replication:"},
      {"[store]\nrepair_interval = \"1ms\"", "c.toml:2: store.repair_interval: must be at least"},
      {"[exchange]\nmax_upload_rate = \"fast\"", "c.toml:2: exchange.max_upload_rate:"},
      {"[exchange]\nrate = 1", "c.toml:2: exchange.rate: unknown key"},
      {"[fs]\ncache_size = \"big\"", "c.toml:2: fs.cache_size:"},
      {"[fs]\nmount = \"synapse\"", "c.toml:2: fs.mount: expected an absolute path"},
      {"[http]\nlisten = \"localhost\"", "c.toml:2: http.listen:"},
      {"[http]\nport = 9477", "c.toml:2: http.port: unknown key"},
      {"[http]\nenabled = 1", "c.toml:2: http.enabled: expected true or false"},
  };
  for (const auto& [text, expected] : cases) {
    auto parsed = Config::parse(text, "c.toml");
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().message().rfind(expected, 0), 0u)
        << text << " gave " << parsed.error().message();
  }
}

TEST(Config, ReadsTheNetworkDiscoveryAndLogTables) {
  Config config = Config::parse(R"([network]
listen = "[::]:5000"
bootstrap = ["10.0.0.5:4747", "[fd00::2]:4747"]
[discovery]
enabled = false
group = "239.1.2.3:6000"
interfaces = ["eth0", "wlan0"]
interval = "30s"
[log]
level = "debug"
file = "/var/log/synapse.log"
)",
                                "c.toml")
                      .value();
  EXPECT_EQ(config.network.listen.to_string(), "[::]:5000");
  ASSERT_EQ(config.network.bootstrap.size(), 2u);
  EXPECT_EQ(config.network.bootstrap[1].to_string(), "[fd00::2]:4747");
  EXPECT_FALSE(config.discovery.enabled);
  EXPECT_EQ(config.discovery.group.to_string(), "239.1.2.3:6000");
  EXPECT_EQ(config.discovery.interfaces, (std::vector<std::string>{"eth0", "wlan0"}));
  EXPECT_EQ(config.discovery.interval, std::chrono::seconds(30));
  EXPECT_EQ(config.log.level, "debug");
  EXPECT_EQ(config.log.file, "/var/log/synapse.log");
}

TEST(Config, NetworkErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"[network]\nlisten = \"nowhere\"", "c.toml:2: network.listen:"},
      {"[network]\nlisten = 4747", "c.toml:2: network.listen:"},
      {"[network]\nbootstrap = \"10.0.0.1:1\"", "c.toml:2: network.bootstrap:"},
      {"[network]\nbootstrap = [\"10.0.0.1\"]", "c.toml:2: network.bootstrap:"},
      {"[network]\nport = 1", "c.toml:2: network.port: unknown key"},
      {"[discovery]\ngroup = \"10.0.0.1:4748\"", "c.toml:2: discovery.group:"},
      {"[discovery]\ninterval = \"10ms\"", "c.toml:2: discovery.interval: must be at least"},
      {"[discovery]\nenabled = \"yes\"", "c.toml:2: discovery.enabled: expected true or false"},
      {"[discovery]\ninterfaces = [\"\"]", "c.toml:2: discovery.interfaces:"},
      {"[log]\nlevel = \"loud\"", "c.toml:2: log.level: expected one of"},
      {"network = 1", "c.toml:1: network: expected a table"},
  };
  for (const auto& [text, expected] : cases) {
    auto config = Config::parse(text, "c.toml");
    ASSERT_FALSE(config) << text;
    EXPECT_EQ(config.error().message().rfind(expected, 0), 0u)
        << text << " gave " << config.error().message();
  }
}

constexpr std::string_view kCaKey =
    "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

TEST(Config, ReadsTheSwarmTable) {
  std::string text = "[swarm]\nkey_file = \"/etc/synapse/swarm.key\"\nca = \"" +
                     std::string(kCaKey) +
                     "\"\nrequire_certificate = true\nrevocation_list = \"revoked.crl\"\n";
  Config config = Config::parse(text, "c.toml").value();
  EXPECT_EQ(config.swarm.key_file, "/etc/synapse/swarm.key");
  ASSERT_TRUE(config.swarm.ca);
  EXPECT_EQ((*config.swarm.ca)[0], 0xd7);
  EXPECT_EQ((*config.swarm.ca)[31], 0x1a);
  EXPECT_TRUE(config.swarm.require_certificate);
  EXPECT_EQ(config.swarm.revocation_list, std::filesystem::path("revoked.crl"));
  // Relative paths resolve against the home folder, absolute ones stay.
  EXPECT_EQ(std::filesystem::path("/home/n") / config.swarm.key_file, "/etc/synapse/swarm.key");
  EXPECT_EQ(std::filesystem::path("/home/n") / *config.swarm.revocation_list,
            "/home/n/revoked.crl");
}

TEST(Config, SwarmErrorsNameTheKey) {
  auto required = Config::parse("[swarm]\n\nrequire_certificate = true\n", "c.toml");
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().message().rfind("c.toml:3: swarm.require_certificate: true needs "
                                             "swarm.ca",
                                             0),
            0u);
  auto list = Config::parse("[swarm]\nrevocation_list = \"revoked.crl\"\n", "c.toml");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message().find("c.toml:2: swarm.revocation_list: needs swarm.ca"),
            std::string::npos);
  auto bad_key = Config::parse("[swarm]\nca = \"ed25519:1234\"\n", "c.toml");
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.error().message().find("c.toml:2: swarm.ca: invalid public key"),
            std::string::npos);
  auto no_prefix =
      Config::parse("[swarm]\nca = \"" + std::string(kCaKey.substr(8)) + "\"\n", "c.toml");
  ASSERT_FALSE(no_prefix);
  EXPECT_NE(no_prefix.error().message().find("expected \"ed25519:\""), std::string::npos);
  auto bad_bool = Config::parse("[swarm]\nrequire_certificate = 1\n", "c.toml");
  ASSERT_FALSE(bad_bool);
  EXPECT_NE(bad_bool.error().message().find("expected true or false"), std::string::npos);
  auto empty_path = Config::parse("[swarm]\nkey_file = \"\"\n", "c.toml");
  ASSERT_FALSE(empty_path);
  EXPECT_NE(empty_path.error().message().find("swarm.key_file: expected a file path"),
            std::string::npos);
  auto unknown = Config::parse("[swarm]\nrequire_cert = true\n", "c.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "c.toml:2: swarm.require_cert: unknown key");
  auto not_table = Config::parse("swarm = 3\n", "c.toml");
  ASSERT_FALSE(not_table);
  EXPECT_NE(not_table.error().message().find("swarm: expected a table"), std::string::npos);
}

TEST(Config, ReadsEveryKey) {
  Config config =
      Config::parse(
          "[store]\ncapacity = \"1.5G\"\nsync = false\n[import]\npreset = \"kubo-default\"\n",
          "c.toml")
          .value();
  EXPECT_EQ(config.store.capacity, 3ull << 29);
  EXPECT_FALSE(config.store.sync);
  EXPECT_EQ(config.import_preset, "kubo-default");
}

TEST(Config, SizesAreUnitStringsOrPlainByteCounts) {
  EXPECT_EQ(Config::parse("[store]\ncapacity = 1048576\n", "c.toml").value().store.capacity,
            1048576u);
  EXPECT_EQ(Config::parse("[store]\ncapacity = \"2M\"\n", "c.toml").value().store.capacity,
            2u << 20);
  auto negative = Config::parse("[store]\ncapacity = -5\n", "c.toml");
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().message(), "c.toml:2: store.capacity: must not be negative");
  EXPECT_FALSE(Config::parse("[store]\ncapacity = 1.5\n", "c.toml"));
}

TEST(Config, ErrorsNameTheFileLineAndKey) {
  auto unknown = Config::parse("[store]\ncapcity = \"1G\"\n", "c.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "c.toml:2: store.capcity: unknown key");

  auto bad_size = Config::parse("[store]\n\ncapacity = \"lots\"\n", "c.toml");
  ASSERT_FALSE(bad_size);
  EXPECT_NE(bad_size.error().message().find("c.toml:3: store.capacity"), std::string::npos);

  auto bad_type = Config::parse("[store]\nsync = \"yes\"\n", "c.toml");
  ASSERT_FALSE(bad_type);
  EXPECT_NE(bad_type.error().message().find("store.sync: expected true or false"),
            std::string::npos);

  auto bad_preset = Config::parse("[import]\npreset = \"fast\"\n", "c.toml");
  ASSERT_FALSE(bad_preset);
  EXPECT_NE(bad_preset.error().message().find("unknown preset 'fast'"), std::string::npos);

  auto syntax = Config::parse("[store\n", "c.toml");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().message().rfind("c.toml:1: ", 0), 0u);

  auto section = Config::parse("[nonsense]\n", "c.toml");
  ASSERT_FALSE(section);
  EXPECT_NE(section.error().message().find("nonsense: unknown key"), std::string::npos);
}

}  // namespace
}  // namespace synapse::cli
