// Real OCI sandboxes (runc or crun, as root), with the host's root read-only as the image:
// output, exit codes, the job account, limits and stopping (docs/sandbox.md, "OCI").
#include <gtest/gtest.h>

#include "sandbox_harness.h"

namespace synapse::compute::testing {
namespace {

class SandboxOci : public SandboxHarness {
 protected:
  RuntimeKind runtime() override { return RuntimeKind::kOci; }
  void SetUp() override {
    SANDBOX_REQUIRE_CGROUPS();
    SandboxHarness::SetUp();
  }
};

TEST_F(SandboxOci, EchoGoesToTheStdoutFile) {
  SandboxSpec spec = make_spec({"echo", "hello from oci"});
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(out), "hello from oci\n");
}

TEST_F(SandboxOci, ExitCodeIsReported) {
  const SandboxResult result = run(shell("exit 3"));
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 3);
}

TEST_F(SandboxOci, JobRunsAsTheJobAccountWithoutPrivileges) {
  SandboxSpec spec = shell(
      "id -u; id -g; cat /etc/shadow 2>/dev/null || echo no-shadow; touch /usr/x 2>/dev/null ||"
      " echo read-only; grep CapEff /proc/self/status");
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(out), "65534\n65534\nno-shadow\nread-only\nCapEff:\t0000000000000000\n");
}

TEST_F(SandboxOci, BindsAndTmpWork) {
  const fs::path input = dir_ / "input";
  const fs::path output = dir_ / "output";
  fs::create_directories(input);
  fs::create_directories(output);
  ASSERT_EQ(::chown(output.c_str(), 65534, 65534), 0);
  write_file(input / "in.txt", "oci input\n");
  SandboxSpec spec = shell(
      "cat /in/in.txt > /out/copy.txt; touch /in/x 2>/dev/null || echo in-read-only;"
      " ls -A /tmp; echo t > /tmp/t && echo tmp-writable");
  spec.binds = {BindMount{input, "/in", false}, BindMount{output, "/out", true}};
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(output / "copy.txt"), "oci input\n");
  EXPECT_EQ(read_file(out), "in-read-only\ntmp-writable\n");
}

TEST_F(SandboxOci, JobOverItsMemoryLimitIsOutOfMemory) {
  SandboxSpec spec = make_spec({"tail", "/dev/zero"});
  spec.limits.memory_bytes = uint64_t{64} << 20;
  const std::string name = spec.name;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kOutOfMemory) << describe(result);
  EXPECT_EQ(result.reason, "out of memory (limit 64.0 MiB)");
  for (const fs::path& dir : job_cgroup_dirs(name)) EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(SandboxOci, TimeoutKillsTheContainer) {
  SandboxSpec spec = make_spec({"sleep", "30"});  // pid 1 of its namespace: deaf to SIGTERM
  spec.limits.timeout = 200ms;
  spec.limits.kill_grace = 300ms;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kTimedOut) << describe(result);
  EXPECT_LT(result.usage.wall, 5s);
}

TEST_F(SandboxOci, MissingCommandIsAStartFailure) {
  const SandboxResult result = run(make_spec({"/no/such/command-xyz"}));
  EXPECT_EQ(result.outcome, SandboxOutcome::kStartFailed) << describe(result);
  EXPECT_NE(result.reason.find("/no/such/command-xyz"), std::string::npos) << result.reason;
  EXPECT_TRUE(result.reason.rfind("runc: ", 0) == 0 || result.reason.rfind("crun: ", 0) == 0)
      << result.reason;
  EXPECT_EQ(result.reason.find("run failed"), std::string::npos) << result.reason;
}

}  // namespace
}  // namespace synapse::compute::testing
