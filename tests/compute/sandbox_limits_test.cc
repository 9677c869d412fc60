// Real bubblewrap sandboxes under their limits: memory, processes, CPU, time; stopping them
// (timeout, cancel, close) and what is left afterwards (docs/sandbox.md).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "sandbox_harness.h"

namespace synapse::compute::testing {
namespace {

using SandboxLimit = SandboxHarness;

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

TEST_F(SandboxLimit, JobOverItsMemoryLimitIsOutOfMemory) {
  SANDBOX_REQUIRE_CGROUPS();
  SandboxSpec spec = make_spec({"tail", "/dev/zero"});
  spec.limits.memory_bytes = uint64_t{64} << 20;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kOutOfMemory) << describe(result);
  EXPECT_EQ(result.reason, "out of memory (limit 64.0 MiB)");
  EXPECT_GT(result.usage.max_memory_bytes, uint64_t{32} << 20);
  EXPECT_LE(result.usage.max_memory_bytes, uint64_t{65} << 20);
}

TEST_F(SandboxLimit, JobWithinItsMemoryLimitSucceeds) {
  SandboxSpec spec = shell("head -c 16m /dev/zero | tail -c 1 | wc -c");
  spec.limits.memory_bytes = uint64_t{64} << 20;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 0);
}

TEST_F(SandboxLimit, TimeoutStopsTheJob) {
  SandboxSpec spec = make_spec({"sleep", "30"});
  spec.limits.timeout = 300ms;
  spec.limits.kill_grace = 5s;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_EQ(result.reason, "timed out after 300ms");
  EXPECT_GE(result.usage.wall, 300ms);
  EXPECT_LT(result.usage.wall, 4s) << "SIGTERM reached the job; no need for the grace";
}

TEST_F(SandboxLimit, JobTrappingSigtermCanCleanUpWithinTheGrace) {
  SandboxSpec spec = shell("trap 'echo cleaning up; exit 7' TERM; echo started; sleep 30 & wait");
  spec.limits.timeout = 300ms;
  spec.limits.kill_grace = 5s;
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_EQ(read_file(out), "started\ncleaning up\n");
}

TEST_F(SandboxLimit, JobIgnoringSigtermIsKilledAfterTheGrace) {
  SandboxSpec spec = shell("trap '' TERM; sleep 30");
  spec.limits.timeout = 200ms;
  spec.limits.kill_grace = 400ms;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_GE(result.usage.wall, 600ms);
  EXPECT_LT(result.usage.wall, 5s);
}

TEST_F(SandboxLimit, CancelStopsTheJob) {
  SandboxSpec spec = shell("echo started; sleep 30");
  spec.limits.kill_grace = 300ms;
  const fs::path out = spec.stdout_path;
  const Tracked result = start(spec);
  ASSERT_NE(result.id, 0u);
  ASSERT_TRUE(run_until([&] { return read_file(out) == "started\n"; }, 10s));
  EXPECT_EQ(runner_->running(), 1u);
  runner_->cancel(result.id);
  runner_->cancel(result.id);  // twice is the same
  ASSERT_TRUE(run_until([&] { return result.done(); }, 10s));
  EXPECT_EQ(result->outcome, SandboxOutcome::kCancelled) << describe(*result);
  EXPECT_EQ(result->reason, "cancelled");
  EXPECT_LT(result->usage.wall, 5s);
  EXPECT_EQ(runner_->running(), 0u);
  runner_->cancel(result.id);  // finished ids are ignored
  runner_->cancel(12345);
}

TEST_F(SandboxLimit, LeftoverProcessesAreKilledAndCgroupsRemoved) {
  SANDBOX_REQUIRE_CGROUPS();
  const std::string marker = "synapse-leftover-" + std::to_string(::getpid());
  // The background job says when it runs; the foreground one waits for that and ends.
  SandboxSpec spec = shell("sh -c 'touch /tmp/ready; sleep 1000; : " + marker +
                           "' & while [ ! -e /tmp/ready ]; do :; done; echo started");
  const std::string name = spec.name;
  const fs::path out = spec.stdout_path;
  const Tracked result = start(spec);
  ASSERT_NE(result.id, 0u);
  const auto dirs = job_cgroup_dirs(name);
  ASSERT_FALSE(dirs.empty());
  bool seen_group = false;
  ASSERT_TRUE(run_until(
      [&] {
        seen_group = seen_group || fs::exists(dirs.front());
        return result.done();
      },
      20s));
  EXPECT_TRUE(seen_group) << "the job ran in its cgroup";
  EXPECT_EQ(result->outcome, SandboxOutcome::kExited) << describe(*result);
  EXPECT_EQ(read_file(out), "started\n");
  EXPECT_TRUE(processes_with(marker).empty()) << "the background job is gone";
  for (const fs::path& dir : dirs) EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(SandboxLimit, PidsLimitStopsAForkStorm) {
  SANDBOX_REQUIRE_CGROUPS();
  SandboxSpec spec = shell("for i in $(seq 1 200); do sleep 30 & done; wait");
  spec.limits.pids = 16;
  const fs::path err = spec.stderr_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(read_file(err).find("fork"), std::string::npos) << read_file(err);
  EXPECT_LT(result.usage.wall, 15s) << "the shell failed to fork; it did not wait for 200 sleeps";
}

TEST_F(SandboxLimit, CpuUsageIsReportedForABusyLoop) {
  const SandboxResult result =
      run(shell("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i"));
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_GT(result.usage.cpu_seconds, 0.05);
  EXPECT_LE(result.usage.cpu_seconds, seconds(result.usage.wall) * 1.5 + 0.05);
  EXPECT_GT(result.usage.max_memory_bytes, 0u);
}

TEST_F(SandboxLimit, CpuQuotaCapsCpuTime) {
  SANDBOX_REQUIRE_CGROUPS();
  SandboxSpec spec = shell("while :; do :; done");
  spec.limits.cpus = 0.2;
  spec.limits.timeout = 1s;
  spec.limits.kill_grace = 0s;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_GT(result.usage.cpu_seconds, 0.02);
  EXPECT_LT(result.usage.cpu_seconds, 0.5) << "20% of one CPU for about a second";
}

TEST_F(SandboxLimit, UsageIsReadableWhileRunning) {
  SANDBOX_REQUIRE_CGROUPS();
  SandboxSpec spec = shell("echo started; while :; do :; done");
  spec.limits.kill_grace = 0s;
  const fs::path out = spec.stdout_path;
  const Tracked result = start(spec);
  ASSERT_NE(result.id, 0u);
  ASSERT_TRUE(run_until([&] { return read_file(out) == "started\n"; }, 10s));
  ASSERT_TRUE(run_until([&] { return runner_->usage(result.id)->cpu_seconds > 0.02; }, 10s));
  EXPECT_GT(runner_->usage(result.id)->wall.count(), 0);
  runner_->cancel(result.id);
  ASSERT_TRUE(run_until([&] { return result.done(); }, 10s));
  EXPECT_FALSE(runner_->usage(result.id).has_value());
  EXPECT_GT(result->usage.cpu_seconds, 0.02);
}

TEST_F(SandboxLimit, CloseCancelsRunningSandboxesAndCallsDone) {
  auto events = std::make_shared<std::vector<std::string>>();
  std::vector<fs::path> outs;
  for (int i = 0; i < 2; ++i) {
    SandboxSpec spec = shell("echo started; trap '' TERM; sleep 30");
    outs.push_back(spec.stdout_path);
    auto id = runner_->start(spec, [events](SandboxResult r) {
      events->push_back(std::string(sandbox_outcome_name(r.outcome)));
    });
    ASSERT_TRUE(id.has_value()) << id.error().message();
  }
  ASSERT_TRUE(run_until(
      [&] { return read_file(outs[0]) == "started\n" && read_file(outs[1]) == "started\n"; }, 10s));
  runner_->close([events] { events->push_back("closed"); });
  ASSERT_TRUE(run_until([&] { return events->size() == 3; }, 10s));
  EXPECT_EQ(*events, (std::vector<std::string>{"cancelled", "cancelled", "closed"}));
  EXPECT_EQ(runner_->running(), 0u);
  runner_.reset();
}

TEST_F(SandboxLimit, CloseWithNothingRunningCallsDoneLater) {
  auto closed = std::make_shared<bool>(false);
  runner_->close([closed] { *closed = true; });
  EXPECT_FALSE(*closed) << "never inside the call";
  EXPECT_TRUE(run_until([&] { return *closed; }, 5s));
  runner_.reset();
}

TEST_F(SandboxLimit, ManySandboxesRunAtOnce) {
  std::vector<Tracked> started;
  for (int i = 0; i < 6; ++i) {
    started.push_back(start(shell("exit " + std::to_string(i))));
    ASSERT_NE(started.back().id, 0u);
  }
  ASSERT_TRUE(run_until(
      [&] { return std::all_of(started.begin(), started.end(), [](auto& t) { return t.done(); }); },
      20s));
  for (size_t i = 0; i < started.size(); ++i) {
    EXPECT_EQ(started[i]->outcome, SandboxOutcome::kExited) << describe(*started[i]);
    EXPECT_EQ(started[i]->exit_code, static_cast<int>(i));
  }
}

// Without writable cgroups (here: a cgroup root that does not exist) the runner still runs
// jobs, with rlimits, and says so once.
class SandboxWithoutCgroups : public SandboxHarness {
 protected:
  SandboxWithoutCgroups() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~SandboxWithoutCgroups() override { spdlog::set_default_logger(previous_); }

  SandboxRunnerOptions runner_options() override {
    SandboxRunnerOptions options;
    options.cgroup_root = dir_ / "no-cgroups-here";
    return options;
  }

  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(SandboxWithoutCgroups, JobsStillRunAndTheRunnerWarnsOnce) {
  SandboxSpec spec = make_spec({"echo", "no cgroups"});
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(out), "no cgroups\n");
  EXPECT_GT(result.usage.cpu_seconds + static_cast<double>(result.usage.max_memory_bytes), 0);
  run(make_spec({"true"}));
  const std::string log = log_.str();
  const size_t first = log.find("no usable cgroups");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("no usable cgroups", first + 1), std::string::npos) << log;
}

TEST_F(SandboxWithoutCgroups, TimeoutStillKillsEverything) {
  const std::string marker = "synapse-nocgroup-" + std::to_string(::getpid());
  SandboxSpec spec = shell("trap '' TERM; sh -c 'sleep 1000; : " + marker + "' & sleep 30");
  spec.limits.timeout = 200ms;
  spec.limits.kill_grace = 200ms;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_LT(result.usage.wall, 5s);
  EXPECT_TRUE(run_until([&] { return processes_with(marker).empty(); }, 5s))
      << "the pid namespace died with bubblewrap";
}

TEST_F(SandboxWithoutCgroups, MemoryIsBoundedByRlimit) {
  SandboxSpec spec = shell("head -c 100m /dev/zero | tail -n 1 >/dev/null; echo $?");
  spec.limits.memory_bytes = uint64_t{64} << 20;
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_NE(result.outcome, SandboxOutcome::kStartFailed) << describe(result);
  // tail holds the whole 100 MiB "line" and cannot get it under RLIMIT_AS.
  EXPECT_NE(read_file(out), "0\n");
}

}  // namespace
}  // namespace synapse::compute::testing
