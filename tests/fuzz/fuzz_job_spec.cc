// Fuzzes job spec parsing. Specs also arrive from peers in job offers, so parse_spec is a wire
// decoder: on any bytes it must not crash or throw; a rejected spec gets errors in line order,
// each one line with a message; an accepted spec keeps every rule of docs/job-spec.md.
//
// The seed specs and fragments below are inline: a custom mutator starts from them or splices
// their lines into the input, so the fuzzer reaches the checks past the TOML syntax quickly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "synapse/compute/spec.h"

namespace {

using namespace synapse::compute;

void check(bool condition) {
  if (!condition) std::abort();
}

constexpr std::string_view kSeeds[] = {
    "command = [\"true\"]\n",  "command = \"echo hi\"\n",
    R"(name = "wordcount"
command = ["sh", "-c", "cat /in/*.txt | wc -w > /out/count"]
image = "host"
runtime = "auto"
inputs = { "/in" = "/synapse/datasets/books" }
outputs = { "/out" = "/synapse/results/wordcount" }
env = { LANG = "C.UTF-8" }
workdir = "/"
array = 4
[resources]
cpus = 1
memory = "512M"
gpus = 0
timeout = "10m"
network = false
retries = 2
pids = 4096
[placement]
labels = ["ssd"]
nodes = ["ab12cd34", "lab-pc-3"]
)",
    R"(command = """
set -e
python3 train.py --epochs 3
"""
image = "docker://python:3.12-slim"
runtime = "docker"
[inputs]
"/data" = "/synapse/datasets/mnist"
"/model" = "/synapse/.cid/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
[outputs]
"/out" = "/synapse/results/mnist"
[env]
OMP_NUM_THREADS = "4"
[resources]
cpus = 0.5
memory = 1073741824
timeout = 3600
)",
    R"(command = ["/bin/run"]
image = "/synapse/images/alpine.tar"
runtime = "oci"
workdir = "/work"
outputs = { "/work/out" = "/synapse/results/a", "/logs" = "/synapse/results/b" }
)",
};

// Lines that are valid, nearly valid or invalid on their own; spliced into inputs.
constexpr std::string_view kFragments[] = {
    "[resources]\n",
    "[placement]\n",
    "[inputs]\n",
    "[outputs]\n",
    "[env]\n",
    "\"/in\" = \"/synapse/in\"\n",
    "\"/in/x\" = \"/synapse/results\"\n",
    "\"/proc\" = \"/synapse/jobs/x\"\n",
    "\"/out\" = \"/synapse/results/x\"\n",
    "\"/o2\" = \"/synapse/results\"\n",
    "\"/c\" = \"/synapse/.cid/x\"\n",
    "cpus = 0.001\n",
    "cpus = nan\n",
    "memory = \"lots\"\n",
    "memory = -3\n",
    "timeout = \"31d\"\n",
    "timeout = 9223372036854775807\n",
    "gpus = 65\n",
    "retries = 1.5\n",
    "pids = 8\n",
    "network = \"no\"\n",
    "labels = [\"a b\", \"ssd\", \"ssd\"]\n",
    "nodes = [\"\", \"x\"]\n",
    "array = 0\n",
    "array = 10000\n",
    "name = \".x\"\n",
    "name = \"job.toml\"\n",
    "image = \"docker://\"\n",
    "image = \"docker://-x\"\n",
    "image = \"/synapse\"\n",
    "runtime = \"podman\"\n",
    "runtime = \"bubblewrap\"\n",
    "workdir = \"/a/../b\"\n",
    "command = []\n",
    "command = [\"\", 1]\n",
    "SYNAPSE_TASK_ID = \"1\"\n",
    "1X = \"a\"\n",
    "A = 4\n",
    "colour = \"blue\"\n",
};

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  const unsigned choice = rng() % 8;
  if (choice == 0) {  // start over from a seed spec
    const std::string_view spec = kSeeds[rng() % std::size(kSeeds)];
    const size_t length = std::min(spec.size(), max_size);
    std::memcpy(data, spec.data(), length);
    return length;
  }
  if (choice <= 2) {  // insert a fragment at the start of a line
    const std::string_view fragment = kFragments[rng() % std::size(kFragments)];
    if (size + fragment.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    size_t at = size == 0 ? 0 : rng() % (size + 1);
    while (at > 0 && data[at - 1] != '\n') --at;
    std::memmove(data + at + fragment.size(), data + at, size - at);
    std::memcpy(data + at, fragment.data(), fragment.size());
    return size + fragment.size();
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (std::string_view seed : kSeeds) check(parse_spec(seed, "seed").has_value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (size > kMaxSpecBytes) {  // rejected before any parsing
    auto spec = parse_spec(text, "fuzz");
    check(!spec && spec.error().size() == 1);
    return 0;
  }
  auto spec = parse_spec(text, "fuzz");
  if (!spec) {
    const std::vector<SpecError>& errors = spec.error();
    check(!errors.empty());
    for (size_t i = 0; i < errors.size(); ++i) {
      check(!errors[i].message.empty() && errors[i].line >= 0);
      check(errors[i].to_string().find('\n') == std::string::npos);
      if (i > 0) check(errors[i - 1].line <= errors[i].line);
    }
    const std::string all = format_errors(errors);
    check(static_cast<size_t>(std::count(all.begin(), all.end(), '\n')) == errors.size() - 1);
    return 0;
  }
  const JobSpec& job = *spec;
  check(valid_job_name(job.name));
  check(!job.command.empty() && job.command.size() <= kMaxCommandArgs && !job.command[0].empty());
  check(job.image.kind != ImageKind::kHost || job.image.path.empty());
  check(job.image.kind == ImageKind::kHost || !job.image.path.empty());
  if (job.image.kind == ImageKind::kShared) {
    check(parse_shared_path("/synapse/" + job.image.path, SharedUse::kImage).has_value());
  }
  const bool engine = job.image.kind == ImageKind::kEngine;
  if (job.runtime == Runtime::kDocker || job.runtime == Runtime::kPodman) check(engine);
  if (job.runtime == Runtime::kBubblewrap || job.runtime == Runtime::kOci) check(!engine);
  check(job.inputs.size() <= kMaxMounts && job.outputs.size() <= kMaxMounts);
  std::vector<const Mount*> mounts;
  for (const Mount& mount : job.inputs) mounts.push_back(&mount);
  for (const Mount& mount : job.outputs) mounts.push_back(&mount);
  for (size_t i = 0; i < mounts.size(); ++i) {
    check(check_mount_point(mounts[i]->sandbox_path).has_value());
    check(mounts[i]->line >= 1);
    for (size_t j = 0; j < i; ++j) {
      check(!paths_overlap(mounts[i]->sandbox_path, mounts[j]->sandbox_path));
    }
  }
  for (size_t i = 0; i < job.outputs.size(); ++i) {
    const std::string shared = "/synapse/" + job.outputs[i].shared_path;
    check(parse_shared_path(shared, SharedUse::kOutput).value() == job.outputs[i].shared_path);
    for (size_t j = 0; j < i; ++j) {
      check(!paths_overlap(job.outputs[i].shared_path, job.outputs[j].shared_path));
    }
  }
  check(check_workdir(job.workdir).has_value());
  check(job.env.size() <= kMaxEnv && std::is_sorted(job.env.begin(), job.env.end()));
  for (const auto& [name, value] : job.env) {
    check(!name.empty() && !name.starts_with("SYNAPSE_"));
    check(value.find('\0') == std::string::npos);
  }
  check(job.array <= kMaxArrayTasks && job.task_count() >= 1);
  const Resources& r = job.resources;
  check(r.cpus >= 0.01 && r.cpus <= 1024);
  check(r.memory >= (uint64_t{4} << 20));
  check(r.gpus <= 64 && r.retries <= 100 && r.pids >= 16 && r.pids <= 1'000'000);
  check(r.timeout > synapse::core::Duration::zero() && r.timeout <= std::chrono::hours(24 * 30));
  check(job.placement.labels.size() <= kMaxLabels);
  check(job.placement.nodes.size() <= kMaxPlacementNodes);
  for (const std::string& label : job.placement.labels) {
    check(!label.empty() && label.size() <= kMaxLabelLength);
  }
  return 0;
}
