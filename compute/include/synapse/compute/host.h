// What this machine offers to jobs, read from the operating system (docs/jobs.md, "Resource
// adverts"). This is an adapter: it reads /proc, /sys, /dev and runs nvidia-smi.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "synapse/compute/sandbox.h"
#include "synapse/core/result.h"

namespace synapse::compute {

struct GpuInfo {
  uint32_t index = 0;         // N of /dev/nvidiaN
  std::string name;           // "NVIDIA H200" (from nvidia-smi; empty without it)
  uint64_t memory_bytes = 0;  // 0 when unknown
  friend bool operator==(const GpuInfo&, const GpuInfo&) = default;
};

struct HostResources {
  uint32_t cpus = 1;              // CPUs this process may run on (sched_getaffinity)
  uint64_t memory_bytes = 0;      // MemTotal, or the cgroup limit of this process if lower
  uint64_t memory_available = 0;  // MemAvailable
  double load1 = 0;               // 1-minute load average
  std::vector<GpuInfo> gpus;      // /dev/nvidia[0-9]+, named by nvidia-smi when present
};

struct HostProbeOptions {
  std::filesystem::path proc = "/proc";
  std::filesystem::path dev = "/dev";
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";  // for this process's memory limit
  std::string nvidia_smi = "nvidia-smi";                 // skipped when not found in PATH
};

// Reads the host's resources. Errors: kIo when /proc cannot be read.
core::Result<HostResources> probe_host(const HostProbeOptions& options = {});

// The runtimes usable here: bubblewrap if `bwrap` runs and can create a user namespace, an OCI
// runtime if runc or crun is installed, docker/podman if their engine answers (`docker info`).
std::vector<RuntimeKind> probe_runtimes(const SandboxRunnerOptions& options);

}  // namespace synapse::compute
