#include "synapse/compute/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/crypto/cid.h"

namespace synapse::compute {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::FieldsAre;
using Found = std::tuple<int, std::string, std::string>;  // line, key, message

JobSpec parse_ok(std::string_view text, std::string_view default_name = "job") {
  auto spec = parse_spec(text, default_name);
  EXPECT_TRUE(spec) << text << "\ngave:\n" << (spec ? "" : format_errors(spec.error()));
  return spec ? *spec : JobSpec{};
}

std::vector<Found> errors_of(std::string_view text, std::string_view default_name = "job") {
  auto spec = parse_spec(text, default_name);
  EXPECT_FALSE(spec) << text;
  std::vector<Found> found;
  if (!spec) {
    for (const SpecError& error : spec.error()) {
      found.emplace_back(error.line, error.key, error.message);
    }
  }
  return found;
}

// A valid spec with `extra` appended: the first line is line 1, `extra` starts on line 2.
std::string with(std::string_view extra) { return "command = [\"true\"]\n" + std::string(extra); }

std::string a_cid() {
  return crypto::Cid::of(1, crypto::Codec::kRaw, core::as_bytes(std::string_view("hello")))
      .to_string();
}

// ---------------------------------------------------------------------------------------------
// Specs that parse.

TEST(JobSpec, MinimalSpecGetsEveryDefault) {
  JobSpec spec = parse_ok("command = [\"true\"]\n", "wordcount");
  EXPECT_EQ(spec.name, "wordcount");
  EXPECT_EQ(spec.command, (std::vector<std::string>{"true"}));
  EXPECT_EQ(spec.image.kind, ImageKind::kHost);
  EXPECT_EQ(spec.image.path, "");
  EXPECT_EQ(spec.image.line, 0);
  EXPECT_EQ(spec.runtime, Runtime::kAuto);
  EXPECT_TRUE(spec.inputs.empty());
  EXPECT_TRUE(spec.outputs.empty());
  EXPECT_TRUE(spec.env.empty());
  EXPECT_EQ(spec.workdir, "/");
  EXPECT_EQ(spec.array, 0u);
  EXPECT_EQ(spec.task_count(), 1u);
  const Resources defaults;
  EXPECT_EQ(spec.resources.cpus, 1.0);
  EXPECT_EQ(spec.resources.memory, uint64_t{512} << 20);
  EXPECT_EQ(spec.resources.gpus, 0u);
  EXPECT_EQ(spec.resources.timeout, std::chrono::hours(1));
  EXPECT_FALSE(spec.resources.network);
  EXPECT_EQ(spec.resources.retries, 2u);
  EXPECT_EQ(spec.resources.pids, 4096u);
  EXPECT_EQ(spec.resources.timeout, defaults.timeout);
  EXPECT_TRUE(spec.placement.labels.empty());
  EXPECT_TRUE(spec.placement.nodes.empty());
}

TEST(JobSpec, FullSpecReadsEveryKey) {
  JobSpec spec = parse_ok(R"(name = "wordcount"
command = ["sh", "-c", "cat /in/*.txt | wc -w > /out/count"]
image = "/synapse/images/alpine.tar"
runtime = "bubblewrap"
inputs = { "/in" = "/synapse/datasets/books", "/ref" = "/synapse" }
outputs = { "/out" = "/synapse/results/wordcount" }
env = { LANG = "C.UTF-8", A_FIRST = "1" }
workdir = "/in"
array = 4
[resources]
cpus = 2
memory = "1G"
gpus = 1
timeout = "10m"
network = true
retries = 0
pids = 100
[placement]
labels = ["ssd", "gpu:a100"]
nodes = ["ab12cd34", "lab-pc-3"]
)",
                          "ignored");
  EXPECT_EQ(spec.name, "wordcount");
  EXPECT_EQ(spec.command,
            (std::vector<std::string>{"sh", "-c", "cat /in/*.txt | wc -w > /out/count"}));
  EXPECT_EQ(spec.image.kind, ImageKind::kShared);
  EXPECT_EQ(spec.image.path, "images/alpine.tar");
  EXPECT_EQ(spec.image.line, 3);
  EXPECT_EQ(spec.runtime, Runtime::kBubblewrap);
  ASSERT_EQ(spec.inputs.size(), 2u);
  EXPECT_EQ(spec.inputs[0].sandbox_path, "/in");
  EXPECT_EQ(spec.inputs[0].shared_path, "datasets/books");
  EXPECT_EQ(spec.inputs[0].line, 5);
  EXPECT_EQ(spec.inputs[1].sandbox_path, "/ref");
  EXPECT_EQ(spec.inputs[1].shared_path, "");
  ASSERT_EQ(spec.outputs.size(), 1u);
  EXPECT_EQ(spec.outputs[0].sandbox_path, "/out");
  EXPECT_EQ(spec.outputs[0].shared_path, "results/wordcount");
  EXPECT_EQ(spec.outputs[0].line, 6);
  EXPECT_EQ(spec.env, (std::vector<std::pair<std::string, std::string>>{{"A_FIRST", "1"},
                                                                        {"LANG", "C.UTF-8"}}));
  EXPECT_EQ(spec.workdir, "/in");
  EXPECT_EQ(spec.array, 4u);
  EXPECT_EQ(spec.task_count(), 4u);
  EXPECT_EQ(spec.resources.cpus, 2.0);
  EXPECT_EQ(spec.resources.memory, uint64_t{1} << 30);
  EXPECT_EQ(spec.resources.gpus, 1u);
  EXPECT_EQ(spec.resources.timeout, std::chrono::minutes(10));
  EXPECT_TRUE(spec.resources.network);
  EXPECT_EQ(spec.resources.retries, 0u);
  EXPECT_EQ(spec.resources.pids, 100u);
  EXPECT_EQ(spec.placement.labels, (std::vector<std::string>{"ssd", "gpu:a100"}));
  EXPECT_EQ(spec.placement.nodes, (std::vector<std::string>{"ab12cd34", "lab-pc-3"}));
}

TEST(JobSpec, StringCommandRunsWithShell) {
  JobSpec spec = parse_ok("command = \"cat /in/*.txt | wc -w > /out/count\"\n");
  EXPECT_EQ(spec.command,
            (std::vector<std::string>{"sh", "-c", "cat /in/*.txt | wc -w > /out/count"}));
}

TEST(JobSpec, MultiLineStringCommandIsOneScript) {
  JobSpec spec = parse_ok("command = \"\"\"\nset -e\necho one\necho two\n\"\"\"\n");
  EXPECT_EQ(spec.command, (std::vector<std::string>{"sh", "-c", "set -e\necho one\necho two\n"}));
}

TEST(JobSpec, EmptyArgumentsAfterTheProgramAreKept) {
  JobSpec spec = parse_ok("command = [\"printf\", \"%s|\", \"\"]\n");
  EXPECT_EQ(spec.command, (std::vector<std::string>{"printf", "%s|", ""}));
}

TEST(JobSpec, ArrayJob) {
  JobSpec spec = parse_ok(R"(command = "echo $SYNAPSE_TASK_ID > /out/$SYNAPSE_TASK_ID"
outputs = { "/out" = "/synapse/results/squares" }
array = 10000
)");
  EXPECT_EQ(spec.array, kMaxArrayTasks);
  EXPECT_EQ(spec.task_count(), kMaxArrayTasks);
  EXPECT_EQ(parse_ok(with("array = 1")).task_count(), 1u);
}

TEST(JobSpec, DockerImage) {
  JobSpec spec = parse_ok(with("image = \"docker://python:3.12-slim\""));
  EXPECT_EQ(spec.image.kind, ImageKind::kEngine);
  EXPECT_EQ(spec.image.path, "python:3.12-slim");
  EXPECT_EQ(spec.image.line, 2);
  EXPECT_EQ(spec.runtime, Runtime::kAuto);
  for (std::string_view runtime : {"docker", "podman", "auto"}) {
    JobSpec engine =
        parse_ok(with("image = \"docker://registry.lab:5000/team/tool@sha256:ab12\"\n"
                      "runtime = \"" +
                      std::string(runtime) + "\""));
    EXPECT_EQ(engine.image.path, "registry.lab:5000/team/tool@sha256:ab12");
    EXPECT_EQ(runtime_name(engine.runtime), runtime);
  }
}

TEST(JobSpec, SharedImageWithEveryRuntimeThatTakesOne) {
  for (std::string_view runtime : {"auto", "bubblewrap", "oci"}) {
    JobSpec spec = parse_ok(
        with("image = \"/synapse/images/rootfs\"\nruntime = \"" + std::string(runtime) + "\""));
    EXPECT_EQ(spec.image.kind, ImageKind::kShared);
    EXPECT_EQ(spec.image.path, "images/rootfs");
  }
  EXPECT_EQ(parse_ok(with("image = \"host\"\nruntime = \"oci\"")).image.kind, ImageKind::kHost);
}

TEST(JobSpec, FractionalCpus) {
  EXPECT_EQ(parse_ok(with("[resources]\ncpus = 0.5")).resources.cpus, 0.5);
  EXPECT_EQ(parse_ok(with("[resources]\ncpus = 0.01")).resources.cpus, 0.01);
  EXPECT_EQ(parse_ok(with("[resources]\ncpus = 1024")).resources.cpus, 1024.0);
}

TEST(JobSpec, MemoryAsIntegerBytesOrSizeString) {
  EXPECT_EQ(parse_ok(with("[resources]\nmemory = 4194304")).resources.memory, uint64_t{4} << 20);
  EXPECT_EQ(parse_ok(with("[resources]\nmemory = \"1.5G\"")).resources.memory, uint64_t{3} << 29);
  EXPECT_EQ(parse_ok(with("[resources]\nmemory = \"64 MiB\"")).resources.memory,
            uint64_t{64} << 20);
}

TEST(JobSpec, TimeoutAsIntegerSecondsOrDurationString) {
  EXPECT_EQ(parse_ok(with("[resources]\ntimeout = 90")).resources.timeout,
            std::chrono::seconds(90));
  EXPECT_EQ(parse_ok(with("[resources]\ntimeout = \"1h30m\"")).resources.timeout,
            std::chrono::minutes(90));
  EXPECT_EQ(parse_ok(with("[resources]\ntimeout = \"250ms\"")).resources.timeout,
            std::chrono::milliseconds(250));
  EXPECT_EQ(parse_ok(with("[resources]\ntimeout = \"30d\"")).resources.timeout,
            std::chrono::hours(24 * 30));
  EXPECT_EQ(parse_ok(with("[resources]\ntimeout = 2592000")).resources.timeout,
            std::chrono::hours(24 * 30));
}

TEST(JobSpec, LimitsAtTheirBounds) {
  JobSpec low = parse_ok(with("[resources]\ngpus = 0\nretries = 0\npids = 16"));
  EXPECT_EQ(low.resources.pids, 16u);
  JobSpec high = parse_ok(with("[resources]\ngpus = 64\nretries = 100\npids = 1000000"));
  EXPECT_EQ(high.resources.gpus, 64u);
  EXPECT_EQ(high.resources.retries, 100u);
  EXPECT_EQ(high.resources.pids, 1'000'000u);
}

TEST(JobSpec, MountsAsStandardTablesKeepTheirLines) {
  JobSpec spec = parse_ok(R"(command = ["true"]
[inputs]
"/data/b" = "/synapse/datasets/b"
"/data/a" = "/synapse/datasets/a"
[outputs]
"/out" = "/synapse/results/x"
)");
  // Sorted by sandbox path.
  ASSERT_EQ(spec.inputs.size(), 2u);
  EXPECT_EQ(spec.inputs[0].sandbox_path, "/data/a");
  EXPECT_EQ(spec.inputs[0].line, 4);
  EXPECT_EQ(spec.inputs[1].sandbox_path, "/data/b");
  EXPECT_EQ(spec.inputs[1].line, 3);
  ASSERT_EQ(spec.outputs.size(), 1u);
  EXPECT_EQ(spec.outputs[0].line, 6);
}

TEST(JobSpec, MountsThatOnlyShareAPrefixDoNotOverlap) {
  JobSpec spec = parse_ok(with(R"(inputs = { "/in" = "/synapse/a", "/input" = "/synapse/a" }
outputs = { "/tmp/out" = "/synapse/results/a", "/out" = "/synapse/results/ab" }
)"));
  EXPECT_EQ(spec.inputs.size(), 2u);
  EXPECT_EQ(spec.outputs.size(), 2u);
  // /procfs is not /proc; an input may overlap an output's target (updates in place).
  parse_ok(
      with("inputs = { \"/procfs\" = \"/synapse/results\" }\n"
           "outputs = { \"/out\" = \"/synapse/results/x\" }"));
}

TEST(JobSpec, InputsByContentIdAndFromTheSpool) {
  const std::string cid = a_cid();
  JobSpec spec = parse_ok(with("inputs = { \"/model\" = \"/synapse/.cid/" + cid +
                               "\", \"/prev\" = \"/synapse/jobs/prev/outputs\" }\n"
                               "image = \"/synapse/.cid/" +
                               cid + "\""));
  ASSERT_EQ(spec.inputs.size(), 2u);
  EXPECT_EQ(spec.inputs[0].shared_path, ".cid/" + cid);
  EXPECT_EQ(spec.inputs[1].shared_path, "jobs/prev/outputs");
  EXPECT_EQ(spec.image.path, ".cid/" + cid);
}

TEST(JobSpec, WorkdirMayBeRootOrTmp) {
  EXPECT_EQ(parse_ok(with("workdir = \"/tmp\"")).workdir, "/tmp");
  EXPECT_EQ(parse_ok(with("workdir = \"/\"")).workdir, "/");
  EXPECT_EQ(parse_ok(with("workdir = \"/work/a b\"")).workdir, "/work/a b");
}

TEST(JobSpec, EnvIsSortedAndMayBeEmptyOrMultiLine) {
  JobSpec spec = parse_ok(with("[env]\nZ = \"\"\n_x = \"a\\nb\"\nM1 = \"m\""));
  EXPECT_EQ(spec.env, (std::vector<std::pair<std::string, std::string>>{
                          {"M1", "m"}, {"Z", ""}, {"_x", "a\nb"}}));
}

TEST(JobSpec, NameIsTakenFromTheSpecBeforeTheFileName) {
  EXPECT_EQ(parse_ok(with("name = \"a.b_c-9\""), "bad name").name, "a.b_c-9");
  EXPECT_EQ(parse_ok(with("name = \"" + std::string(64, 'n') + "\"")).name, std::string(64, 'n'));
}

TEST(JobSpec, ExactlyTheSizeLimitParses) {
  std::string text = with("# ");
  text += std::string(kMaxSpecBytes - text.size() - 1, 'x') + "\n";
  ASSERT_EQ(text.size(), kMaxSpecBytes);
  parse_ok(text);
}

// ---------------------------------------------------------------------------------------------
// Syntax and size.

TEST(JobSpecErrors, SyntaxErrorHasItsLineAndNoKey) {
  EXPECT_THAT(errors_of("name = \"x\"\ncommand = ["),
              ElementsAre(Found{2, "", "Error while parsing array: encountered end-of-file"}));
  EXPECT_THAT(errors_of("command = [\"a\"]\ncommand = \"b\""),
              ElementsAre(Found{2, "",
                                "Error while parsing key-value pair: cannot redefine existing "
                                "array 'command'"}));
}

TEST(JobSpecErrors, NonUtf8IsASyntaxError) {
  EXPECT_THAT(errors_of("# ok\ncommand = [\"\xff\"]\n"),
              ElementsAre(Found{2, "", "Encountered invalid utf-8 sequence"}));
  EXPECT_THAT(errors_of("# \xc0\x80\ncommand = [\"true\"]\n"),
              ElementsAre(Found{1, "", "Encountered invalid utf-8 sequence"}));
}

TEST(JobSpecErrors, TooLargeIsOneError) {
  std::string text = with("# ");
  text += std::string(kMaxSpecBytes, 'x');
  EXPECT_THAT(errors_of(text), ElementsAre(Found{0, "",
                                                 "the spec is " + std::to_string(text.size()) +
                                                     " bytes; at most 65536 are allowed"}));
}

// ---------------------------------------------------------------------------------------------
// Keys.

TEST(JobSpecErrors, UnknownTopLevelKey) {
  EXPECT_THAT(errors_of(with("comand = 1")),
              ElementsAre(Found{2, "comand", "unknown key (did you mean \"command\"?)"}));
  EXPECT_THAT(errors_of(with("priority = 1")),
              ElementsAre(Found{2, "priority",
                                "unknown key (expected one of name, command, image, runtime, "
                                "inputs, outputs, env, workdir, array, resources, placement)"}));
  EXPECT_THAT(errors_of(with("\"\" = 1")),
              ElementsAre(Found{2, "\"\"",
                                "unknown key (expected one of name, command, image, runtime, "
                                "inputs, outputs, env, workdir, array, resources, placement)"}));
}

TEST(JobSpecErrors, ResourceOrPlacementKeyAtTopLevel) {
  EXPECT_THAT(
      errors_of(with("memory = \"1G\"\nlabels = [\"ssd\"]")),
      ElementsAre(Found{2, "memory",
                        "unknown key (did you mean resources.memory? put it under [resources])"},
                  Found{3, "labels",
                        "unknown key (did you mean placement.labels? put it under [placement])"}));
}

TEST(JobSpecErrors, UnknownKeyInResources) {
  EXPECT_THAT(errors_of(with("[resources]\nmem = \"1G\"\ndisk = \"1G\"")),
              ElementsAre(Found{3, "resources.mem", "unknown key (did you mean \"memory\"?)"},
                          Found{4, "resources.disk",
                                "unknown key (expected one of cpus, memory, gpus, timeout, "
                                "network, retries, pids)"}));
  EXPECT_THAT(
      errors_of(with("[resources]\nlabels = []\ncpu = 1")),
      ElementsAre(Found{3, "resources.labels", "unknown key (did you mean placement.labels?)"},
                  Found{4, "resources.cpu", "unknown key (did you mean \"cpus\"?)"}));
}

TEST(JobSpecErrors, TopLevelKeyAfterATableHeader) {
  EXPECT_THAT(errors_of(with("[resources]\ncpus = 2\nworkdir = \"/w\"")),
              ElementsAre(Found{4, "resources.workdir",
                                "unknown key (\"workdir\" is a top-level key: move it above "
                                "[resources], since every key after a [table] header belongs to "
                                "it)"}));
}

TEST(JobSpecErrors, UnknownKeyInPlacement) {
  EXPECT_THAT(
      errors_of(with("[placement]\nlabel = [\"ssd\"]\ncpus = 2")),
      ElementsAre(Found{3, "placement.label", "unknown key (did you mean \"labels\"?)"},
                  Found{4, "placement.cpus", "unknown key (did you mean resources.cpus?)"}));
}

TEST(JobSpecErrors, SectionsMustBeTables) {
  EXPECT_THAT(
      errors_of(with("resources = 5\nplacement = \"ssd\"\nenv = [\"A=1\"]\ninputs = \"/in\"")),
      ElementsAre(Found{2, "resources", "expected a table ([resources] or { cpus = 2 }), got 5"},
                  Found{3, "placement",
                        "expected a table ([placement] or { labels = [\"ssd\"] }), got \"ssd\""},
                  Found{4, "env",
                        "expected a table of NAME = \"value\", such as { LANG = \"C.UTF-8\" }, "
                        "got an array"},
                  Found{5, "inputs",
                        "expected a table of sandbox path = shared path, such as { \"/in\" = "
                        "\"/synapse/datasets/books\" }, got \"/in\""}));
}

// ---------------------------------------------------------------------------------------------
// command.

TEST(JobSpecErrors, CommandIsRequired) {
  EXPECT_THAT(errors_of("name = \"x\"\n"),
              ElementsAre(Found{0, "command",
                                "required: the program and its arguments, such as [\"python3\", "
                                "\"train.py\"], or a shell command line"}));
}

TEST(JobSpecErrors, CommandMustNotBeEmpty) {
  EXPECT_THAT(errors_of("command = []"),
              ElementsAre(Found{1, "command",
                                "expected the program and its arguments, got an empty array"}));
  EXPECT_THAT(
      errors_of("command = \"\""),
      ElementsAre(Found{1, "command", "expected a shell command line, got an empty string"}));
  EXPECT_THAT(
      errors_of("command = \" \t\""),
      ElementsAre(Found{1, "command", "expected a shell command line, got a blank string"}));
  EXPECT_THAT(errors_of("command = [\"\", \"x\"]"),
              ElementsAre(Found{1, "command[0]", "expected a program name, got an empty string"}));
}

TEST(JobSpecErrors, CommandWrongTypes) {
  EXPECT_THAT(errors_of("command = 5"),
              ElementsAre(Found{1, "command",
                                "expected an array of strings (the program and its arguments, "
                                "such as [\"python3\", \"train.py\"]) or a string (run with sh "
                                "-c), got 5"}));
  EXPECT_THAT(errors_of("command = [\"echo\", 1, [\"x\"]]"),
              ElementsAre(Found{1, "command[1]", "expected a string, got 1"},
                          Found{1, "command[2]", "expected a string, got an array"}));
}

TEST(JobSpecErrors, CommandArgumentLimit) {
  std::string args = "command = [";
  for (size_t i = 0; i <= kMaxCommandArgs; ++i) args += "\"a\",";
  args += "]";
  EXPECT_THAT(errors_of(args),
              ElementsAre(Found{1, "command", "expected at most 4096 arguments, got 4097"}));
  std::string at_limit = "command = [";
  for (size_t i = 0; i < kMaxCommandArgs; ++i) at_limit += "\"a\",";
  EXPECT_EQ(parse_ok(at_limit + "]").command.size(), kMaxCommandArgs);
}

TEST(JobSpecErrors, CommandWithNul) {
  EXPECT_THAT(errors_of("command = [\"echo\", \"a\\u0000b\"]"),
              ElementsAre(Found{1, "command[1]", "expected an argument without NUL characters"}));
  EXPECT_THAT(errors_of("command = \"echo \\u0000\""),
              ElementsAre(Found{1, "command", "expected a command line without NUL characters"}));
}

// ---------------------------------------------------------------------------------------------
// name.

constexpr std::string_view kNameRule =
    "1 to 64 letters, digits, '.', '_' or '-', not starting with '.' nor ending in \".toml\"";

TEST(JobSpecErrors, InvalidName) {
  for (std::string_view bad : {"a b", ".hidden", "", "x.toml", "a/b", "caf\xc3\xa9"}) {
    EXPECT_THAT(errors_of(with("name = \"" + std::string(bad) + "\"")),
                ElementsAre(Found{2, "name",
                                  "expected a job name (" + std::string(kNameRule) + "), got " +
                                      quote_for_error(bad)}))
        << bad;
  }
  EXPECT_THAT(errors_of(with("name = \"" + std::string(65, 'n') + "\"")),
              ElementsAre(Found{2, "name",
                                "expected a job name (" + std::string(kNameRule) + "), got \"" +
                                    std::string(64, 'n') + "\"..."}));
  EXPECT_THAT(
      errors_of(with("name = 7")),
      ElementsAre(Found{2, "name", "expected a job name (" + std::string(kNameRule) + "), got 7"}));
}

TEST(JobSpecErrors, InvalidDefaultNameWithoutName) {
  EXPECT_THAT(errors_of(with(""), "my job"),
              ElementsAre(Found{0, "name",
                                "the file name \"my job\" is not a valid job name (" +
                                    std::string(kNameRule) + "); set name = \"...\" in the spec"}));
}

// ---------------------------------------------------------------------------------------------
// Sandbox paths.

TEST(JobSpecErrors, MountPointMustBeAbsoluteAndNormalised) {
  const std::string normalised =
      "expected a normalised path (no empty, \".\" or \"..\" components, no trailing \"/\"), got ";
  EXPECT_THAT(
      errors_of(with("[inputs]\n\"in\" = \"/synapse/a\"\n\"/b/\" = \"/synapse/a\"\n"
                     "\"/c//d\" = \"/synapse/a\"\n\"/e/./f\" = \"/synapse/a\"\n"
                     "\"/g/../h\" = \"/synapse/a\"\n\"/i/..\" = \"/synapse/a\"\n")),
      ElementsAre(Found{3, "inputs.in", "expected an absolute path such as \"/in\", got \"in\""},
                  Found{4, "inputs./b/", normalised + "\"/b/\""},
                  Found{5, "inputs./c//d", normalised + "\"/c//d\""},
                  Found{6, "inputs./e/./f", normalised + "\"/e/./f\""},
                  Found{7, "inputs./g/../h", normalised + "\"/g/../h\""},
                  Found{8, "inputs./i/..", normalised + "\"/i/..\""}));
}

TEST(JobSpecErrors, MountPointReservedPlaces) {
  EXPECT_THAT(
      errors_of(with("[outputs]\n\"/\" = \"/synapse/r/1\"\n\"/proc\" = \"/synapse/r/2\"\n"
                     "\"/dev/shm\" = \"/synapse/r/3\"\n\"/sys/fs\" = \"/synapse/r/4\"\n"
                     "\"/tmp\" = \"/synapse/r/5\"\n")),
      ElementsAre(
          Found{3, "outputs./", "\"/\" cannot be a mount point: the image provides the root"},
          Found{4, "outputs./proc",
                "\"/proc\" cannot be a mount point: the sandbox provides /proc"},
          Found{5, "outputs./dev/shm",
                "\"/dev/shm\" cannot be a mount point: the sandbox provides /dev"},
          Found{6, "outputs./sys/fs",
                "\"/sys/fs\" cannot be a mount point: the sandbox provides /sys"},
          Found{7, "outputs./tmp",
                "\"/tmp\" cannot be a mount point: it is the sandbox's private temporary folder "
                "(a folder under it can be one)"}));
}

TEST(JobSpecErrors, MountPointWithControlCharacter) {
  EXPECT_THAT(errors_of(with("inputs = { \"/a\\nb\" = \"/synapse/a\" }")),
              ElementsAre(Found{2, "inputs./a\nb",
                                "expected a path without control characters, got \"/a\\nb\""}));
}

TEST(JobSpecErrors, MountPointComponentTooLong) {
  const std::string long_name(256, 'x');
  EXPECT_THAT(errors_of(with("inputs = { \"/" + long_name + "\" = \"/synapse/a\" }")),
              ElementsAre(Found{2, "inputs./" + long_name,
                                "expected path components of at most 255 bytes, got one of 256 "
                                "in " +
                                    quote_for_error("/" + long_name)}));
}

TEST(JobSpecErrors, SameSandboxPathTwice) {
  EXPECT_THAT(errors_of(with("inputs = { \"/data\" = \"/synapse/a\" }\n"
                             "outputs = { \"/data\" = \"/synapse/results/a\" }")),
              ElementsAre(Found{3, "outputs./data",
                                "\"/data\" is already mounted by inputs./data (line 2)"}));
}

TEST(JobSpecErrors, NestedMounts) {
  EXPECT_THAT(errors_of(with("inputs = { \"/data\" = \"/synapse/a\" }\n"
                             "outputs = { \"/data/out\" = \"/synapse/results/a\" }")),
              ElementsAre(Found{3, "outputs./data/out",
                                "mounts may not be nested: \"/data/out\" is inside inputs./data "
                                "(line 2)"}));
  EXPECT_THAT(errors_of(with("[outputs]\n\"/data/out\" = \"/synapse/results/a\"\n"
                             "[inputs]\n\"/data\" = \"/synapse/a\"")),
              ElementsAre(Found{5, "inputs./data",
                                "mounts may not be nested: \"/data\" contains outputs./data/out "
                                "(line 3)"}));
}

TEST(JobSpecErrors, TooManyMounts) {
  std::string inputs = "inputs = {";
  for (size_t i = 0; i <= kMaxMounts; ++i) {
    inputs += " \"/in" + std::to_string(i) + "\" = \"/synapse/a\",";
  }
  inputs.back() = ' ';
  inputs += "}";
  EXPECT_THAT(errors_of(with(inputs)),
              ElementsAre(Found{2, "inputs", "expected at most 32 mounts, got 33"}));
}

TEST(JobSpecErrors, WorkdirMustBeAbsoluteAndNormalised) {
  EXPECT_THAT(errors_of(with("workdir = \"work\"\n")),
              ElementsAre(Found{2, "workdir",
                                "expected an absolute path such as \"/work\", got \"work\""}));
  EXPECT_THAT(errors_of(with("workdir = \"/work/\"\n")),
              ElementsAre(Found{2, "workdir",
                                "expected a normalised path (no empty, \".\" or \"..\" components, "
                                "no trailing \"/\"), got \"/work/\""}));
  EXPECT_THAT(
      errors_of(with("workdir = 1\n")),
      ElementsAre(Found{2, "workdir", "expected an absolute path such as \"/work\", got 1"}));
}

// ---------------------------------------------------------------------------------------------
// Shared paths.

TEST(JobSpecErrors, SharedPathMustBeUnderSynapse) {
  EXPECT_THAT(
      errors_of(with("[inputs]\n\"/a\" = \"/home/me/data\"\n\"/b\" = \"/synapsefoo\"\n"
                     "\"/c\" = \"datasets/books\"\n\"/d\" = 5\n")),
      ElementsAre(Found{3, "inputs./a",
                        "expected a path under /synapse such as \"/synapse/datasets/books\", got "
                        "\"/home/me/data\""},
                  Found{4, "inputs./b",
                        "expected a path under /synapse such as \"/synapse/datasets/books\", got "
                        "\"/synapsefoo\""},
                  Found{5, "inputs./c",
                        "expected a path under /synapse such as \"/synapse/datasets/books\", got "
                        "\"datasets/books\""},
                  Found{6, "inputs./d",
                        "expected a path under /synapse such as \"/synapse/datasets/books\", got "
                        "5"}));
}

TEST(JobSpecErrors, SharedPathMustBeNormalised) {
  const std::string normalised =
      "expected a normalised path (no empty, \".\" or \"..\" components, no trailing \"/\"), got ";
  EXPECT_THAT(errors_of(with("[inputs]\n\"/a\" = \"/synapse/\"\n\"/b\" = \"/synapse/x/../y\"\n")),
              ElementsAre(Found{3, "inputs./a", normalised + "\"/synapse/\""},
                          Found{4, "inputs./b", normalised + "\"/synapse/x/../y\""}));
}

TEST(JobSpecErrors, OutputsCannotGoIntoReservedFolders) {
  EXPECT_THAT(
      errors_of(with("[outputs]\n\"/a\" = \"/synapse/.cid/x\"\n\"/b\" = \"/synapse/.peers\"\n"
                     "\"/c\" = \"/synapse/jobs/other\"\n\"/d\" = \"/synapse\"\n"
                     "\"/e\" = \"/synapse/jobsite\"\n")),
      ElementsAre(
          Found{3, "outputs./a",
                "outputs cannot go under /synapse/.cid (read-only), got \"/synapse/.cid/x\""},
          Found{4, "outputs./b",
                "outputs cannot go under /synapse/.peers (read-only), got \"/synapse/.peers\""},
          Found{5, "outputs./c",
                "outputs cannot go under /synapse/jobs (the job spool), got "
                "\"/synapse/jobs/other\""},
          Found{6, "outputs./d",
                "an output cannot be the whole shared tree; name a folder such as "
                "\"/synapse/results/wordcount\""}));
}

TEST(JobSpecErrors, OutputTargetsMustNotOverlap) {
  EXPECT_THAT(errors_of(with("[outputs]\n\"/a\" = \"/synapse/results\"\n"
                             "\"/b\" = \"/synapse/results/b\"\n\"/c\" = \"/synapse/results\"\n")),
              ElementsAre(Found{4, "outputs./b",
                                "outputs may not overlap: \"/synapse/results/b\" is inside the "
                                "target of outputs./a (line 3)"},
                          Found{5, "outputs./c",
                                "\"/synapse/results\" is already the target of outputs./a (line "
                                "3)"}));
  EXPECT_THAT(errors_of(with("[outputs]\n\"/a\" = \"/synapse/r/a\"\n\"/b\" = \"/synapse/r\"\n")),
              ElementsAre(Found{4, "outputs./b",
                                "outputs may not overlap: \"/synapse/r\" contains the target of "
                                "outputs./a (line 3)"}));
}

TEST(JobSpecErrors, ContentIdInputs) {
  EXPECT_THAT(errors_of(with("inputs = { \"/m\" = \"/synapse/.cid\" }")),
              ElementsAre(Found{2, "inputs./m",
                                "expected \"/synapse/.cid/<cid>\" (/synapse/.cid itself lists "
                                "nothing), got \"/synapse/.cid\""}));
  auto bad = errors_of(with("inputs = { \"/m\" = \"/synapse/.cid/nope\" }"));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(std::get<0>(bad[0]), 2);
  EXPECT_EQ(std::get<1>(bad[0]), "inputs./m");
  EXPECT_EQ(
      std::get<2>(bad[0]).rfind("expected a content ID after /synapse/.cid/, got \"nope\": ", 0),
      0u)
      << std::get<2>(bad[0]);
}

// ---------------------------------------------------------------------------------------------
// image and runtime.

TEST(JobSpecErrors, ImageForms) {
  EXPECT_THAT(errors_of(with("image = \"alpine:3\"")),
              ElementsAre(Found{2, "image",
                                "expected \"host\", a root filesystem under /synapse or "
                                "\"docker://REF\", got \"alpine:3\" (for an engine image write "
                                "\"docker://alpine:3\")"}));
  EXPECT_THAT(errors_of(with("image = \"oci://x\"")),
              ElementsAre(Found{2, "image",
                                "expected \"host\", a root filesystem under /synapse or "
                                "\"docker://REF\", got \"oci://x\""}));
  EXPECT_THAT(errors_of(with("image = true")),
              ElementsAre(Found{2, "image",
                                "expected \"host\", a root filesystem under /synapse or "
                                "\"docker://REF\", got true"}));
  EXPECT_THAT(errors_of(with("image = \"/images/alpine.tar\"")),
              ElementsAre(Found{2, "image",
                                "expected a path under /synapse such as "
                                "\"/synapse/images/alpine.tar\", got \"/images/alpine.tar\""}));
  EXPECT_THAT(errors_of(with("image = \"/synapse\"")),
              ElementsAre(Found{2, "image",
                                "expected a root filesystem (a tar file or a folder) under "
                                "/synapse such as \"/synapse/images/alpine.tar\", got "
                                "\"/synapse\""}));
}

TEST(JobSpecErrors, EngineImageReference) {
  EXPECT_THAT(errors_of(with("image = \"docker://\"")),
              ElementsAre(Found{2, "image",
                                "expected an image reference after \"docker://\", such as "
                                "\"docker://python:3.12\", got \"docker://\""}));
  for (std::string_view bad : {"--privileged", "a b", "x\\ty", ":latest"}) {
    EXPECT_THAT(errors_of(with("image = \"docker://" + std::string(bad) + "\"")),
                ElementsAre(Found{
                    2, "image",
                    "expected an image reference of at most 255 letters, digits and "
                    ". _ - / : @, starting with a letter or digit, such as "
                    "\"docker://python:3.12\", got " +
                        quote_for_error("docker://" + std::string(bad == "x\\ty" ? "x\ty" : bad))}))
        << bad;
  }
}

TEST(JobSpecErrors, UnknownRuntime) {
  EXPECT_THAT(errors_of(with("runtime = \"lxc\"")),
              ElementsAre(Found{2, "runtime",
                                "expected one of auto, bubblewrap, oci, docker, podman, got "
                                "\"lxc\""}));
  EXPECT_THAT(errors_of(with("runtime = 1")),
              ElementsAre(Found{2, "runtime",
                                "expected one of auto, bubblewrap, oci, docker, podman, got 1"}));
}

TEST(JobSpecErrors, EngineRuntimeNeedsEngineImage) {
  EXPECT_THAT(errors_of(with("runtime = \"docker\"")),
              ElementsAre(Found{2, "runtime",
                                "runtime \"docker\" needs a docker:// image, but image is "
                                "\"host\" (the default)"}));
  EXPECT_THAT(errors_of(with("image = \"host\"\nruntime = \"podman\"")),
              ElementsAre(Found{3, "runtime",
                                "runtime \"podman\" needs a docker:// image, but image is "
                                "\"host\""}));
  EXPECT_THAT(errors_of(with("runtime = \"docker\"\nimage = \"/synapse/img.tar\"")),
              ElementsAre(Found{2, "runtime",
                                "runtime \"docker\" needs a docker:// image, but image is "
                                "\"/synapse/img.tar\""}));
}

TEST(JobSpecErrors, SandboxRuntimeCannotRunEngineImage) {
  for (std::string_view runtime : {"bubblewrap", "oci"}) {
    EXPECT_THAT(
        errors_of(with("image = \"docker://alpine\"\nruntime = \"" + std::string(runtime) + "\"")),
        ElementsAre(Found{3, "runtime",
                          "runtime \"" + std::string(runtime) +
                              "\" cannot run docker:// images; use \"auto\", \"docker\" "
                              "or \"podman\""}));
  }
}

// ---------------------------------------------------------------------------------------------
// env.

TEST(JobSpecErrors, EnvNames) {
  EXPECT_THAT(
      errors_of(with("[env]\n\"1X\" = \"a\"\n\"A-B\" = \"b\"\nSYNAPSE_TASK_ID = \"7\"\n")),
      ElementsAre(
          Found{3, "env.1X",
                "expected a variable name of letters, digits and '_', not starting with a digit"},
          Found{4, "env.A-B",
                "expected a variable name of letters, digits and '_', not starting with a digit"},
          Found{5, "env.SYNAPSE_TASK_ID",
                "names starting with SYNAPSE_ are reserved for the variables Synapse sets"}));
}

TEST(JobSpecErrors, EnvValuesAreStrings) {
  EXPECT_THAT(
      errors_of(with("[env]\nTHREADS = 4\nDEBUG = true\nLIST = [\"a\"]\nZ = \"a\\u0000\"\n")),
      ElementsAre(
          Found{3, "env.THREADS", "expected a string, got 4 (write it in quotes: \"4\")"},
          Found{4, "env.DEBUG", "expected a string, got true (write it in quotes: \"true\")"},
          Found{5, "env.LIST", "expected a string, got an array"},
          Found{6, "env.Z", "expected a value without NUL characters"}));
}

TEST(JobSpecErrors, TooManyEnvVariables) {
  std::string env = "[env]\n";
  for (size_t i = 0; i <= kMaxEnv; ++i) env += "V" + std::to_string(i) + " = \"x\"\n";
  EXPECT_THAT(errors_of(with(env)),
              ElementsAre(Found{2, "env", "expected at most 256 variables, got 257"}));
}

// ---------------------------------------------------------------------------------------------
// array and resources.

TEST(JobSpecErrors, ArrayRange) {
  EXPECT_THAT(errors_of(with("array = 0\n")),
              ElementsAre(Found{2, "array", "expected a whole number 1..10000, got 0"}));
  EXPECT_THAT(errors_of(with("array = 10001\n")),
              ElementsAre(Found{2, "array", "expected a whole number 1..10000, got 10001"}));
  EXPECT_THAT(errors_of(with("array = 4.0\n")),
              ElementsAre(Found{2, "array", "expected a whole number 1..10000, got 4.0"}));
  EXPECT_THAT(errors_of(with("array = \"4\"\n")),
              ElementsAre(Found{2, "array", "expected a whole number 1..10000, got \"4\""}));
}

TEST(JobSpecErrors, CpusRangeAndType) {
  const std::string range = "expected a number of CPUs from 0.01 to 1024, got ";
  EXPECT_THAT(errors_of(with("[resources]\ncpus = 0")),
              ElementsAre(Found{3, "resources.cpus", range + "0"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = 1025")),
              ElementsAre(Found{3, "resources.cpus", range + "1025"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = 0.001")),
              ElementsAre(Found{3, "resources.cpus", range + "0.001"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = -1.5")),
              ElementsAre(Found{3, "resources.cpus", range + "-1.5"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = nan")),
              ElementsAre(Found{3, "resources.cpus", range + "nan"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = inf")),
              ElementsAre(Found{3, "resources.cpus", range + "inf"}));
  EXPECT_THAT(errors_of(with("[resources]\ncpus = \"2\"")),
              ElementsAre(Found{3, "resources.cpus",
                                "expected a number of CPUs such as 2 or 0.5, got \"2\""}));
}

TEST(JobSpecErrors, MemoryRangeAndType) {
  EXPECT_THAT(
      errors_of(with("[resources]\nmemory = \"lots\"")),
      ElementsAre(Found{3, "resources.memory", "expected a size such as \"512M\", got \"lots\""}));
  EXPECT_THAT(
      errors_of(with("[resources]\nmemory = -3")),
      ElementsAre(Found{3, "resources.memory", "expected a size such as \"512M\", got -3"}));
  EXPECT_THAT(
      errors_of(with("[resources]\nmemory = 1.5")),
      ElementsAre(Found{3, "resources.memory", "expected a size such as \"512M\", got 1.5"}));
  EXPECT_THAT(errors_of(with("[resources]\nmemory = \"1M\"")),
              ElementsAre(Found{3, "resources.memory", "expected at least 4 MiB, got \"1M\""}));
  EXPECT_THAT(errors_of(with("[resources]\nmemory = 4194303")),
              ElementsAre(Found{3, "resources.memory", "expected at least 4 MiB, got 4194303"}));
}

TEST(JobSpecErrors, GpusRangeAndType) {
  EXPECT_THAT(errors_of(with("[resources]\ngpus = 65")),
              ElementsAre(Found{3, "resources.gpus", "expected a whole number 0..64, got 65"}));
  EXPECT_THAT(errors_of(with("[resources]\ngpus = -1")),
              ElementsAre(Found{3, "resources.gpus", "expected a whole number 0..64, got -1"}));
  EXPECT_THAT(errors_of(with("[resources]\ngpus = 0.5")),
              ElementsAre(Found{3, "resources.gpus", "expected a whole number 0..64, got 0.5"}));
}

TEST(JobSpecErrors, TimeoutRangeAndType) {
  const std::string range = "expected more than 0 and at most 30 days, got ";
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = \"0s\"")),
              ElementsAre(Found{3, "resources.timeout", range + "\"0s\""}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = \"30d1ms\"")),
              ElementsAre(Found{3, "resources.timeout", range + "\"30d1ms\""}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = 0")),
              ElementsAre(Found{3, "resources.timeout", range + "0"}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = 2592001")),
              ElementsAre(Found{3, "resources.timeout", range + "2592001"}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = -9223372036854775808")),
              ElementsAre(Found{3, "resources.timeout", range + "-9223372036854775808"}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = \"99999999999999d\"")),
              ElementsAre(Found{3, "resources.timeout",
                                "expected a duration such as \"10m\" or a number of seconds, got "
                                "\"99999999999999d\""}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = \"soon\"")),
              ElementsAre(Found{3, "resources.timeout",
                                "expected a duration such as \"10m\" or a number of seconds, got "
                                "\"soon\""}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = 1.5")),
              ElementsAre(Found{3, "resources.timeout",
                                "expected a duration such as \"10m\" or a number of seconds, got "
                                "1.5"}));
  EXPECT_THAT(errors_of(with("[resources]\ntimeout = 10:00:00")),
              ElementsAre(Found{3, "resources.timeout",
                                "expected a duration such as \"10m\" or a number of seconds, got "
                                "a time"}));
}

TEST(JobSpecErrors, NetworkIsABoolean) {
  EXPECT_THAT(errors_of(with("[resources]\nnetwork = \"no\"")),
              ElementsAre(Found{3, "resources.network", "expected true or false, got \"no\""}));
  EXPECT_THAT(errors_of(with("[resources]\nnetwork = 0")),
              ElementsAre(Found{3, "resources.network", "expected true or false, got 0"}));
}

TEST(JobSpecErrors, RetriesAndPidsRanges) {
  EXPECT_THAT(
      errors_of(with("[resources]\nretries = 101\npids = 15\n")),
      ElementsAre(Found{3, "resources.retries", "expected a whole number 0..100, got 101"},
                  Found{4, "resources.pids", "expected a whole number 16..1000000, got 15"}));
  EXPECT_THAT(
      errors_of(with("[resources]\nretries = -1\npids = 1000001\n")),
      ElementsAre(Found{3, "resources.retries", "expected a whole number 0..100, got -1"},
                  Found{4, "resources.pids", "expected a whole number 16..1000000, got 1000001"}));
}

// ---------------------------------------------------------------------------------------------
// placement.

TEST(JobSpecErrors, Labels) {
  const std::string rule =
      "expected a label of 1 to 32 letters, digits, '.', '_', ':' or '-', got ";
  EXPECT_THAT(
      errors_of(with("[placement]\nlabels = [\"ssd\", \"a b\", \"\", 3, \"" + std::string(33, 'l') +
                     "\", \"ssd\"]")),
      ElementsAre(Found{3, "placement.labels[1]", rule + "\"a b\""},
                  Found{3, "placement.labels[2]", rule + "\"\""},
                  Found{3, "placement.labels[3]", rule + "3"},
                  Found{3, "placement.labels[4]", rule + "\"" + std::string(33, 'l') + "\""},
                  Found{3, "placement.labels[5]", "\"ssd\" is listed twice"}));
  EXPECT_THAT(errors_of(with("[placement]\nlabels = \"ssd\"")),
              ElementsAre(Found{3, "placement.labels",
                                "expected an array of labels such as [\"ssd\", \"gpu:a100\"], got "
                                "\"ssd\""}));
  std::string many = "[placement]\nlabels = [";
  for (size_t i = 0; i <= kMaxLabels; ++i) many += "\"l" + std::to_string(i) + "\",";
  EXPECT_THAT(errors_of(with(many + "]")),
              ElementsAre(Found{3, "placement.labels", "expected at most 16 labels, got 17"}));
}

TEST(JobSpecErrors, Nodes) {
  const std::string rule =
      "expected a node name or node-ID prefix (1 to 255 bytes, no control characters), got ";
  EXPECT_THAT(errors_of(with("[placement]\nnodes = [\"lab-pc-3\", \"\", \"a\\tb\", \"lab-pc-3\"]")),
              ElementsAre(Found{3, "placement.nodes[1]", rule + "\"\""},
                          Found{3, "placement.nodes[2]", rule + "\"a\\tb\""},
                          Found{3, "placement.nodes[3]", "\"lab-pc-3\" is listed twice"}));
  EXPECT_THAT(errors_of(with("[placement]\nnodes = { a = 1 }")),
              ElementsAre(Found{3, "placement.nodes",
                                "expected an array of nodes such as [\"lab-pc-3\", \"ab12cd34\"], "
                                "got a table"}));
}

// ---------------------------------------------------------------------------------------------
// Several errors.

TEST(JobSpecErrors, EveryErrorIsReportedInLineOrder) {
  auto found = errors_of(R"(name = "bad name"
command = []
image = "docker://"
inputs = { "in" = "/data", "/ok" = "/synapse/ok" }
[resources]
memory = "lots"
cpus = 0
gpus = 1
colour = "blue"
[placement]
labels = ["a b"]
)");
  EXPECT_THAT(
      found,
      ElementsAre(
          Found{1, "name",
                "expected a job name (" + std::string(kNameRule) + "), got \"bad name\""},
          Found{2, "command", "expected the program and its arguments, got an empty array"},
          Found{3, "image",
                "expected an image reference after \"docker://\", such as "
                "\"docker://python:3.12\", got \"docker://\""},
          Found{4, "inputs.in", "expected an absolute path such as \"/in\", got \"in\""},
          Found{4, "inputs.in",
                "expected a path under /synapse such as \"/synapse/datasets/books\", got "
                "\"/data\""},
          Found{6, "resources.memory", "expected a size such as \"512M\", got \"lots\""},
          Found{7, "resources.cpus", "expected a number of CPUs from 0.01 to 1024, got 0"},
          Found{9, "resources.colour",
                "unknown key (expected one of cpus, memory, gpus, timeout, network, retries, "
                "pids)"},
          Found{11, "placement.labels[0]",
                "expected a label of 1 to 32 letters, digits, '.', '_', ':' or '-', got \"a b\""}));
}

TEST(JobSpecErrors, ErrorsOnOneLineAreInColumnOrder) {
  EXPECT_THAT(
      errors_of(with("env = { \"9\" = \"a\", \"8\" = \"b\", \"7\" = \"c\" }")),
      ElementsAre(FieldsAre(2, "env.9", _), FieldsAre(2, "env.8", _), FieldsAre(2, "env.7", _)));
}

TEST(JobSpecErrors, LineZeroErrorsComeFirst) {
  EXPECT_THAT(
      errors_of("array = 0\n", "bad name"),
      ElementsAre(FieldsAre(0, "name", _), FieldsAre(0, "command", _), FieldsAre(1, "array", _)));
}

// ---------------------------------------------------------------------------------------------
// Helpers.

TEST(SpecError, ToStringForms) {
  EXPECT_EQ(
      (SpecError{7, "resources.memory", "expected a size such as \"512M\", got -3"}).to_string(),
      "line 7: resources.memory: expected a size such as \"512M\", got -3");
  EXPECT_EQ((SpecError{0, "command", "required"}).to_string(), "command: required");
  EXPECT_EQ((SpecError{3, "", "Error while parsing"}).to_string(), "line 3: Error while parsing");
  EXPECT_EQ((SpecError{0, "", "too big"}).to_string(), "too big");
  EXPECT_EQ((SpecError{2, "inputs./a\nb", "bad\tthing\x01"}).to_string(),
            "line 2: inputs./a\\nb: bad\\tthing\\u0001");
  EXPECT_EQ((SpecError{1, std::string(200, 'k'), std::string(2000, 'm')}).to_string(),
            "line 1: " + std::string(128, 'k') + "...: " + std::string(1024, 'm') + "...");
}

TEST(SpecError, FormatErrorsOnePerLine) {
  EXPECT_EQ(format_errors({}), "");
  EXPECT_EQ(format_errors({SpecError{0, "command", "required"}, SpecError{4, "array", "bad"}}),
            "command: required\nline 4: array: bad");
  auto errors = parse_spec("name = \"x y\"\narray = 0\n", "f");
  ASSERT_FALSE(errors);
  EXPECT_EQ(format_errors(errors.error()),
            "command: required: the program and its arguments, such as [\"python3\", "
            "\"train.py\"], or a shell command line\n"
            "line 1: name: expected a job name (" +
                std::string(kNameRule) +
                "), got \"x y\"\n"
                "line 2: array: expected a whole number 1..10000, got 0");
}

TEST(SpecHelpers, ValidJobName) {
  EXPECT_TRUE(valid_job_name("wordcount"));
  EXPECT_TRUE(valid_job_name("a"));
  EXPECT_TRUE(valid_job_name("Train_v2.1-final"));
  EXPECT_TRUE(valid_job_name("-x"));
  EXPECT_TRUE(valid_job_name("x.tom"));
  EXPECT_TRUE(valid_job_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_job_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_job_name(""));
  EXPECT_FALSE(valid_job_name(".x"));
  EXPECT_FALSE(valid_job_name("job.toml"));
  EXPECT_FALSE(valid_job_name("a b"));
  EXPECT_FALSE(valid_job_name("a/b"));
  EXPECT_FALSE(valid_job_name(std::string_view("a\0b", 3)));
}

TEST(SpecHelpers, RuntimeNames) {
  EXPECT_EQ(runtime_name(Runtime::kAuto), "auto");
  EXPECT_EQ(runtime_name(Runtime::kBubblewrap), "bubblewrap");
  EXPECT_EQ(runtime_name(Runtime::kOci), "oci");
  EXPECT_EQ(runtime_name(Runtime::kDocker), "docker");
  EXPECT_EQ(runtime_name(Runtime::kPodman), "podman");
}

TEST(SpecHelpers, PathsOverlapByWholeComponents) {
  EXPECT_TRUE(paths_overlap("/in", "/in"));
  EXPECT_TRUE(paths_overlap("/in", "/in/x"));
  EXPECT_TRUE(paths_overlap("/in/x/y", "/in"));
  EXPECT_TRUE(paths_overlap("/", "/in"));
  EXPECT_FALSE(paths_overlap("/in", "/input"));
  EXPECT_FALSE(paths_overlap("/a/b", "/a/c"));
  EXPECT_TRUE(paths_overlap("", "results"));
  EXPECT_TRUE(paths_overlap("results", "results/a"));
  EXPECT_FALSE(paths_overlap("results", "results2"));
}

TEST(SpecHelpers, QuoteForError) {
  EXPECT_EQ(quote_for_error("plain"), "\"plain\"");
  EXPECT_EQ(quote_for_error("a\"b\\c\nd\x7f"), "\"a\\\"b\\\\c\\nd\\u007F\"");
  EXPECT_EQ(quote_for_error(std::string(70, 'x')), "\"" + std::string(64, 'x') + "\"...");
  // A cut never splits a UTF-8 sequence.
  const std::string accented = std::string(63, 'x') + "\xc3\xa9" + "yy";
  EXPECT_EQ(quote_for_error(accented), "\"" + std::string(63, 'x') + "\"...");
}

TEST(SpecHelpers, MountPointsAndWorkdirs) {
  EXPECT_TRUE(check_mount_point("/in"));
  EXPECT_TRUE(check_mount_point("/tmp/x"));
  EXPECT_TRUE(check_mount_point("/synapse"));
  EXPECT_FALSE(check_mount_point("/dev"));
  EXPECT_FALSE(check_mount_point(""));
  EXPECT_FALSE(check_mount_point("/" + std::string(4095, 'a')));
  EXPECT_TRUE(check_workdir("/"));
  EXPECT_TRUE(check_workdir("/proc"));
  EXPECT_FALSE(check_workdir("."));
  EXPECT_EQ(check_workdir("/a/" + std::string(4093, 'b')).error().message(),
            "expected a path of at most 4095 bytes, got 4096 bytes");
}

TEST(SpecHelpers, SharedPaths) {
  EXPECT_EQ(parse_shared_path("/synapse", SharedUse::kInput).value(), "");
  EXPECT_EQ(parse_shared_path("/synapse/a/b", SharedUse::kOutput).value(), "a/b");
  EXPECT_EQ(parse_shared_path("/synapse/.peers", SharedUse::kInput).value(), ".peers");
  EXPECT_EQ(parse_shared_path("/synapse/.cidx", SharedUse::kOutput).value(), ".cidx");
  EXPECT_FALSE(parse_shared_path("/synapse", SharedUse::kOutput));
  EXPECT_FALSE(parse_shared_path("/synapse", SharedUse::kImage));
  EXPECT_FALSE(parse_shared_path("/synapse/jobs", SharedUse::kOutput));
  EXPECT_TRUE(parse_shared_path("/synapse/jobs", SharedUse::kInput));
  const std::string cid = a_cid();
  EXPECT_EQ(parse_shared_path("/synapse/.cid/" + cid + "/sub", SharedUse::kInput).value(),
            ".cid/" + cid + "/sub");
  EXPECT_FALSE(parse_shared_path("/synapse/.cid/" + cid, SharedUse::kOutput));
}

// docs/job-spec.md: every TOML example parses and the error examples are what users get.
TEST(SpecDocs, EveryTomlExampleParses) {
  std::ifstream file(std::string(SYNAPSE_TEST_DATA_DIR) + "/../../docs/job-spec.md");
  ASSERT_TRUE(file) << "docs/job-spec.md not found";
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string doc = buffer.str();
  size_t examples = 0;
  for (size_t at = doc.find("```toml\n"); at != std::string::npos; at = doc.find("```toml\n", at)) {
    at += 8;
    const size_t end = doc.find("\n```", at);
    ASSERT_NE(end, std::string::npos);
    parse_ok(doc.substr(at, end - at + 1), "doc-example");
    ++examples;
  }
  EXPECT_GE(examples, 7u);
}

TEST(SpecDocs, DocumentedErrorExamples) {
  auto first = [](std::string_view text) {
    auto spec = parse_spec(text, "doc");
    return spec ? std::string("(parsed)") : spec.error().front().to_string();
  };
  EXPECT_EQ(first(with("#\n#\n#\n#\n#\n#\n[resources]\nmemory = \"lots\"")),
            "line 9: resources.memory: expected a size such as \"512M\", got \"lots\"");
  EXPECT_EQ(first(with("[inputs]\n\"/data\" = \"/synapse/d\"\n\"/data/out\" = \"/synapse/e\"")),
            "line 4: inputs./data/out: mounts may not be nested: \"/data/out\" is inside "
            "inputs./data (line 3)");
  EXPECT_EQ(first(with("comand = 1")), "line 2: comand: unknown key (did you mean \"command\"?)");
  EXPECT_EQ(first(with("#\n#\n#\n#\n#\n#\n#\n#\n[resources]\ncpus = 1\nworkdir = \"/w\"")),
            "line 12: resources.workdir: unknown key (\"workdir\" is a top-level key: move it "
            "above [resources], since every key after a [table] header belongs to it)");
  EXPECT_EQ(first("name = \"x\""),
            "command: required: the program and its arguments, such as [\"python3\", "
            "\"train.py\"], or a shell command line");
  EXPECT_EQ(first("#\n#\ncommand = ["),
            "line 3: Error while parsing array: encountered end-of-file");
}

TEST(SpecHelpers, NoExceptionsEscape) {
  // Deeply nested arrays and tables, stray bytes, and a NUL in the middle all come back as
  // errors.
  EXPECT_FALSE(parse_spec(std::string(10000, '[') + std::string(10000, ']'), "x"));
  EXPECT_FALSE(
      parse_spec("command = " + std::string(5000, '[') + "\"a\"" + std::string(5000, ']'), "x"));
  EXPECT_FALSE(parse_spec(std::string("command = [\"a\"]\0\n", 17), "x"));
  EXPECT_FALSE(parse_spec(std::string_view("\x00\x01\x02", 3), "x"));
}

}  // namespace
}  // namespace synapse::compute
