// Job specs: the TOML file a user copies into /synapse/jobs/ (docs/job-spec.md: every key,
// rule and error; docs/jobs.md for what happens to a job).
//
// parse_spec() checks everything that can be checked from the text alone (syntax, unknown
// keys, types, ranges, paths); what needs the swarm (inputs and images that must exist, a node
// big enough) is checked by the coordinator, which reports it with the line and key kept here.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"

namespace synapse::compute {

using namespace std::chrono_literals;

// Limits a spec must stay within.
inline constexpr size_t kMaxSpecBytes = 64 * 1024;
inline constexpr size_t kMaxJobNameLength = 64;
inline constexpr uint32_t kMaxArrayTasks = 10'000;
inline constexpr size_t kMaxMounts = 32;  // inputs and outputs each
inline constexpr size_t kMaxEnv = 256;    // variables
inline constexpr size_t kMaxCommandArgs = 4096;
inline constexpr size_t kMaxLabels = 16;  // placement.labels and node labels
inline constexpr size_t kMaxLabelLength = 32;
inline constexpr size_t kMaxPlacementNodes = 256;  // placement.nodes

// Where the shared tree appears in specs: "/synapse/datasets/x" names the tree path
// "datasets/x" on every node, whatever the node's mount point.
inline constexpr std::string_view kSharedPrefix = "/synapse";

// How the job is isolated. kAuto: bubblewrap for "host" and shared-tree images, the first
// engine present (docker, then podman) for docker:// images.
enum class Runtime : uint8_t { kAuto, kBubblewrap, kOci, kDocker, kPodman };
std::string_view runtime_name(Runtime runtime);  // "auto", "bubblewrap", "oci", "docker", "podman"

// A folder of the shared tree seen at a path inside the sandbox.
struct Mount {
  std::string sandbox_path;  // absolute, normalised, e.g. "/in"
  std::string shared_path;   // tree path without the prefix, e.g. "datasets/books" ("" = root)
  int line = 0;              // of the key in the spec, for later errors
};

enum class ImageKind : uint8_t {
  kHost,    // the host's root, read-only
  kShared,  // a root filesystem in the tree: a tar file (unpacked once per node) or a folder
  kEngine,  // docker://REF: an image of a Docker/Podman engine
};

struct Image {
  ImageKind kind = ImageKind::kHost;
  std::string path;  // kShared: tree path ("images/alpine.tar"); kEngine: the reference
  int line = 0;
};

struct Resources {
  double cpus = 1;                                 // may be fractional; at most 1024
  uint64_t memory = uint64_t{512} << 20;           // bytes; at least 4 MiB
  uint32_t gpus = 0;                               // at most 64
  core::Duration timeout = std::chrono::hours(1);  // wall clock; at most 30 days
  bool network = false;                            // a network namespace of its own when false
  uint32_t retries = 2;                            // new attempts after a lost node or failed start
  uint32_t pids = 4096;                            // processes and threads at once; 16 .. 1,000,000
};

struct Placement {
  std::vector<std::string> labels;  // the node must have every one
  std::vector<std::string> nodes;   // if any: the node's name or an ID prefix must match one
};

struct JobSpec {
  // [A-Za-z0-9._-], 1..64 characters, not starting with '.' nor ending in ".toml" (a folder
  // named like a submission would confuse the spool).
  std::string name;
  std::vector<std::string> command;  // argv; a string in the file means {"sh", "-c", text}
  Image image;
  Runtime runtime = Runtime::kAuto;
  // Sorted by sandbox path. No sandbox path equals or lies inside another (inputs and outputs
  // together), nor does any output's shared path with another output's.
  std::vector<Mount> inputs;                             // read-only
  std::vector<Mount> outputs;                            // collected when the task succeeds
  std::vector<std::pair<std::string, std::string>> env;  // sorted by name
  std::string workdir = "/";
  uint32_t array = 0;  // 0: a single task; N >= 1: tasks 0..N-1 with SYNAPSE_TASK_ID
  Resources resources;
  Placement placement;

  // Number of tasks (1 for a non-array job).
  uint32_t task_count() const { return array == 0 ? 1 : array; }
};

struct SpecError {
  int line = 0;     // 1-based; 0 when the error is not tied to a line
  std::string key;  // dotted ("resources.memory", "inputs./in"); empty for syntax errors
  std::string message;

  // "line 7: resources.memory: expected a size such as \"512M\", got -3"; without a line
  // "command: required ...", without a key "line 3: <syntax error>". Always one line: control
  // characters of the key and message are escaped; keys over 128 bytes and messages over 1024
  // are cut with "...".
  std::string to_string() const;
};

// Parses and validates a spec. `default_name` (the file name without ".toml") is used when
// the spec has no `name`. Every error found is reported, in line order, not just the first.
tl::expected<JobSpec, std::vector<SpecError>> parse_spec(std::string_view text,
                                                         std::string_view default_name);

// True for a valid job name (see JobSpec::name).
bool valid_job_name(std::string_view name);

// Joins errors one per line (separated by '\n', none after the last), for stderr and
// status.json.
std::string format_errors(const std::vector<SpecError>& errors);

// Single-value checks, as parse_spec applies them; for other front ends and tests. Their errors
// are kInvalidArgument with the message parse_spec reports (docs/job-spec.md, "Paths").

// A mount point in the sandbox (a key of `inputs` or `outputs`): absolute, normalised (no
// empty, "." or ".." components, no trailing "/"), no control characters, components of at most
// 255 bytes; not "/", not /tmp itself, not /proc, /dev or /sys or anything under them.
core::Status check_mount_point(std::string_view path);
// The working directory in the sandbox: absolute and normalised ("/" and "/tmp" are fine).
core::Status check_workdir(std::string_view path);

// What a shared path is for. Outputs may not be the root or lie in /synapse/.cid, .peers or
// jobs; images may not be the root; paths under /synapse/.cid must name a valid CID.
enum class SharedUse : uint8_t { kInput, kOutput, kImage };
// "/synapse/datasets/books" -> "datasets/books"; "/synapse" -> "" (the root).
core::Result<std::string> parse_shared_path(std::string_view path, SharedUse use);

// True when `a` and `b` are equal or one lies inside the other, by whole components
// ("/in" and "/in/x" overlap, "/in" and "/input" do not). Works on absolute paths and on tree
// paths ("" is the root and overlaps everything).
bool paths_overlap(std::string_view a, std::string_view b);

// How error messages show text from a spec: in double quotes, with '"', '\\' and control
// characters escaped, cut after 64 bytes with "...".
std::string quote_for_error(std::string_view text);

}  // namespace synapse::compute
