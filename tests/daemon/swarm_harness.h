// A harness for tests that run real `synapse up` processes: a swarm of node homes sharing one
// swarm key (Swarm), nodes started on loopback, in network namespaces (BridgedNamespaces) or
// with extra environment variables, config edits, control calls and CLI runs against a node,
// and bounded polling (eventually).
//
// Cleanup: every node process is a Child and is killed (SIGKILL) and reaped when the Swarm is
// destroyed, and the homes are removed with the Swarm's temporary folder, also when an
// assertion fails. BridgedNamespaces deletes its namespaces on destruction; declare it before
// the Swarm so that the nodes die before their namespaces go. Processes a test detaches
// (`up --detach`) are the test's to kill.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "cli/run_command.h"
#include "synapse/daemon/control.h"
#include "test_util.h"

namespace synapse::daemon::harness {

using namespace std::chrono_literals;
using nlohmann::json;
using synapse::testing::Child;
using synapse::testing::run_quiet;
using Clock = std::chrono::steady_clock;

inline const std::string kSynapse = SYNAPSE_BINARY;

// Polls `condition` every 50 ms until it holds or `timeout` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// True while `pid` runs (a zombie, exited but not yet reaped by its new parent, does not).
inline bool running(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text(std::istreambuf_iterator<char>(stat), {});
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

// Merges `toml` (section headers and `key = value` lines) into the TOML file `path`: a key the
// file already sets in that section is replaced, a new key goes right under its section's
// header, a new section is appended. Comments and everything else in the file stay.
inline void merge_toml(const std::filesystem::path& path, const std::string& toml) {
  std::vector<std::string> lines;
  {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  const auto trim = [](std::string text) {
    const size_t first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return std::string();
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
  };
  const auto header_of = [&](const std::string& line) {
    const std::string text = trim(line);
    return text.size() > 2 && text.front() == '[' && text.back() == ']'
               ? trim(text.substr(1, text.size() - 2))
               : std::string();
  };
  const auto key_of = [&](const std::string& line) {
    const std::string text = trim(line);
    const size_t equals = text.find('=');
    return text.empty() || text[0] == '#' || equals == std::string::npos
               ? std::string()
               : trim(text.substr(0, equals));
  };
  std::string section;
  std::istringstream edits(toml);
  for (std::string edit; std::getline(edits, edit);) {
    if (!header_of(edit).empty()) {
      section = header_of(edit);
      continue;
    }
    const std::string key = key_of(edit);
    if (key.empty()) continue;
    // Find the section's lines [begin, end) (top-level keys: up to the first header).
    bool found = section.empty();
    size_t begin = 0, end = lines.size();
    for (size_t n = 0; n < lines.size(); ++n) {
      const std::string header = header_of(lines[n]);
      if (header.empty()) continue;
      if (found) {
        end = n;
        break;
      }
      if (header == section) {
        found = true;
        begin = n + 1;
      }
    }
    if (!found) {
      lines.push_back("");
      lines.push_back("[" + section + "]");
      lines.push_back(trim(edit));
      continue;
    }
    bool replaced = false;
    for (size_t n = begin; n < end && !replaced; ++n) {
      if (key_of(lines[n]) == key) {
        lines[n] = trim(edit);
        replaced = true;
      }
    }
    if (!replaced) lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(begin), trim(edit));
  }
  std::ofstream out(path, std::ios::trunc);
  for (const std::string& line : lines) out << line << "\n";
}

// Homes for nodes of one swarm (one swarm key), and the node processes running on them.
class Swarm {
 public:
  struct Node {
    std::filesystem::path home;
    std::unique_ptr<Child> process;
    json ready;
  };

  Swarm() {
    EXPECT_EQ(synapse::testing::run_command(
                  {kSynapse, "swarm", "new", "-o", (dir_ / "swarm.key").string()})
                  .exit_code,
              0);
    // Jobs run as nobody and reach their folders (and the mounts) below this one.
    std::filesystem::permissions(
        dir_.path(), std::filesystem::perms::group_exec | std::filesystem::perms::others_exec,
        std::filesystem::perm_options::add);
  }

  // Creates a home; `swarm_key` defaults to the swarm's.
  size_t add_home(const std::filesystem::path& swarm_key = {}) {
    Node node;
    node.home = dir_ / ("node" + std::to_string(nodes_.size()));
    EXPECT_EQ(
        synapse::testing::run_command({kSynapse, "--home", node.home.string(), "init"}).exit_code,
        0);
    std::filesystem::copy_file(swarm_key.empty() ? dir_ / "swarm.key" : swarm_key,
                               node.home / "swarm.key");
    // The jobs' folders in this swarm's folder, removed with it (not in /var/tmp); each node's
    // HTTP server on a free port.
    merge_toml(node.home / "config.toml",
               "[jobs]\nwork_dir = \"" +
                   (dir_ / ("jobs" + std::to_string(nodes_.size()))).string() +
                   "\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }

  // Merges TOML text into node i's <home>/config.toml (see merge_toml), e.g.
  // configure(0, "[store]\nreplication = 1\nsync = false\n"). Takes effect at the next start.
  void configure(size_t i, const std::string& toml) {
    merge_toml(nodes_[i].home / "config.toml", toml);
  }

  // Starts node i in the foreground (`up --json`) with `args` after the defaults, inside
  // `wrapper` (a command prefix such as "ip netns exec NAME") and with `env` ("KEY=VALUE")
  // added to the environment; returns its ready line (null if it did not get ready).
  json start(size_t i, std::vector<std::string> args, const std::string& wrapper = "",
             const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv;
    if (!wrapper.empty()) {
      std::istringstream words(wrapper);
      for (std::string word; words >> word;) argv.push_back(word);
    }
    for (const std::string& arg :
         {kSynapse, std::string("--home"), nodes_[i].home.string(), std::string("up"),
          std::string("--json"), std::string("--log-level"), std::string("info")}) {
      argv.push_back(arg);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    nodes_[i].process =
        std::make_unique<Child>(argv, (nodes_[i].home / "stderr.log").string(), env);
    const std::string line = nodes_[i].process->wait_for_line("{", 30s);
    nodes_[i].ready = line.empty() ? json() : json::parse(line, nullptr, false);
    return nodes_[i].ready;
  }

  json start_loopback(size_t i, std::vector<std::string> args = {},
                      const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), {"--listen", "127.0.0.1:0", "--no-discovery"});
    return start(i, args, "", env);
  }

  // `synapse down` on node i, then waits for its process to exit; returns its exit code (-1
  // if it did not stop within `timeout`).
  int down(size_t i, std::chrono::milliseconds timeout = 20s) {
    const auto result = cli(i, {"down"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    if (!nodes_[i].process) return -1;
    const int code = nodes_[i].process->wait_exit(timeout);
    nodes_[i].process.reset();
    return code;
  }

  // SIGKILL to node i's process, reaped.
  void kill(size_t i) {
    if (nodes_[i].process) nodes_[i].process->stop(SIGKILL);
    nodes_[i].process.reset();
  }

  bool alive(size_t i) const { return nodes_[i].process && running(nodes_[i].process->pid()); }

  core::Result<json> call(size_t i, std::string_view method, json params = json::object()) {
    auto client = ControlClient::connect(nodes_[i].home / "control.sock");
    if (!client) return tl::unexpected(client.error());
    return client->call(method, std::move(params), 30s);
  }

  // Runs `synapse --home <node i's home> args...`, killed after `timeout`.
  synapse::testing::CommandResult cli(size_t i, std::vector<std::string> args,
                                      std::chrono::seconds timeout = 60s) {
    args.insert(args.begin(), {kSynapse, "--home", nodes_[i].home.string()});
    return synapse::testing::run_command(args, "", timeout);
  }

  // The argv of a CLI command on node i, for running it as a Child.
  std::vector<std::string> cli_argv(size_t i, std::vector<std::string> args) const {
    args.insert(args.begin(), {kSynapse, "--home", nodes_[i].home.string()});
    return args;
  }

  size_t peers(size_t i) {
    auto status = call(i, "status");
    return status && (*status)["joined"].get<bool>() ? (*status)["peers"].get<size_t>() : 0;
  }

  std::string log(size_t i) {
    std::ifstream file(nodes_[i].home / "stderr.log");
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  Node& node(size_t i) { return nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  const synapse::testing::TempDir& dir() const { return dir_; }

 private:
  synapse::testing::TempDir dir_;
  std::vector<Node> nodes_;  // after dir_: the processes die before their homes are removed
};

// Namespaces: a hub with a bridge, and one namespace per node joined to it by a veth pair
// (<prefix>.<i+1>/24, e.g. 10.78.0.<i+1>, addresses that exist only inside these namespaces).
// Test binaries that may run in parallel use different prefixes. Deleted on destruction.
class BridgedNamespaces {
 public:
  // `prefix`: the first three octets of the /24, e.g. "10.78.0".
  BridgedNamespaces(size_t count, std::string prefix) : prefix_(std::move(prefix)) {
    const std::string id = std::to_string(::getpid());
    hub_ = "synapse-hub-" + id;
    ok_ = run_quiet("ip netns add " + hub_) == 0 &&
          run_quiet("ip -n " + hub_ + " link add br0 type bridge mcast_snooping 0") == 0 &&
          run_quiet("ip -n " + hub_ + " link set br0 up") == 0;
    for (size_t i = 0; ok_ && i < count; ++i) {
      const std::string name = "synapse-n" + std::to_string(i) + "-" + id;
      const std::string inner = "sn" + std::to_string(i) + "i" + id;
      const std::string outer = "sn" + std::to_string(i) + "o" + id;
      names_.push_back(name);
      ok_ = run_quiet("ip netns add " + name) == 0 &&
            run_quiet("ip link add " + inner + " type veth peer name " + outer) == 0 &&
            run_quiet("ip link set " + inner + " netns " + name) == 0 &&
            run_quiet("ip link set " + outer + " netns " + hub_) == 0 &&
            run_quiet("ip -n " + hub_ + " link set " + outer + " master br0 up") == 0 &&
            run_quiet("ip -n " + name + " addr add " + address(i) + "/24 dev " + inner) == 0 &&
            run_quiet("ip -n " + name + " link set " + inner + " up") == 0 &&
            run_quiet("ip -n " + name + " link set lo up") == 0;
    }
  }
  ~BridgedNamespaces() {
    for (const std::string& name : names_) run_quiet("ip netns del " + name);
    run_quiet("ip netns del " + hub_);
  }
  BridgedNamespaces(const BridgedNamespaces&) = delete;
  BridgedNamespaces& operator=(const BridgedNamespaces&) = delete;

  bool ok() const { return ok_; }
  const std::string& name(size_t i) const { return names_[i]; }
  // The command prefix that runs a program in namespace i.
  std::string exec(size_t i) const { return "ip netns exec " + names_[i]; }
  // The prefix that runs a program in namespace i's network only: unlike `ip netns exec` it
  // keeps the host's mount namespace, so a FUSE mount the program makes is visible outside.
  std::string enter_net(size_t i) const { return "nsenter --net=/run/netns/" + names_[i]; }
  std::string address(size_t i) const { return prefix_ + "." + std::to_string(i + 1); }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  std::string hub_;
  std::vector<std::string> names_;
  bool ok_ = false;
};

// True when this process may create network namespaces (root and a working `ip netns`).
inline bool can_use_namespaces() { return ::geteuid() == 0 && run_quiet("ip netns list") == 0; }

}  // namespace synapse::daemon::harness
