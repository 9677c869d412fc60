// Real bubblewrap sandboxes: what a job sees and what it cannot reach (docs/sandbox.md).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox_harness.h"

namespace synapse::compute::testing {
namespace {

using Sandbox = SandboxHarness;

TEST_F(Sandbox, EchoGoesToTheStdoutFile) {
  SandboxSpec spec = make_spec({"echo", "hello from the sandbox"});
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.reason, "exited with 0");
  EXPECT_EQ(read_file(out), "hello from the sandbox\n");
  EXPECT_GT(result.usage.wall.count(), 0);
}

TEST_F(Sandbox, ExitCodeIsReported) {
  const SandboxResult result = run(shell("echo oops >&2; exit 3"));
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.reason, "exited with 3");
}

TEST_F(Sandbox, StderrGoesToTheStderrFile) {
  SandboxSpec spec = shell("echo to-out; echo to-err >&2");
  const fs::path out = spec.stdout_path;
  const fs::path err = spec.stderr_path;
  run(spec);
  EXPECT_EQ(read_file(out), "to-out\n");
  EXPECT_EQ(read_file(err), "to-err\n");
}

TEST_F(Sandbox, JobRunsAsTheJobAccount) {
  SandboxSpec spec = shell("id -u; id -g; id -G");
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(out), "65534\n65534\n65534\n");
}

TEST_F(Sandbox, JobCannotReadEtcShadow) {
  ASSERT_TRUE(fs::exists("/etc/shadow"));
  SandboxSpec spec = make_spec({"cat", "/etc/shadow"});
  const fs::path out = spec.stdout_path;
  const fs::path err = spec.stderr_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(read_file(out), "");
  EXPECT_NE(read_file(err).find("Permission denied"), std::string::npos) << read_file(err);
}

TEST_F(Sandbox, JobCannotWriteTheRootOrGainPrivileges) {
  SandboxSpec spec = shell(
      "touch /etc/x 2>/dev/null && echo wrote-etc; touch /newfile 2>/dev/null && echo wrote-root;"
      " grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status");
  const fs::path out = spec.stdout_path;
  run(spec);
  const std::string text = read_file(out);
  EXPECT_EQ(text.find("wrote"), std::string::npos) << text;
  EXPECT_NE(text.find("CapEff:\t0000000000000000"), std::string::npos) << text;
  EXPECT_NE(text.find("NoNewPrivs:\t1"), std::string::npos) << text;
}

// A listening socket on 127.0.0.1 with a port the kernel chose.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t size = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }
  // Whether a connection is waiting (the job's connect completed).
  bool connected() {
    const int peer = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (peer < 0) return false;
    ::close(peer);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(Sandbox, JobHasNoNetworkByDefault) {
  Listener listener;
  SandboxSpec spec =
      make_spec({"bash", "-c", "echo hi > /dev/tcp/127.0.0.1/" + std::to_string(listener.port())});
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_NE(result.exit_code, 0) << "the connection is refused inside its own namespace";
  EXPECT_FALSE(listener.connected());
}

TEST_F(Sandbox, JobWithNetworkReachesTheHost) {
  Listener listener;
  SandboxSpec spec =
      make_spec({"bash", "-c", "echo hi > /dev/tcp/127.0.0.1/" + std::to_string(listener.port())});
  spec.network = true;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(listener.connected());
}

TEST_F(Sandbox, InputsAreReadableButNotWritable) {
  const fs::path input = dir_ / "input";
  fs::create_directories(input);
  write_file(input / "data.txt", "input data\n");
  fs::permissions(input, fs::perms::all);  // even a world-writable folder stays read-only
  SandboxSpec spec = shell("cat /in/data.txt; echo x > /in/new.txt; rm /in/data.txt");
  spec.binds.push_back(BindMount{input, "/in", false});
  const fs::path out = spec.stdout_path;
  const fs::path err = spec.stderr_path;
  run(spec);
  EXPECT_EQ(read_file(out), "input data\n");
  EXPECT_NE(read_file(err).find("Read-only file system"), std::string::npos) << read_file(err);
  EXPECT_FALSE(fs::exists(input / "new.txt"));
  EXPECT_TRUE(fs::exists(input / "data.txt"));
}

TEST_F(Sandbox, OutputsAreWritableAndVisibleOnTheHost) {
  const fs::path output = dir_ / "output";
  fs::create_directories(output);
  ASSERT_EQ(::chown(output.c_str(), 65534, 65534), 0);
  SandboxSpec spec = shell("echo result > /out/result.txt; mkdir /out/sub && echo y > /out/sub/f");
  spec.binds.push_back(BindMount{output, "/out", true});
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(output / "result.txt"), "result\n");
  EXPECT_EQ(read_file(output / "sub" / "f"), "y\n");
  struct stat st;
  ASSERT_EQ(::stat((output / "result.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "files the job writes belong to its account";
}

TEST_F(Sandbox, BindsNestUnderOneAnotherInOrder) {
  const fs::path data = dir_ / "data";
  const fs::path models = dir_ / "models";
  fs::create_directories(data / "models");
  fs::create_directories(models);
  write_file(models / "m.bin", "weights\n");
  SandboxSpec spec = make_spec({"cat", "/work/in/models/m.bin"});
  spec.binds.push_back(BindMount{data, "/work/in", false});
  spec.binds.push_back(BindMount{models, "/work/in/models", false});
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(read_file(out), "weights\n");
}

TEST_F(Sandbox, TmpIsPrivate) {
  const std::string marker = "synapse-private-tmp-" + std::to_string(::getpid());
  write_file(fs::path("/tmp") / (marker + "-host"), "host\n");
  SandboxSpec spec = shell("ls -A /tmp; echo job > /tmp/" + marker);
  const fs::path out = spec.stdout_path;
  const SandboxResult result = run(spec);
  fs::remove(fs::path("/tmp") / (marker + "-host"));
  EXPECT_EQ(result.outcome, SandboxOutcome::kExited) << describe(result);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(read_file(out), "") << "the job's /tmp starts empty";
  EXPECT_FALSE(fs::exists(fs::path("/tmp") / marker)) << "and is not the host's";
}

TEST_F(Sandbox, EnvironmentAndWorkdirAreTheSpecs) {
  SandboxSpec spec = shell("pwd; env | sort");
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"GREETING", "hello world"}};
  spec.workdir = "/usr";
  const fs::path out = spec.stdout_path;
  run(spec);
  EXPECT_EQ(read_file(out), "/usr\nGREETING=hello world\nPATH=/usr/bin:/bin\nPWD=/usr\n");
}

TEST_F(Sandbox, JobSeesItsOwnProcessesOnly) {
  SandboxSpec spec = shell("ls /proc | grep -c '^[0-9]'; hostname");
  const fs::path out = spec.stdout_path;
  run(spec);
  const std::string text = read_file(out);
  // bubblewrap's init, sh, ls and grep (and a subshell at most).
  EXPECT_LE(std::stoi(text), 6) << text;
  EXPECT_NE(text.find("sandbox\n"), std::string::npos) << text;
}

TEST_F(Sandbox, SignalIsReported) {
  const SandboxResult result = run(shell("kill -SEGV $$"));
  EXPECT_EQ(result.outcome, SandboxOutcome::kSignaled) << describe(result);
  EXPECT_EQ(result.signal, SIGSEGV);
  EXPECT_EQ(result.reason, "killed by SIGSEGV");
}

TEST_F(Sandbox, MissingCommandIsAStartFailure) {
  const SandboxResult result = run(make_spec({"/no/such/command-xyz", "arg"}));
  EXPECT_EQ(result.outcome, SandboxOutcome::kStartFailed) << describe(result);
  EXPECT_EQ(result.reason, "bwrap: execvp /no/such/command-xyz: No such file or directory");
}

TEST_F(Sandbox, MissingWorkdirIsAStartFailure) {
  SandboxSpec spec = make_spec({"true"});
  spec.workdir = "/no-such-folder";
  const SandboxResult result = run(spec);
  EXPECT_EQ(result.outcome, SandboxOutcome::kStartFailed) << describe(result);
  EXPECT_NE(result.reason.find("bwrap: "), std::string::npos) << result.reason;
  EXPECT_NE(result.reason.find("/no-such-folder"), std::string::npos) << result.reason;
}

TEST_F(Sandbox, BadSpecsAreRefusedWithoutCallingDone) {
  auto called = std::make_shared<bool>(false);
  auto refuse = [&](SandboxSpec spec, core::ErrorCode code) {
    auto id = runner_->start(std::move(spec), [called](SandboxResult) { *called = true; });
    ASSERT_FALSE(id.has_value());
    EXPECT_EQ(id.error().code(), code) << id.error().message();
  };
  SandboxSpec spec = make_spec({"true"});
  spec.name = "Bad/Name";
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({});
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({"true"});
  spec.binds.push_back(BindMount{dir_.path(), "relative", false});
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({"true"});
  spec.binds.push_back(BindMount{dir_ / "missing", "/in", false});
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({"true"});
  spec.uid = 0;
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({"true"});
  spec.gpus = {250};
  refuse(spec, core::ErrorCode::kInvalidArgument);
  spec = make_spec({"true"});
  spec.runtime = RuntimeKind::kDocker;  // no engine answers on the test hosts
  spec.engine_image = "alpine";
  const auto kinds = runner_->runtimes();
  if (std::find(kinds.begin(), kinds.end(), RuntimeKind::kDocker) == kinds.end()) {
    refuse(spec, core::ErrorCode::kUnsupported);
  }
  spec = make_spec({"true"});
  spec.stdout_path = dir_ / "no-such-folder" / "out";
  refuse(spec, core::ErrorCode::kIo);
  run_until([] { return false; }, 50ms);  // a refused start never reports later either
  EXPECT_FALSE(*called);
  EXPECT_EQ(runner_->running(), 0u);
}

TEST_F(Sandbox, NamesAreUniqueWhileRunning) {
  SandboxSpec spec = make_spec({"sleep", "30"});
  spec.limits.kill_grace = 5s;
  const Tracked first = start(spec);
  ASSERT_NE(first.id, 0u);
  auto again = runner_->start(spec, [](SandboxResult) {});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), core::ErrorCode::kAlreadyExists);
  runner_->cancel(first.id);
  ASSERT_TRUE(run_until([&] { return first.done(); }, 20s));
  EXPECT_EQ(first->outcome, SandboxOutcome::kCancelled);
  EXPECT_LT(first->usage.wall, 4s) << "SIGTERM reached sleep though it started after cancel()";
  // Once it has reported, the name is free again.
  spec.argv = {"true"};
  const SandboxResult second = run(spec);
  EXPECT_EQ(second.outcome, SandboxOutcome::kExited) << describe(second);
}

}  // namespace
}  // namespace synapse::compute::testing
