// A real SandboxRunner on a private libuv loop, for the integration suites. Every test gets a
// fresh folder (reachable by the job account) and unique sandbox names; TearDown closes the
// runner, which kills whatever a failed test left running and removes its cgroups.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cgroups.h"
#include "synapse/compute/sandbox.h"
#include "test_util.h"

namespace synapse::compute::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Processes whose command line holds `marker` (other than this test process).
inline std::vector<pid_t> processes_with(const std::string& marker) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::string cmdline = read_file(entry.path() / "cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(marker) != std::string::npos) found.push_back(pid);
  }
  return found;
}

// This process's job-cgroup folders for sandbox `name` (in every controller the runner uses).
inline std::vector<fs::path> job_cgroup_dirs(const std::string& name) {
  auto manager =
      CgroupManager::open("/sys/fs/cgroup", read_file("/proc/self/cgroup"), "synapse-jobs");
  std::vector<fs::path> dirs;
  if (!manager) return dirs;
  for (const CgroupDir& own : manager->own_dirs()) dirs.push_back(own.path / "synapse-jobs" / name);
  return dirs;
}

// Whether this process can make job cgroups (root and a usable v1 or v2 hierarchy).
inline bool have_cgroups() {
  return CgroupManager::open("/sys/fs/cgroup", read_file("/proc/self/cgroup"), "synapse-jobs")
      .has_value();
}

// For tests of what only cgroups give (OOM detection, CPU quota, pids.max).
#define SANDBOX_REQUIRE_CGROUPS() \
  if (!have_cgroups()) GTEST_SKIP() << "no usable cgroups here; the runner runs without them"

class SandboxHarness : public ::testing::Test {
 protected:
  // What the runner is created with; suites override it.
  virtual SandboxRunnerOptions runner_options() { return {}; }
  // The runtime the suite needs; it is skipped where the runner does not offer it.
  virtual RuntimeKind runtime() { return RuntimeKind::kBubblewrap; }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, running jobs as uid 65534)";
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    loop_ready_ = true;
    auto runner = create_sandbox_runner(&loop_, runner_options());
    if (!runner) GTEST_SKIP() << runner.error().message();
    runner_ = std::move(*runner);
    const auto kinds = runner_->runtimes();
    if (std::find(kinds.begin(), kinds.end(), runtime()) == kinds.end()) {
      GTEST_SKIP() << runtime_kind_name(runtime()) << " does not work here";
    }
    // The job account must reach the folders bound into its sandbox.
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
  }

  void TearDown() override {
    if (runner_) {
      bool closed = false;
      runner_->close([&] { closed = true; });
      EXPECT_TRUE(run_until([&] { return closed; }, 30s)) << "close() finishes";
      runner_.reset();
    }
    if (loop_ready_) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      EXPECT_EQ(uv_loop_close(&loop_), 0) << "every handle is closed";
    }
  }

  // Runs the loop until `done` holds or `timeout` passes; returns `done()`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    uv_timer_t wake;
    uv_timer_init(&loop_, &wake);
    uv_timer_start(
        &wake, [](uv_timer_t*) {}, 5, 5);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    bool closed = false;
    wake.data = &closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&wake),
             [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
    while (!closed) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  // A spec for `argv` with a unique name, output files in the test folder and short limits.
  SandboxSpec make_spec(std::vector<std::string> argv) {
    SandboxSpec spec;
    spec.name = "t" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
    spec.runtime = runtime();
    spec.argv = std::move(argv);
    spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"LANG", "C"}};
    spec.stdout_path = dir_ / (spec.name + ".out");
    spec.stderr_path = dir_ / (spec.name + ".err");
    const fs::path scratch = dir_ / (spec.name + ".scratch");
    fs::create_directories(scratch);
    spec.scratch = scratch;
    spec.limits.memory_bytes = uint64_t{256} << 20;
    spec.limits.pids = 256;
    spec.limits.timeout = 20s;
    spec.limits.kill_grace = 2s;
    return spec;
  }

  SandboxSpec shell(const std::string& script) { return make_spec({"sh", "-c", script}); }

  // A started sandbox. Its result lives on the heap: a test that stops early leaves it to
  // TearDown's close(), which still reports to it.
  struct Tracked {
    SandboxRunner::SandboxId id = 0;
    std::shared_ptr<std::optional<SandboxResult>> result =
        std::make_shared<std::optional<SandboxResult>>();
    bool done() const { return result->has_value(); }
    const SandboxResult& operator*() const { return **result; }
    const SandboxResult* operator->() const { return &**result; }
  };

  // Starts `spec`; fails the test (id 0) when start() refuses it.
  Tracked start(SandboxSpec spec) {
    Tracked tracked;
    auto id = runner_->start(
        std::move(spec), [result = tracked.result](SandboxResult r) { *result = std::move(r); });
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message());
    if (id) tracked.id = *id;
    return tracked;
  }

  // Starts `spec` and runs the loop until its `done`; fails the test if that takes too long.
  SandboxResult run(SandboxSpec spec, std::chrono::milliseconds timeout = 30s) {
    const Tracked tracked = start(std::move(spec));
    if (tracked.id == 0) return {};
    EXPECT_TRUE(run_until([&] { return tracked.done(); }, timeout)) << "the sandbox ends";
    return tracked.result->value_or(SandboxResult{});
  }

  static std::string describe(const SandboxResult& result) {
    return std::string(sandbox_outcome_name(result.outcome)) + ": " + result.reason;
  }

  uv_loop_t loop_{};
  bool loop_ready_ = false;
  std::unique_ptr<SandboxRunner> runner_;
  synapse::testing::TempDir dir_;
  int counter_ = 0;
};

}  // namespace synapse::compute::testing
