// A swarm of real nodes in network namespaces, each with its shared folder mounted, for tests
// that use the mounts as a user would (docs/jobs.md, docs/metrics.md). The nodes enter their
// namespace's network only, so their mounts are visible to the test; everything (processes,
// mounts, namespaces) goes when the fixture does, also when the test failed.
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <fstream>
#include <thread>

#include "cli/run_command.h"
#include "swarm_harness.h"

namespace synapse::daemon::harness {

namespace fsys = std::filesystem;
using namespace std::chrono_literals;

inline constexpr auto kJobTimeout = 60s;

inline std::string read_text(const fsys::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const fsys::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The first word of a state file ("" while it does not exist).
inline std::string state_of(const fsys::path& job) {
  std::string text = read_text(job / "state");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

inline bool terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" ||
         state == "timed-out" || state == "rejected";
}

// Detaches every mount of the test when it ends, failed or not, before the Swarm kills the
// nodes (a killed node leaves its mount dead, and a dead mount blocks removing the folder).
struct Mounts {
  std::vector<fsys::path> dirs;
  ~Mounts() {
    for (const auto& dir : dirs) ::umount2(dir.c_str(), MNT_DETACH);
  }
};

class MountedSwarm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!can_use_namespaces()) GTEST_SKIP() << "needs root and ip netns";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs /dev/fuse";
  }

  // `count` nodes in namespaces with mounts, every one seeing the others; `config` is merged
  // into every node's config.
  void start_swarm(size_t count, const std::string& prefix, const std::string& config = "") {
    ASSERT_NO_FATAL_FAILURE(make_namespaces(count, prefix));
    for (size_t i = 0; i < count; ++i) {
      const size_t home = swarm_.add_home();
      swarm_.configure(home, "[store]\nsync = false\nrepair_interval = \"2s\"\n" + config);
      ASSERT_NO_FATAL_FAILURE(start(i));
    }
    std::vector<size_t> all;
    for (size_t i = 0; i < count; ++i) all.push_back(i);
    ASSERT_NO_FATAL_FAILURE(wait_for_peers(all));
    // Every node has heard every other's advert.
    for (size_t i : all) {
      ASSERT_TRUE(eventually(
          [&] {
            auto status = swarm_.call(i, "status");
            return status && (*status)["jobs"].value("nodes_advertising", 0) == int(count);
          },
          30s))
          << swarm_.log(i);
    }
  }

  void make_namespaces(size_t count, const std::string& prefix) {
    namespaces_ = std::make_unique<BridgedNamespaces>(count, prefix);
    ASSERT_TRUE(namespaces_->ok());
  }

  // Waits until each of `nodes` has all the others as peers.
  void wait_for_peers(const std::vector<size_t>& nodes) {
    for (size_t i : nodes) {
      ASSERT_TRUE(eventually([&] { return swarm_.peers(i) == nodes.size() - 1; }, 30s))
          << "node " << i << " has " << swarm_.peers(i) << " peers\n"
          << swarm_.log(i);
    }
  }

  // Starts node i (its home made already) in namespace i with its mount at <dir>/mnt<i>.
  void start(size_t i) {
    const fsys::path dir = mount_dir(i);
    fsys::create_directories(dir);
    if (std::find(mounts_.dirs.begin(), mounts_.dirs.end(), dir) == mounts_.dirs.end()) {
      mounts_.dirs.push_back(dir);
    }
    ASSERT_TRUE(swarm_
                    .start(i, {"--listen", "0.0.0.0:4747", "--mount", dir.string()},
                           namespaces_->enter_net(i))
                    .is_object())
        << swarm_.log(i);
  }

  fsys::path mount_dir(size_t i) { return swarm_.dir().path() / ("mnt" + std::to_string(i)); }
  fsys::path job_dir(size_t i, const std::string& name) { return mount_dir(i) / "jobs" / name; }

  // Copies a spec into node i's spool, as a user would (written elsewhere, then cp).
  void submit(size_t i, const std::string& name, const std::string& spec) {
    const fsys::path source = swarm_.dir().path() / (name + ".toml");
    write_text(source, spec);
    fsys::create_directories(mount_dir(i) / "jobs");
    fsys::copy_file(source, mount_dir(i) / "jobs" / (name + ".toml"),
                    fsys::copy_options::overwrite_existing);
  }

  // Waits until the job's state (read on node i) is terminal; returns it.
  std::string wait_done(size_t i, const std::string& name,
                        std::chrono::milliseconds timeout = kJobTimeout) {
    std::string state;
    eventually(
        [&] {
          state = state_of(job_dir(i, name));
          return terminal(state);
        },
        timeout);
    return state;
  }

  nlohmann::json status_json(size_t i, const std::string& name) {
    return nlohmann::json::parse(read_text(job_dir(i, name) / "status.json"), nullptr, false);
  }

  std::string node_of(size_t i, const std::string& name) {
    const auto status = status_json(i, name);
    return status.is_object() && status["node"].is_string() ? status["node"].get<std::string>()
                                                            : "";
  }

  std::string id_of(size_t i) { return swarm_.node(i).ready["node_id"].get<std::string>(); }

  std::string log_of(size_t i) { return swarm_.log(i); }

  std::unique_ptr<BridgedNamespaces> namespaces_;  // before the Swarm: nodes die first
  Swarm swarm_;
  Mounts mounts_;  // after the Swarm: detached while the nodes still run
};

}  // namespace synapse::daemon::harness
