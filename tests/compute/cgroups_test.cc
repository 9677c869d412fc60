// The cgroup manager against fake cgroup trees in a temp folder: which files v1 and v2 get,
// and how processes, usage and OOM kills are read back. Fake process ids are beyond pid_max,
// so signalling them reaches nobody.
#include "cgroups.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace synapse::compute {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr pid_t kFakePid1 = 2'000'000'001;
constexpr pid_t kFakePid2 = 2'000'000'002;
constexpr pid_t kFakePid3 = 2'000'000'003;

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// What a real cgroupfs does on rmdir: the control files go with the folder.
void drop_files(const std::vector<fs::path>& dirs) {
  for (const fs::path& dir : dirs) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) fs::remove(entry.path());
    }
  }
}

SandboxLimits limits() {
  SandboxLimits limits;
  limits.cpus = 0.5;
  limits.memory_bytes = uint64_t{64} << 20;
  limits.pids = 32;
  return limits;
}

constexpr const char* kV1Self =
    "12:pids:/process_api/abc\n"
    "9:name=systemd:/\n"
    "6:freezer:/\n"
    "5:devices:/\n"
    "4:memory:/process_api/abc\n"
    "2:cpuacct:/\n"
    "1:cpu:/\n"
    "0::/\n";

class CgroupV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* controller : {"pids", "memory"}) {
      fs::create_directories(root() / controller / "process_api" / "abc");
    }
    for (const char* controller : {"freezer", "devices", "cpuacct", "cpu", "systemd"}) {
      fs::create_directories(root() / controller);
    }
  }
  fs::path root() const { return dir_.path(); }
  fs::path memory() const { return root() / "memory/process_api/abc/synapse-jobs/job"; }
  fs::path pids() const { return root() / "pids/process_api/abc/synapse-jobs/job"; }

  synapse::testing::TempDir dir_;
};

TEST(ProcCgroup, LinesAreSplitIntoControllersAndPaths) {
  const auto lines = parse_proc_cgroup("4:memory:/a/b\n3:cpu,cpuacct:/\n0::/user.slice\nbad\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], (std::pair<std::string, std::string>{"memory", "/a/b"}));
  EXPECT_EQ(lines[1], (std::pair<std::string, std::string>{"cpu,cpuacct", "/"}));
  EXPECT_EQ(lines[2], (std::pair<std::string, std::string>{"", "/user.slice"}));
}

TEST(ProcCgroup, KeyedValuesMatchWholeKeys) {
  const std::string text = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n";
  EXPECT_EQ(read_keyed_value(text, "oom_kill"), 7u);
  EXPECT_EQ(read_keyed_value(text, "under_oom"), 0u);
  EXPECT_EQ(read_keyed_value("low 0\noom 3\noom_kill 1", "oom"), 3u);
  EXPECT_EQ(read_keyed_value("usage_usec 2500000\nuser_usec 1", "usage_usec"), 2'500'000u);
  EXPECT_EQ(read_keyed_value("", "oom_kill"), 0u);
}

TEST_F(CgroupV1, GroupsGoUnderTheOwnCgroupOfEachController) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  EXPECT_EQ(manager->version(), CgroupVersion::kV1);
  std::vector<std::string> controllers;
  for (const CgroupDir& dir : manager->own_dirs()) controllers.push_back(dir.controller);
  EXPECT_EQ(controllers, (std::vector<std::string>{"cpu", "cpuacct", "freezer", "memory", "pids"}))
      << "devices and name=systemd are not used";
  EXPECT_TRUE(fs::is_directory(root() / "memory/process_api/abc/synapse-jobs"));
  EXPECT_TRUE(fs::is_directory(root() / "pids/process_api/abc/synapse-jobs"));
  EXPECT_TRUE(fs::is_directory(root() / "cpu/synapse-jobs"));
  EXPECT_FALSE(fs::exists(root() / "devices/synapse-jobs"));
}

TEST_F(CgroupV1, CreateWritesMemorySwapCpuAndPidsLimits) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_EQ(group->version(), CgroupVersion::kV1);
  EXPECT_EQ(group->relative_path(), "synapse-jobs/job");
  EXPECT_EQ(read(memory() / "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(read(memory() / "memory.memsw.limit_in_bytes"), "67108864");
  EXPECT_EQ(read(root() / "cpu/synapse-jobs/job/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(root() / "cpu/synapse-jobs/job/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read(pids() / "pids.max"), "32");
  const auto files = group->procs_files();
  EXPECT_EQ(files.size(), 5u);
  EXPECT_NE(std::find(files.begin(), files.end(), memory() / "cgroup.procs"), files.end());
  EXPECT_NE(std::find(files.begin(), files.end(), root() / "freezer/synapse-jobs/job/cgroup.procs"),
            files.end());
}

TEST_F(CgroupV1, ProcessesAreTheUnionOverControllers) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  write(memory() / "cgroup.procs",
        std::to_string(kFakePid2) + "\n" + std::to_string(kFakePid1) + "\n");
  write(pids() / "cgroup.procs", std::to_string(kFakePid2) + "\n" + std::to_string(kFakePid3));
  auto pids = group->processes();
  ASSERT_TRUE(pids.has_value()) << pids.error().message();
  EXPECT_EQ(*pids, (std::vector<pid_t>{kFakePid1, kFakePid2, kFakePid3}));
}

TEST_F(CgroupV1, AddWritesThePidEverywhere) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  ASSERT_TRUE(group->add(kFakePid1));
  for (const fs::path& file : group->procs_files()) {
    EXPECT_EQ(read(file), std::to_string(kFakePid1)) << file;
  }
}

TEST_F(CgroupV1, StatsReadCpuacctMaxUsageAndOomKills) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  EXPECT_EQ(group->stats().oom_kills, 0u);
  write(root() / "cpuacct/synapse-jobs/job/cpuacct.usage", "1500000000\n");
  write(memory() / "memory.max_usage_in_bytes", "1048576\n");
  write(memory() / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  const CgroupStats stats = group->stats();
  EXPECT_DOUBLE_EQ(stats.cpu_seconds, 1.5);
  EXPECT_EQ(stats.peak_memory_bytes, 1048576u);
  EXPECT_EQ(stats.oom_kills, 2u);
}

TEST_F(CgroupV1, KillFreezesAndThaws) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  write(memory() / "cgroup.procs", std::to_string(kFakePid1) + "\n");
  group->kill_all();
  EXPECT_EQ(read(root() / "freezer/synapse-jobs/job/freezer.state"), "THAWED");
}

TEST_F(CgroupV1, RemoveTakesEveryFolderAway) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  drop_files(group->dirs());
  ASSERT_TRUE(group->remove());
  for (const fs::path& dir : group->dirs()) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(group->remove()) << "removing again is fine";
  EXPECT_TRUE(group->processes().has_value());
  EXPECT_TRUE(group->processes()->empty());
  manager->remove_group_dirs();
  EXPECT_FALSE(fs::exists(root() / "memory/process_api/abc/synapse-jobs"));
  EXPECT_FALSE(fs::exists(root() / "cpu/synapse-jobs"));
}

TEST_F(CgroupV1, AStaleGroupIsReusedOnlyWhenEmpty) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  write(memory() / "cgroup.procs", std::to_string(kFakePid1) + "\n");
  auto busy = manager->create("job", limits());
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code(), core::ErrorCode::kAlreadyExists);
  drop_files(group->dirs());
  auto again = manager->create("job", limits());
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(read(pids() / "pids.max"), "32");
}

TEST_F(CgroupV1, AnOciGroupIsHeldInEveryHierarchy) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits(), /*every_hierarchy=*/true);
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_TRUE(fs::is_directory(root() / "devices/synapse-jobs/job"));
  EXPECT_TRUE(fs::is_directory(root() / "systemd/synapse-jobs/job")) << "name=systemd too";
  EXPECT_FALSE(fs::exists(root() / "devices/synapse-jobs/job/pids.max")) << "no limits there";
  EXPECT_EQ(group->procs_files().size(), 5u) << "and nobody joins it through them";
  write(root() / "devices/synapse-jobs/job/cgroup.procs", std::to_string(kFakePid3) + "\n");
  EXPECT_EQ(group->processes().value(), std::vector<pid_t>{kFakePid3});
  drop_files(group->dirs());
  ASSERT_TRUE(group->remove());
  EXPECT_FALSE(fs::exists(root() / "devices/synapse-jobs/job"));
  manager->remove_group_dirs();
  EXPECT_FALSE(fs::exists(root() / "devices/synapse-jobs"));
  EXPECT_FALSE(fs::exists(root() / "systemd/synapse-jobs"));
}

TEST_F(CgroupV1, AGroupFolderRemovedMeanwhileIsMadeAgain) {
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  manager->remove_group_dirs();  // another runner closing
  ASSERT_FALSE(fs::exists(root() / "memory/process_api/abc/synapse-jobs"));
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_EQ(read(memory() / "memory.limit_in_bytes"), "67108864");
}

TEST_F(CgroupV1, CoMountedControllersShareOneFolder) {
  synapse::testing::TempDir other;
  fs::create_directories(other / "cpu,cpuacct/jobs");
  fs::create_directories(other / "memory/jobs");
  auto manager =
      CgroupManager::open(other.path(), "3:cpu,cpuacct:/jobs\n4:memory:/jobs\n", "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_EQ(group->dirs().size(), 2u);
  EXPECT_EQ(read(other / "cpu,cpuacct/jobs/synapse-jobs/job/cpu.cfs_quota_us"), "50000");
  write(other / "cpu,cpuacct/jobs/synapse-jobs/job/cpuacct.usage", "250000000");
  EXPECT_DOUBLE_EQ(group->stats().cpu_seconds, 0.25);
}

TEST_F(CgroupV1, WithoutAMemoryControllerThereAreNoGroups) {
  auto manager = CgroupManager::open(root(), "1:cpu:/\n0::/\n", "synapse-jobs");
  ASSERT_FALSE(manager.has_value());
  EXPECT_EQ(manager.error().code(), core::ErrorCode::kUnsupported);
  auto missing = CgroupManager::open(root() / "nowhere", kV1Self, "synapse-jobs");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), core::ErrorCode::kUnsupported);
}

TEST_F(CgroupV1, AHybridHostWhoseUnifiedTreeLacksMemoryUsesV1) {
  write(root() / "unified/cgroup.controllers", "hugetlb\n");
  auto manager = CgroupManager::open(root(), kV1Self, "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  EXPECT_EQ(manager->version(), CgroupVersion::kV1);
}

class CgroupV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    write(root() / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    write(own() / "cgroup.controllers", "cpu io memory pids\n");
    write(own() / "cgroup.subtree_control", "");
  }
  fs::path root() const { return dir_.path(); }
  fs::path own() const { return root() / "system.slice/synapse.service/node"; }
  fs::path job() const { return own() / "synapse-jobs/job"; }
  static constexpr const char* kSelf = "0::/system.slice/synapse.service/node\n";

  synapse::testing::TempDir dir_;
};

TEST_F(CgroupV2, ControllersAreEnabledForTheJobGroups) {
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  EXPECT_EQ(manager->version(), CgroupVersion::kV2);
  ASSERT_EQ(manager->own_dirs().size(), 1u);
  EXPECT_EQ(manager->own_dirs()[0].path, own());
  EXPECT_EQ(read(own() / "cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(read(own() / "synapse-jobs/cgroup.subtree_control"), "+memory +cpu +pids");
}

TEST_F(CgroupV2, ControllersAlreadyEnabledAreLeftAlone) {
  write(own() / "cgroup.subtree_control", "cpu memory pids\n");
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  EXPECT_EQ(read(own() / "cgroup.subtree_control"), "cpu memory pids\n");
}

TEST_F(CgroupV2, CreateWritesMemorySwapCpuAndPidsLimits) {
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_EQ(group->version(), CgroupVersion::kV2);
  EXPECT_EQ(read(job() / "memory.max"), "67108864");
  EXPECT_EQ(read(job() / "memory.swap.max"), "0");
  EXPECT_EQ(read(job() / "cpu.max"), "50000 100000");
  EXPECT_EQ(read(job() / "pids.max"), "32");
  EXPECT_EQ(group->procs_files(), std::vector<fs::path>{job() / "cgroup.procs"});
  EXPECT_EQ(group->relative_path(), "synapse-jobs/job");
}

TEST_F(CgroupV2, StatsReadCpuStatPeakAndEvents) {
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  write(job() / "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
  write(job() / "memory.peak", "123456\n");
  write(job() / "memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n");
  const CgroupStats stats = group->stats();
  EXPECT_DOUBLE_EQ(stats.cpu_seconds, 2.5);
  EXPECT_EQ(stats.peak_memory_bytes, 123456u);
  EXPECT_EQ(stats.oom_kills, 1u);
}

TEST_F(CgroupV2, KillUsesCgroupKill) {
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_TRUE(manager.has_value());
  auto group = manager->create("job", limits());
  ASSERT_TRUE(group.has_value());
  write(job() / "cgroup.procs", std::to_string(kFakePid1) + "\n");
  group->kill_all();
  EXPECT_EQ(read(job() / "cgroup.kill"), "1");
  drop_files(group->dirs());
  EXPECT_TRUE(group->remove());
  EXPECT_FALSE(fs::exists(job()));
}

TEST_F(CgroupV2, JobGroupsGoUnderTheRootOfAPureV2Host) {
  synapse::testing::TempDir other;
  write(other / "cgroup.controllers", "cpu memory pids\n");
  auto manager = CgroupManager::open(other.path(), "0::/\n", "synapse-jobs");
  ASSERT_TRUE(manager.has_value()) << manager.error().message();
  EXPECT_EQ(manager->own_dirs()[0].path, other.path());
  auto group = manager->create("a.b_c-1", limits());
  ASSERT_TRUE(group.has_value());
  EXPECT_TRUE(fs::exists(other / "synapse-jobs/a.b_c-1/memory.max"));
}

TEST_F(CgroupV2, AUnifiedTreeWithoutMemoryIsNotUsed) {
  write(own() / "cgroup.controllers", "cpu pids\n");
  auto manager = CgroupManager::open(root(), kSelf, "synapse-jobs");
  ASSERT_FALSE(manager.has_value());
  EXPECT_EQ(manager.error().code(), core::ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace synapse::compute
