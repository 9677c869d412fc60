// The host probe against fake /proc, /dev and cgroup folders and a fake nvidia-smi; the host
// look-ups of runtimes.h (PATH, bounded runs, device nodes, root entries).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "runtimes.h"
#include "synapse/compute/host.h"
#include "test_util.h"

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void write_script(const fs::path& path, const std::string& body) {
  write(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
}

constexpr const char* kMeminfo =
    "MemTotal:       16384000 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:    8192000 kB\n"
    "Buffers:          100000 kB\n";

// Puts `dir` first in PATH for the lifetime of the object.
class PathPrefix {
 public:
  explicit PathPrefix(const fs::path& dir) {
    const char* path = std::getenv("PATH");
    previous_ = path != nullptr ? path : "";
    ::setenv("PATH", (dir.string() + ":" + previous_).c_str(), 1);
  }
  ~PathPrefix() { ::setenv("PATH", previous_.c_str(), 1); }

 private:
  std::string previous_;
};

class HostProbe : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir_ / "proc/meminfo", kMeminfo);
    write(dir_ / "proc/loadavg", "1.25 0.50 0.10 2/345 6789\n");
    write(dir_ / "proc/self/cgroup", "4:memory:/jobs\n0::/\n");
    fs::create_directories(dir_ / "dev");
    fs::create_directories(dir_ / "cgroup");
    options_.proc = dir_ / "proc";
    options_.dev = dir_ / "dev";
    options_.cgroup_root = dir_ / "cgroup";
    options_.nvidia_smi = "nvidia-smi-not-installed-here";
  }

  synapse::testing::TempDir dir_;
  HostProbeOptions options_;
};

TEST_F(HostProbe, ReadsCpusMemoryAndLoad) {
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value()) << host.error().message();
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(host->cpus, static_cast<uint32_t>(CPU_COUNT(&set)));
  EXPECT_EQ(host->memory_bytes, uint64_t{16384000} * 1024);
  EXPECT_EQ(host->memory_available, uint64_t{8192000} * 1024);
  EXPECT_DOUBLE_EQ(host->load1, 1.25);
  EXPECT_TRUE(host->gpus.empty());
}

TEST_F(HostProbe, ALowerV1CgroupLimitWins) {
  write(dir_ / "cgroup/memory/jobs/memory.limit_in_bytes", "9223372036854771712\n");
  write(dir_ / "cgroup/memory/jobs/memory.stat", "cache 0\nhierarchical_memory_limit 4294967296\n");
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->memory_bytes, uint64_t{4} << 30);
  EXPECT_EQ(host->memory_available, uint64_t{4} << 30);
}

TEST_F(HostProbe, AnUnlimitedCgroupChangesNothing) {
  write(dir_ / "cgroup/memory/jobs/memory.limit_in_bytes", "9223372036854771712\n");
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->memory_bytes, uint64_t{16384000} * 1024);
}

TEST_F(HostProbe, TheTightestV2LimitOnThePathWins) {
  write(dir_ / "proc/self/cgroup", "0::/a/b\n");
  write(dir_ / "cgroup/cgroup.controllers", "memory\n");
  write(dir_ / "cgroup/a/memory.max", "2147483648\n");
  write(dir_ / "cgroup/a/b/memory.max", "max\n");
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->memory_bytes, uint64_t{2} << 30);
}

TEST_F(HostProbe, GpusComeFromDevNodes) {
  for (const char* name : {"nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "nvidia10", "null"}) {
    write(dir_ / "dev" / name, "");
  }
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  ASSERT_EQ(host->gpus.size(), 3u);
  EXPECT_EQ(host->gpus[0].index, 0u);
  EXPECT_EQ(host->gpus[1].index, 1u);
  EXPECT_EQ(host->gpus[2].index, 10u);
  EXPECT_EQ(host->gpus[0].name, "") << "no nvidia-smi";
  EXPECT_EQ(host->gpus[0].memory_bytes, 0u);
}

TEST_F(HostProbe, NvidiaSmiNamesTheGpus) {
  write(dir_ / "dev/nvidia0", "");
  write(dir_ / "dev/nvidia1", "");
  const fs::path bin = dir_ / "bin";
  write_script(bin / "nvidia-smi",
               "[ \"$1\" = --query-gpu=index,name,memory.total ] || exit 9\n"
               "[ \"$2\" = --format=csv,noheader,nounits ] || exit 9\n"
               "echo '0, NVIDIA H200, 143771'\n"
               "echo '1, NVIDIA A100-SXM4-80GB, 81920'\n"
               "echo '7, Not In Dev, 1'\n");
  PathPrefix path(bin);
  options_.nvidia_smi = "nvidia-smi";
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  ASSERT_EQ(host->gpus.size(), 2u);
  EXPECT_EQ(host->gpus[0].name, "NVIDIA H200");
  EXPECT_EQ(host->gpus[0].memory_bytes, uint64_t{143771} << 20);
  EXPECT_EQ(host->gpus[1].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(host->gpus[1].memory_bytes, uint64_t{81920} << 20);
}

TEST_F(HostProbe, AFailingNvidiaSmiLeavesGpusUnnamed) {
  write(dir_ / "dev/nvidia0", "");
  const fs::path bin = dir_ / "bin";
  write_script(bin / "nvidia-smi", "echo 'NVIDIA-SMI has failed'; exit 9\n");
  PathPrefix path(bin);
  options_.nvidia_smi = "nvidia-smi";
  auto host = probe_host(options_);
  ASSERT_TRUE(host.has_value());
  ASSERT_EQ(host->gpus.size(), 1u);
  EXPECT_EQ(host->gpus[0].name, "");
}

TEST_F(HostProbe, WithoutMeminfoTheProbeFails) {
  fs::remove(dir_ / "proc/meminfo");
  auto host = probe_host(options_);
  ASSERT_FALSE(host.has_value());
  EXPECT_EQ(host.error().code(), core::ErrorCode::kIo);
}

TEST_F(HostProbe, TheRealHostHasCpusAndMemory) {
  auto host = probe_host();
  ASSERT_TRUE(host.has_value()) << host.error().message();
  EXPECT_GE(host->cpus, 1u);
  EXPECT_GT(host->memory_bytes, 0u);
  EXPECT_LE(host->memory_available, host->memory_bytes);
}

TEST(HostLookups, FindExecutableSearchesPath) {
  synapse::testing::TempDir dir;
  write_script(dir / "my-tool", "exit 0\n");
  write(dir / "not-executable", "");
  PathPrefix path(dir.path());
  EXPECT_EQ(find_executable("my-tool"), (dir / "my-tool").string());
  EXPECT_EQ(find_executable("not-executable"), "");
  EXPECT_EQ(find_executable("no-such-tool-xyz"), "");
  EXPECT_EQ(find_executable((dir / "my-tool").string()), (dir / "my-tool").string());
  EXPECT_EQ(find_executable(""), "");
}

TEST(HostLookups, RunBoundedCapturesOutputAndExitCode) {
  auto run = run_bounded({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"}, 5s, true);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_EQ(run->exit_code, 4);
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->output, "out\n");
}

TEST(HostLookups, RunBoundedKillsWhatRunsTooLong) {
  const auto start = std::chrono::steady_clock::now();
  auto run = run_bounded({"/bin/sleep", "30"}, 200ms);
  ASSERT_TRUE(run.has_value());
  EXPECT_TRUE(run->timed_out);
  EXPECT_EQ(run->exit_code, 128 + SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HostLookups, RunBoundedDropsToTheGivenAccountAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto run = run_bounded({"/usr/bin/id", "-u"}, 5s, true, std::pair<uid_t, gid_t>{65534, 65534});
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->output, "65534\n");
}

TEST(HostLookups, GpuDeviceNodesNeedCharacterDevices) {
  synapse::testing::TempDir dir;
  write(dir / "nvidia0", "");  // a plain file is no device
  auto nodes = gpu_device_nodes({0}, dir.path());
  ASSERT_FALSE(nodes.has_value());
  EXPECT_EQ(nodes.error().code(), core::ErrorCode::kInvalidArgument);
  auto none = gpu_device_nodes({}, dir.path());
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  // /dev/null stands in for a GPU's node: its numbers are read, the path is /dev's.
  if (::access("/dev/null", F_OK) == 0) {
    synapse::testing::TempDir dev;
    ASSERT_EQ(::symlink("/dev/null", (dev / "nvidia3").c_str()), 0);
    auto found = gpu_device_nodes({3}, dev.path());
    ASSERT_TRUE(found.has_value()) << found.error().message();
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ((*found)[0].path, "/dev/nvidia3");
    EXPECT_EQ((*found)[0].major, 1u);
    EXPECT_EQ((*found)[0].minor, 3u);
  }
}

TEST(HostLookups, RootEntriesSkipDevProcAndTmp) {
  synapse::testing::TempDir dir;
  for (const char* name : {"usr", "etc", "dev", "proc", "tmp", "home"}) {
    fs::create_directories(dir / name);
  }
  write(dir / ".dockerenv", "");
  ASSERT_EQ(::symlink("usr/bin", (dir / "bin").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto entries = list_root_entries(dir.path());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  std::vector<std::string> names;
  for (const RootEntry& entry : *entries) names.push_back(entry.path);
  EXPECT_EQ(names, (std::vector<std::string>{".dockerenv", "bin", "etc", "home", "usr"}));
  EXPECT_EQ((*entries)[1].link_target, "usr/bin");
  EXPECT_EQ((*entries)[2].link_target, "");
  EXPECT_FALSE(list_root_entries(dir / "missing").has_value());
}

TEST(HostLookups, RootEntriesOpenUpFoldersAboveMissingBindTargets) {
  synapse::testing::TempDir dir;
  for (const char* name : {"usr/bin", "data/models/big", "data/sets", "srv/existing"}) {
    fs::create_directories(dir / name);
  }
  write(dir / "data/readme", "");
  ASSERT_EQ(::symlink("usr/bin", (dir / "bin").c_str()), 0);
  auto entries =
      list_root_entries(dir.path(), {"/data/models/in", "/srv/existing", "/new/place", "/tmp/x"});
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  std::vector<std::string> paths;
  for (const RootEntry& entry : *entries) paths.push_back(entry.path);
  // data/ and data/models/ open up, so that data/models/in can be made beside their entries;
  // srv/existing exists, /new is made in the empty root, /tmp is the sandbox's own.
  EXPECT_EQ(paths, (std::vector<std::string>{"bin", "data/models/big", "data/readme", "data/sets",
                                             "srv", "usr"}));
}

TEST(HostLookups, ProbeRuntimesFindsNothingWithBogusNames) {
  SandboxRunnerOptions options;
  options.bwrap = "no-such-bwrap";
  options.oci_runtime = "no-such-runc";
  options.docker = "no-such-docker";
  options.podman = "no-such-podman";
  EXPECT_TRUE(probe_runtimes(options).empty());
}

TEST(HostLookups, ProbeRuntimesAsksTheEngine) {
  synapse::testing::TempDir dir;
  write_script(dir / "fake-docker", "[ \"$1\" = info ] && exit 0; exit 1\n");
  write_script(dir / "dead-podman", "exit 1\n");
  SandboxRunnerOptions options;
  options.bwrap = "no-such-bwrap";
  options.oci_runtime = "no-such-runc";
  options.docker = (dir / "fake-docker").string();
  options.podman = (dir / "dead-podman").string();
  EXPECT_EQ(probe_runtimes(options), std::vector<RuntimeKind>{RuntimeKind::kDocker});
}

}  // namespace
}  // namespace synapse::compute
