// The jobs' side of the shared tree and of the node's disk (docs/jobs.md, "The job folder"):
// taking submissions out of the spool, writing job folders, committing outputs, and a
// worker's files (its attempts' private folders, their logs shipped into the tree, staged
// outputs, unpacked images).
//
// This is an adapter: it works through fs::Tree (which may wait for the network) and the
// local disk, and runs tar to unpack images. Every method blocks; the daemon calls them on its
// job-file threads, never on the loop. Thread-safe: calls for different jobs may run at once;
// calls for one job must come in order (the daemon keeps one queue per job).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "synapse/compute/job.h"
#include "synapse/compute/messages.h"
#include "synapse/compute/sandbox.h"
#include "synapse/compute/spec.h"
#include "synapse/core/env.h"
#include "synapse/fs/paths.h"

namespace synapse::compute {

struct JobFilesOptions {
  // This node's folder for jobs: run/<attempt>/ (scratch, logs, outputs) and images/<cid>/.
  std::filesystem::path state_dir;
  // Where the shared tree is mounted here; inputs and shared folder images are bound from it.
  std::optional<std::filesystem::path> mount;
  // Who owns an attempt's writable folders (the account jobs run as).
  uid_t job_uid = 65534;
  gid_t job_gid = 65534;
  std::string tar = "tar";
  // Log bytes copied into the tree per ship, at most (the rest follows at the next one).
  size_t max_ship_bytes = 64 << 20;
  // Publishes this node's changed folders now (SharedFileSystem::publish_now); may be empty.
  std::function<void()> publish;
  // How long a folder another node wrote may take to show up here.
  core::Duration appear_timeout = std::chrono::seconds(10);
};

// One output of a task: where the sandbox writes it and where it is committed.
struct OutputPlace {
  std::string sandbox_path;  // "/out"
  std::string destination;   // tree path
  std::string link;          // name of its link in the task's outputs/ folder; "" when the
                             // destination is that folder itself
};
// The spec's outputs for `task` (array tasks get <destination>/<task>); without any, one
// "/out" whose destination is the task folder's outputs/.
std::vector<OutputPlace> output_places(const JobSpec& spec, const std::string& job, uint32_t task,
                                       bool array);

// "<job lower-cased>-<instance, 8 hex>.<task>.<attempt>": names an attempt's folder, cgroup and
// container on this node.
std::string sandbox_name(const AttemptRef& attempt);

struct Intake {
  enum class Outcome {
    kAccepted,  // a job folder was made: submit it
    kRejected,  // a job folder was made with state rejected and the errors
    kNone,      // nothing to take (gone, not a spec, still open)
  };
  Outcome outcome = Outcome::kNone;
  std::string name;  // the job's (unique) name
  JobSpec spec;
  std::string spec_text;
  std::vector<SpecError> errors;
};

class JobFiles {
 public:
  JobFiles(fs::Tree& tree, core::Env& env, JobFilesOptions options);

  // ---- The spool and the coordinator's records ----

  // Takes the submission at tree path `path` (jobs/<file>.toml): parses and checks it (inputs
  // and image must exist), picks a unique job name (the spec's, else "<name>-2", "-3", ...),
  // makes the job folder and moves the spec into it as spec.toml. A rejected spec gets its
  // folder too, with state "rejected", its errors in stderr and status.json. `record` is filled
  // for a rejection and used as the template of the record (instance, user, submitter).
  Intake take_submission(std::string_view path, JobRecord& record);
  // Writes a job's folder from its record: state, status.json, exit_code, per-task state and
  // exit_code of an array, and appends `events` to events.log. Files whose content did not
  // change since the last write by this node are left alone.
  core::Status write_record(const JobRecord& record, const std::vector<std::string>& events);
  core::Result<JobRecord> read_record(const std::string& name);
  core::Result<std::string> read_spec(const std::string& name);
  // The names of the job folders and of the submissions waiting in the spool.
  core::Result<std::vector<std::string>> job_names();
  core::Result<std::vector<std::string>> submissions();
  // Who last wrote a submission (a node ID) and the file's tree path.
  core::Result<crypto::NodeId> writer_of(std::string_view path);
  // True when the job's ctl file asks for a cancel.
  core::Result<bool> cancel_asked(const std::string& name);
  // Writes "cancel" into the job's ctl file.
  core::Status ask_cancel(const std::string& name);

  // Content roots and sizes of the files below the spec's inputs (at most `max_files`, largest
  // first), for the scheduler's locality.
  core::Result<std::vector<std::pair<crypto::Cid, uint64_t>>> input_contents(const JobSpec& spec,
                                                                             size_t max_files);
  // Moves the staged outputs of a task into place (output_places) and links them from the
  // task's outputs/ folder. A destination that exists is replaced as a whole.
  core::Status commit_outputs(const JobRecord& record, const JobSpec& spec, uint32_t task,
                              const std::string& staged);
  core::Status remove(std::string_view path);

  // ---- A worker's attempts ----

  // Makes the attempt's private folder (logs, writable outputs, the runtime's scratch),
  // unpacks its image and binds its inputs from the mount: the sandbox to start, without
  // limits.
  core::Result<SandboxSpec> prepare(const AttemptRef& attempt, const JobSpec& spec, bool array);
  // Copies what the attempt's stdout and stderr gained into its task folder.
  core::Status ship_logs(const AttemptRef& attempt, bool array);
  // Ships the logs a last time and, with `stage`, copies the outputs into the staging folder
  // and publishes it; returns the staged tree path ("" if nothing staged).
  core::Result<std::string> finish(const AttemptRef& attempt, const JobSpec& spec, bool array,
                                   bool stage);
  // Removes the attempt's private folder.
  void cleanup(const AttemptRef& attempt);

 private:
  struct Shipped {
    uint64_t out = 0;
    uint64_t err = 0;
    bool created = false;
  };
  std::filesystem::path run_dir(const AttemptRef& attempt) const;
  core::Status ship(const AttemptRef& attempt, bool array);
  core::Result<std::filesystem::path> image_root(const JobSpec& spec);
  core::Status copy_in(const std::filesystem::path& local, const std::string& tree_path);
  core::Status reject(const std::string& name, const std::string& text,
                      const std::vector<SpecError>& errors, JobRecord& record);
  core::Result<std::string> unique_name(const std::string& wanted);
  // Whether `path` exists, waiting up to appear_timeout for it to show up.
  core::Result<bool> appears(const std::string& path);

  fs::Tree& tree_;
  core::Env& env_;
  JobFilesOptions options_;
  std::mutex mu_;  // guards the members below
  std::map<AttemptRef, Shipped> shipped_;
  std::map<std::string, std::map<std::string, std::string>> written_;  // job -> file -> text
  std::mutex images_mu_;  // one image unpacked at a time
};

}  // namespace synapse::compute
