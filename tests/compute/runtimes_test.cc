// The pure builders of runtimes.h: bubblewrap flags, the OCI config.json, engine command
// lines, spec validation and the words of results.
#include "runtimes.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace synapse::compute {
namespace {

using namespace std::chrono_literals;
using Args = std::vector<std::string>;

SandboxSpec sample_spec() {
  SandboxSpec spec;
  spec.name = "job-1.task_0";
  spec.argv = {"sh", "-c", "echo hi"};
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  spec.workdir = "/work";
  spec.binds = {BindMount{"/data/books", "/in", false}, BindMount{"/data/out", "/out", true}};
  spec.limits.cpus = 1.5;
  spec.limits.memory_bytes = uint64_t{64} << 20;
  spec.limits.pids = 100;
  spec.uid = 1234;
  spec.gid = 5678;
  spec.stdout_path = "/x/stdout";
  spec.stderr_path = "/x/stderr";
  spec.scratch = "/x/scratch";
  return spec;
}

// Whether `needle` appears in `args` as consecutive elements.
bool has_run(const Args& args, const Args& needle) {
  return std::search(args.begin(), args.end(), needle.begin(), needle.end()) != args.end();
}

size_t index_of(const Args& args, const Args& needle) {
  return static_cast<size_t>(std::search(args.begin(), args.end(), needle.begin(), needle.end()) -
                             args.begin());
}

bool contains(const Args& args, const std::string& word) {
  return std::find(args.begin(), args.end(), word) != args.end();
}

TEST(RuntimeWords, NamesAreStable) {
  EXPECT_EQ(runtime_kind_name(RuntimeKind::kBubblewrap), "bubblewrap");
  EXPECT_EQ(runtime_kind_name(RuntimeKind::kOci), "oci");
  EXPECT_EQ(runtime_kind_name(RuntimeKind::kDocker), "docker");
  EXPECT_EQ(runtime_kind_name(RuntimeKind::kPodman), "podman");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kExited), "exited");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kSignaled), "signaled");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kTimedOut), "timed-out");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kOutOfMemory), "out-of-memory");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kCancelled), "cancelled");
  EXPECT_EQ(sandbox_outcome_name(SandboxOutcome::kStartFailed), "start-failed");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(format_seconds(2s), "2s");
  EXPECT_EQ(format_seconds(1500ms), "1.5s");
  EXPECT_EQ(format_seconds(250ms), "250ms");
  EXPECT_EQ(format_seconds(std::chrono::hours(1)), "3600s");
}

TEST(BwrapArgs, IsolateEverythingAndRunAsTheJobAccount) {
  const SandboxSpec spec = sample_spec();
  const Args args = bwrap_args(spec, BwrapPlan{"/usr/bin/bwrap", "/", {}, {}, 3});
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "/usr/bin/bwrap");
  for (const char* flag :
       {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--unshare-net", "--die-with-parent", "--new-session", "--clearenv"}) {
    EXPECT_TRUE(contains(args, flag)) << flag;
  }
  EXPECT_TRUE(has_run(args, {"--cap-drop", "ALL"}));
  EXPECT_TRUE(has_run(args, {"--uid", "1234"}));
  EXPECT_TRUE(has_run(args, {"--gid", "5678"}));
  EXPECT_TRUE(has_run(args, {"--json-status-fd", "3"}));
  EXPECT_TRUE(has_run(args, {"--ro-bind", "/", "/"})) << "no entries: the root bound whole";
  EXPECT_TRUE(has_run(args, {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"}));
  EXPECT_TRUE(has_run(args, {"--chdir", "/work"}));
  EXPECT_TRUE(has_run(args, {"--setenv", "PATH", "/usr/bin:/bin"}));
  EXPECT_TRUE(has_run(args, {"--setenv", "LANG", "C.UTF-8"}));
  EXPECT_LT(index_of(args, {"--clearenv"}), index_of(args, {"--setenv"}));
  // The command comes last, after "--", untouched.
  const Args tail = {"--", "sh", "-c", "echo hi"};
  ASSERT_GE(args.size(), tail.size());
  EXPECT_EQ(Args(args.end() - 4, args.end()), tail);
  EXPECT_FALSE(contains(args, "--dev-bind"));
}

TEST(BwrapArgs, NetworkTrueKeepsTheHostNetwork) {
  SandboxSpec spec = sample_spec();
  spec.network = true;
  const Args args = bwrap_args(spec, BwrapPlan{});
  EXPECT_FALSE(contains(args, "--unshare-net"));
  EXPECT_TRUE(contains(args, "--unshare-pid"));
  EXPECT_FALSE(contains(args, "--json-status-fd"));
}

TEST(BwrapArgs, BindsInOrderAfterTheRootAndBeforeRemountingIt) {
  SandboxSpec spec = sample_spec();
  spec.binds.push_back(BindMount{"/data/models", "/in/models", false});
  const std::vector<RootEntry> entries = {{"bin", "usr/bin"}, {"etc", ""}, {"usr", ""}};
  const Args args = bwrap_args(spec, BwrapPlan{"bwrap", "/images/alpine", entries, {}, -1});
  EXPECT_TRUE(has_run(args, {"--symlink", "usr/bin", "/bin"}));
  EXPECT_TRUE(has_run(args, {"--ro-bind", "/images/alpine/etc", "/etc"}));
  EXPECT_TRUE(has_run(args, {"--ro-bind", "/images/alpine/usr", "/usr"}));
  EXPECT_FALSE(has_run(args, {"--ro-bind", "/images/alpine", "/"}));
  const size_t in = index_of(args, {"--ro-bind", "/data/books", "/in"});
  const size_t out = index_of(args, {"--bind", "/data/out", "/out"});
  const size_t models = index_of(args, {"--ro-bind", "/data/models", "/in/models"});
  const size_t usr = index_of(args, {"--ro-bind", "/images/alpine/usr", "/usr"});
  const size_t tmp = index_of(args, {"--tmpfs", "/tmp"});
  const size_t remount = index_of(args, {"--remount-ro", "/"});
  ASSERT_LT(remount, args.size());
  EXPECT_LT(usr, tmp);
  EXPECT_LT(tmp, in);
  EXPECT_LT(in, out);
  EXPECT_LT(out, models);
  EXPECT_LT(models, remount);
  EXPECT_LT(remount, index_of(args, {"--"}));
}

TEST(BwrapArgs, GpusGetTheirDevicesAndVisibleDevices) {
  SandboxSpec spec = sample_spec();
  spec.gpus = {2, 5};
  spec.env.emplace_back("CUDA_VISIBLE_DEVICES", "7");  // the runner's value wins
  const std::vector<DeviceNode> devices = {{"/dev/nvidia2", 195, 2},
                                           {"/dev/nvidia5", 195, 5},
                                           {"/dev/nvidiactl", 195, 255},
                                           {"/dev/nvidia-uvm", 508, 0}};
  const Args args = bwrap_args(spec, BwrapPlan{"bwrap", "/", {}, devices, -1});
  for (const DeviceNode& device : devices) {
    EXPECT_TRUE(has_run(args, {"--dev-bind", device.path, device.path})) << device.path;
  }
  EXPECT_LT(index_of(args, {"--dev", "/dev"}), index_of(args, {"--dev-bind"}));
  EXPECT_TRUE(has_run(args, {"--setenv", "CUDA_VISIBLE_DEVICES", "0,1"}));
  EXPECT_TRUE(has_run(args, {"--setenv", "NVIDIA_VISIBLE_DEVICES", "2,5"}));
  EXPECT_FALSE(has_run(args, {"--setenv", "CUDA_VISIBLE_DEVICES", "7"}));
}

TEST(SandboxEnv, WithoutGpusTheSpecsEnvironmentIsKept) {
  SandboxSpec spec = sample_spec();
  spec.env.emplace_back("CUDA_VISIBLE_DEVICES", "3");
  EXPECT_EQ(sandbox_env(spec), spec.env);
}

TEST(OciConfig, DescribesTheSameSandbox) {
  SandboxSpec spec = sample_spec();
  const std::vector<RootEntry> entries = {{"bin", "usr/bin"}, {"etc", ""}, {"usr", ""}};
  const std::string text = oci_config_json(
      spec, OciPlan{"/", entries, "/x/scratch/bundle/rootfs", "synapse-jobs/job-1.task_0", {}});
  const auto config = nlohmann::json::parse(text);
  EXPECT_EQ(config["ociVersion"], "1.0.2");
  EXPECT_EQ(config["root"]["path"], "/x/scratch/bundle/rootfs");
  EXPECT_EQ(config["root"]["readonly"], true);

  const auto& process = config["process"];
  EXPECT_EQ(process["terminal"], false);
  EXPECT_EQ(process["user"]["uid"], 1234);
  EXPECT_EQ(process["user"]["gid"], 5678);
  EXPECT_EQ(process["args"], nlohmann::json({"sh", "-c", "echo hi"}));
  EXPECT_EQ(process["env"], nlohmann::json({"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}));
  EXPECT_EQ(process["cwd"], "/work");
  EXPECT_EQ(process["noNewPrivileges"], true);
  for (const char* set : {"bounding", "effective", "inheritable", "permitted", "ambient"}) {
    EXPECT_TRUE(process["capabilities"][set].empty()) << set;
  }

  std::vector<std::string> destinations;
  for (const auto& mount : config["mounts"]) destinations.push_back(mount["destination"]);
  const std::vector<std::string> expected = {"/etc",     "/usr",        "/proc", "/dev", "/dev/pts",
                                             "/dev/shm", "/dev/mqueue", "/tmp",  "/in",  "/out"};
  EXPECT_EQ(destinations, expected) << "symlinks are made in the rootfs, not mounted";
  const auto& usr = config["mounts"][1];
  EXPECT_EQ(usr["source"], "/usr");
  EXPECT_EQ(usr["type"], "bind");
  EXPECT_EQ(usr["options"], nlohmann::json({"rbind", "rro", "nosuid", "nodev"}));
  const auto& in = config["mounts"][8];
  EXPECT_EQ(in["source"], "/data/books");
  EXPECT_NE(std::find(in["options"].begin(), in["options"].end(), "rro"), in["options"].end());
  const auto& out = config["mounts"][9];
  EXPECT_EQ(out["source"], "/data/out");
  EXPECT_EQ(std::find(out["options"].begin(), out["options"].end(), "rro"), out["options"].end());
  EXPECT_EQ(config["mounts"][7]["type"], "tmpfs");

  const auto& section = config["linux"];
  std::vector<std::string> namespaces;
  for (const auto& ns : section["namespaces"]) namespaces.push_back(ns["type"]);
  EXPECT_EQ(namespaces, (std::vector<std::string>{"pid", "ipc", "uts", "mount", "network"}));
  EXPECT_EQ(section["cgroupsPath"], "synapse-jobs/job-1.task_0");
  EXPECT_EQ(section["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(section["resources"]["memory"]["swap"], 64 << 20);
  EXPECT_EQ(section["resources"]["cpu"]["quota"], 150000);
  EXPECT_EQ(section["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ(section["resources"]["pids"]["limit"], 100);
  EXPECT_EQ(section["resources"]["devices"],
            nlohmann::json::parse(R"([{"allow": false, "access": "rwm"}])"));
  EXPECT_TRUE(section["devices"].empty());
  const auto& masked = section["maskedPaths"];
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  const auto& readonly = section["readonlyPaths"];
  EXPECT_NE(std::find(readonly.begin(), readonly.end(), "/proc/sys"), readonly.end());
}

TEST(OciConfig, NetworkTrueSharesTheHostNetworkAndGpusAreAllowed) {
  SandboxSpec spec = sample_spec();
  spec.network = true;
  spec.gpus = {1};
  const std::vector<DeviceNode> devices = {{"/dev/nvidia1", 195, 1}, {"/dev/nvidiactl", 195, 255}};
  const auto config = nlohmann::json::parse(
      oci_config_json(spec, OciPlan{"/", {}, "/r", "synapse-jobs/j", devices}));
  for (const auto& ns : config["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
  const auto& nodes = config["linux"]["devices"];
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0]["path"], "/dev/nvidia1");
  EXPECT_EQ(nodes[0]["type"], "c");
  EXPECT_EQ(nodes[0]["major"], 195);
  EXPECT_EQ(nodes[0]["minor"], 1);
  const auto& rules = config["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0]["allow"], false);
  EXPECT_EQ(rules[2]["allow"], true);
  EXPECT_EQ(rules[2]["minor"], 255);
  EXPECT_EQ(rules[2]["access"], "rwm");
  const auto& env = config["process"]["env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "CUDA_VISIBLE_DEVICES=0"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "NVIDIA_VISIBLE_DEVICES=1"), env.end());
}

TEST(OciConfig, SmallCpuSharesGetTheMinimumQuota) {
  SandboxSpec spec = sample_spec();
  spec.limits.cpus = 0.001;
  const auto config = nlohmann::json::parse(oci_config_json(spec, OciPlan{}));
  EXPECT_EQ(config["linux"]["resources"]["cpu"]["quota"], 1000);
}

TEST(OciArgs, RunKeepsTheContainerAndLogsAside) {
  EXPECT_EQ(oci_run_args("/usr/sbin/runc", "/s/state", "/s/bundle", "/s/runtime.log", "job"),
            (Args{"/usr/sbin/runc", "--root", "/s/state", "--log", "/s/runtime.log", "--log-format",
                  "json", "run", "--bundle", "/s/bundle", "--keep", "--no-new-keyring", "job"}));
  EXPECT_EQ(oci_kill_args("runc", "/s/state", "job", "TERM"),
            (Args{"runc", "--root", "/s/state", "kill", "--all", "job", "TERM"}));
  EXPECT_EQ(oci_delete_args("crun", "/s/state", "job"),
            (Args{"crun", "--root", "/s/state", "delete", "--force", "job"}));
}

TEST(EngineArgs, DockerRunCarriesEveryLimit) {
  SandboxSpec spec = sample_spec();
  spec.runtime = RuntimeKind::kDocker;
  spec.engine_image = "python:3.12-slim";
  const Args args = engine_run_args(spec, "/usr/bin/docker");
  EXPECT_EQ(Args(args.begin(), args.begin() + 4),
            (Args{"/usr/bin/docker", "run", "--name", "job-1.task_0"}));
  EXPECT_FALSE(contains(args, "--rm")) << "kept until inspected for OOM";
  EXPECT_TRUE(has_run(args, {"--memory", std::to_string(64 << 20)}));
  EXPECT_TRUE(has_run(args, {"--memory-swap", std::to_string(64 << 20)}));
  EXPECT_TRUE(has_run(args, {"--cpus", "1.5"}));
  EXPECT_TRUE(has_run(args, {"--pids-limit", "100"}));
  EXPECT_TRUE(has_run(args, {"--network", "none"}));
  EXPECT_TRUE(has_run(args, {"--user", "1234:5678"}));
  EXPECT_TRUE(has_run(args, {"--cap-drop", "ALL"}));
  EXPECT_TRUE(has_run(args, {"--security-opt", "no-new-privileges"}));
  EXPECT_TRUE(contains(args, "--read-only"));
  EXPECT_TRUE(has_run(args, {"--tmpfs", "/tmp"}));
  EXPECT_TRUE(has_run(args, {"-w", "/work"}));
  EXPECT_TRUE(has_run(args, {"-e", "PATH=/usr/bin:/bin"}));
  EXPECT_TRUE(has_run(args, {"-e", "LANG=C.UTF-8"}));
  EXPECT_TRUE(has_run(args, {"-v", "/data/books:/in:ro"}));
  EXPECT_TRUE(has_run(args, {"-v", "/data/out:/out"}));
  EXPECT_FALSE(contains(args, "--gpus"));
  EXPECT_EQ(Args(args.end() - 4, args.end()), (Args{"python:3.12-slim", "sh", "-c", "echo hi"}));
}

TEST(EngineArgs, NetworkAndGpusPerEngine) {
  SandboxSpec spec = sample_spec();
  spec.runtime = RuntimeKind::kDocker;
  spec.engine_image = "img";
  spec.network = true;
  spec.limits.cpus = 0.25;
  spec.gpus = {0, 3};
  Args args = engine_run_args(spec, "docker");
  EXPECT_TRUE(has_run(args, {"--network", "bridge"}));
  EXPECT_TRUE(has_run(args, {"--cpus", "0.25"}));
  EXPECT_TRUE(has_run(args, {"--gpus", "\"device=0,3\""}));
  spec.runtime = RuntimeKind::kPodman;
  args = engine_run_args(spec, "podman");
  EXPECT_EQ(args[0], "podman");
  EXPECT_FALSE(contains(args, "--gpus"));
  EXPECT_TRUE(has_run(args, {"--device", "nvidia.com/gpu=0"}));
  EXPECT_TRUE(has_run(args, {"--device", "nvidia.com/gpu=3"}));
}

TEST(EngineArgs, HelpersNameTheContainer) {
  EXPECT_EQ(engine_kill_args("docker", "j", "TERM"),
            (Args{"docker", "kill", "--signal", "TERM", "j"}));
  EXPECT_EQ(engine_inspect_args("podman", "j"),
            (Args{"podman", "inspect", "--format", "{{.State.OOMKilled}}", "j"}));
  EXPECT_EQ(engine_remove_args("docker", "j"), (Args{"docker", "rm", "--force", "j"}));
}

TEST(ValidateSpec, AcceptsAGoodSpec) { EXPECT_TRUE(validate_spec(sample_spec())); }

TEST(ValidateSpec, RefusesWhatCannotBeRunSafely) {
  auto refused = [](auto change) {
    SandboxSpec spec = sample_spec();
    change(spec);
    auto status = validate_spec(spec);
    return !status && status.error().code() == core::ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = ""; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = std::string(101, 'a'); }));
  EXPECT_FALSE(refused([](SandboxSpec& s) { s.name = std::string(100, 'a'); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = "Upper"; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = "a/b"; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = ".."; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.name = "-rm"; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.argv.clear(); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.argv = {""}; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.argv.push_back(std::string("a\0b", 3)); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.env.emplace_back("A=B", "c"); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.env.emplace_back("", "c"); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.workdir = "relative"; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "in", false}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "/", false}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "/in/../etc", false}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "/proc/sys", false}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "/dev", true}); }));
  EXPECT_FALSE(refused([](SandboxSpec& s) { s.binds.push_back({"/a", "/devices", true}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.binds.push_back({"relative", "/in", false}); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.uid = 0; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.gid = 0; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.limits.cpus = 0; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.limits.memory_bytes = 1000; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.limits.pids = 0; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.limits.timeout = 0s; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.gpus = {1, 1}; }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.stdout_path.clear(); }));
  EXPECT_TRUE(refused([](SandboxSpec& s) {
    s.runtime = RuntimeKind::kOci;
    s.scratch.clear();
  }));
  EXPECT_TRUE(refused([](SandboxSpec& s) { s.runtime = RuntimeKind::kDocker; }));  // no image
  EXPECT_TRUE(refused([](SandboxSpec& s) {
    s.runtime = RuntimeKind::kDocker;
    s.engine_image = "img";
    s.binds.push_back({"/a:b", "/c", false});
  }));
  EXPECT_FALSE(refused([](SandboxSpec& s) {
    s.runtime = RuntimeKind::kPodman;
    s.engine_image = "img";
  }));
}

}  // namespace
}  // namespace synapse::compute
