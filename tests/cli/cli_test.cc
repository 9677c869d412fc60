// End-to-end tests of the `synapse` executable: what a user types and sees.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "run_command.h"
#include "synapse/core/rng.h"
#include "test_util.h"

namespace synapse {
namespace {

using testing::CommandResult;
using testing::TempDir;

class Cli : public ::testing::Test {
 protected:
  CommandResult synapse(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {SYNAPSE_BINARY, "--home", (dir_ / "home").string()});
    return testing::run_command(args, input);
  }

  std::string write_file(const std::string& name, const std::string& content) {
    std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string random_content(size_t size, uint64_t seed) {
    core::SeededRng rng(seed);
    std::string out(size, '\0');
    rng.fill({reinterpret_cast<uint8_t*>(out.data()), out.size()});
    return out;
  }

  // Exactly one line on stderr starting with "synapse: ".
  static void expect_one_error_line(const CommandResult& r, const std::string& fragment) {
    EXPECT_EQ(r.err.rfind("synapse: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  }

  void init() { ASSERT_EQ(synapse({"init"}).exit_code, 0); }

  TempDir dir_;
};

TEST_F(Cli, InitCreatesAPrivateIdentityAndPrintsTheNodeId) {
  CommandResult r = synapse({"init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size(), 65u);  // 64 hex digits and a newline
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "home/identity.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(synapse({"id"}).out, r.out);

  CommandResult again = synapse({"init"});
  EXPECT_EQ(again.exit_code, 1);
  expect_one_error_line(again, "--force");
  EXPECT_EQ(synapse({"id"}).out, r.out);  // unchanged

  CommandResult forced = synapse({"init", "--force"});
  EXPECT_EQ(forced.exit_code, 0);
  EXPECT_NE(forced.out, r.out);
}

TEST_F(Cli, CommandsNeedAHomeAndSaySo) {
  CommandResult r = synapse({"repo", "stat"});
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "synapse init");
}

TEST_F(Cli, SwarmNewWritesAKeyThatSwarmIdAccepts) {
  CommandResult key = synapse({"swarm", "new"});
  ASSERT_EQ(key.exit_code, 0);
  EXPECT_EQ(key.out.rfind("/key/swarm/psk/1.0.0/\n/base16/\n", 0), 0u);
  std::string path = write_file("swarm.key", key.out);
  CommandResult id = synapse({"swarm", "id", path});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  EXPECT_EQ(id.out.size(), 17u);
  EXPECT_EQ(synapse({"swarm", "id", path}).out, id.out);

  std::string written = (dir_ / "written.key").string();
  ASSERT_EQ(synapse({"swarm", "new", "-o", written}).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(::stat(written.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(synapse({"swarm", "new", "-o", written}).exit_code, 1);
}

TEST_F(Cli, SwarmIdReadsTheKeyFileNamedInTheConfig) {
  init();
  ASSERT_EQ(synapse({"swarm", "new", "-o", (dir_ / "home/team.key").string()}).exit_code, 0);
  EXPECT_EQ(synapse({"swarm", "id"}).exit_code, 1);  // the default swarm.key does not exist
  write_file("home/config.toml", "[swarm]\nkey_file = \"team.key\"\n");
  CommandResult id = synapse({"swarm", "id"});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  EXPECT_EQ(id.out, synapse({"swarm", "id", (dir_ / "home/team.key").string()}).out);
}

TEST_F(Cli, MalformedSwarmKeysGetOneLineNamingTheProblem) {
  std::string path = write_file("bad.key", "/key/swarm/psk/1.0.0/\n/base16/\nabcd\n");
  CommandResult r = synapse({"swarm", "id", path});
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "32");
  std::string wrong_header = write_file("bad2.key", "hello\n");
  expect_one_error_line(synapse({"swarm", "id", wrong_header}), "/key/swarm/psk/1.0.0/");
}

TEST_F(Cli, AddThenCatGivesBackTheSameBytesForEveryPreset) {
  init();
  std::string content = random_content(3 * 1024 * 1024 + 12345, 42);
  std::string path = write_file("data.bin", content);
  for (std::string preset : {"kubo-default", "v1-raw-256k", "v1-2025-1MiB"}) {
    SCOPED_TRACE(preset);
    CommandResult add = synapse({"add", path, "--preset", preset});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    EXPECT_TRUE(add.err.empty()) << add.err;  // no progress bar when not on a terminal
    std::string cid = add.out.substr(0, add.out.size() - 1);
    CommandResult cat = synapse({"cat", cid});
    ASSERT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_TRUE(cat.out == content);
    CommandResult range = synapse({"cat", cid, "--offset", "1000000", "--length", "300000"});
    EXPECT_TRUE(range.out == content.substr(1000000, 300000));
  }
}

TEST_F(Cli, AddFromStandardInputMatchesTheFixtureCid) {
  init();
  CommandResult r = synapse({"add", "-", "--preset", "kubo-default"}, "hello world\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\n");
  CommandResult v1 = synapse({"add", "-"}, "hello world\n");
  EXPECT_EQ(v1.out, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4\n");
}

TEST_F(Cli, BadInputGetsOneErrorLineAndChangesNothing) {
  init();
  std::string before = synapse({"repo", "stat", "--json"}).out;
  CommandResult bad_cid = synapse({"cat", "QmNotACid"});
  EXPECT_EQ(bad_cid.exit_code, 1);
  expect_one_error_line(bad_cid, "invalid CID 'QmNotACid'");
  CommandResult missing =
      synapse({"cat", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"});
  EXPECT_EQ(missing.exit_code, 1);
  expect_one_error_line(missing, "not");
  CommandResult no_file = synapse({"add", (dir_ / "nope").string()});
  EXPECT_EQ(no_file.exit_code, 1);
  expect_one_error_line(no_file, "nope");
  CommandResult bad_preset = synapse({"add", "-", "--preset", "turbo"}, "x");
  EXPECT_EQ(bad_preset.exit_code, 1);
  expect_one_error_line(bad_preset, "turbo");
  CommandResult bad_flag = synapse({"add", "-", "--frobnicate"});
  EXPECT_EQ(bad_flag.exit_code, 1);
  expect_one_error_line(bad_flag, "frobnicate");
  CommandResult bad_offset =
      synapse({"cat", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", "--offset", "minus-one"});
  EXPECT_EQ(bad_offset.exit_code, 1);
  EXPECT_EQ(synapse({"repo", "stat", "--json"}).out, before);
}

TEST_F(Cli, BlockCommandsPinsAndGarbageCollectionWorkTogether) {
  init();
  std::string path = write_file("f", random_content(600 * 1024, 7));
  std::string cid = synapse({"add", path}).out;
  cid.pop_back();
  CommandResult stat = synapse({"block", "stat", cid, "--json"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_NE(stat.out.find("\"references\": 1"), std::string::npos) << stat.out;
  CommandResult rm = synapse({"block", "rm", cid});
  EXPECT_EQ(rm.exit_code, 1);
  expect_one_error_line(rm, "referenced");
  EXPECT_NE(synapse({"pin", "ls"}).out.find(cid), std::string::npos);
  ASSERT_EQ(synapse({"pin", "rm", cid}).exit_code, 0);
  CommandResult gc = synapse({"repo", "gc"});
  EXPECT_EQ(gc.out, "removed 4 blocks, freed 600.2 KiB\n");
  EXPECT_EQ(synapse({"cat", cid}).exit_code, 1);
  CommandResult verify = synapse({"repo", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

TEST_F(Cli, AStoreAtCapacityRefusesAddsWithStoreFull) {
  init();
  write_file("home/config.toml", "[store]\ncapacity = \"1M\"\n");
  std::string path = write_file("big", random_content(3 * 1024 * 1024, 9));
  CommandResult r = synapse({"add", path});
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "store full");
  EXPECT_NE(synapse({"repo", "stat"}).out.find("blocks           0"), std::string::npos);
}

TEST_F(Cli, HelpIsUsefulAndExitsZero) {
  CommandResult r = synapse({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command : {"init", "swarm", "add", "cat", "block", "repo", "pin"}) {
    EXPECT_NE(r.out.find(command), std::string::npos) << command;
  }
  CommandResult add_help = synapse({"add", "--help"});
  EXPECT_EQ(add_help.exit_code, 0);
  EXPECT_NE(add_help.out.find("--preset"), std::string::npos);
}

}  // namespace
}  // namespace synapse
