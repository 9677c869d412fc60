// ComputeHost: jobs inside a running node (docs/jobs.md). It runs this node's Coordinator (the
// jobs submitted here) and Worker (the tasks it runs) on the daemon's loop, and gives them
// their I/O: the spool (commit notices of the shared file system), the job folders and a
// worker's files (compute::JobFiles on a few threads, in order per job), messages between
// nodes (exchange calls, service kComputeService), resource adverts in the DHT, takeover scans
// and the sandboxes (compute::SandboxRunner).
//
// Threads: create(), start(), the control methods, on_call() and close() run on the loop
// thread, and so do all callbacks. The file system's commit notices arrive on its threads and
// are handed to the loop.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data_service.h"
#include "synapse/compute/advert.h"
#include "synapse/compute/scheduler.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"
#include "synapse/daemon/control.h"
#include "synapse/fs/shared_file_system.h"

namespace synapse::daemon {

struct ComputeHostOptions {
  // The attempts' private folders and the unpacked images. Bubblewrap binds their writable
  // folders as the job's account, which must be able to reach them: when the node runs as root
  // this is /var/tmp/synapse-jobs-<short ID> (mode 0711; jobs get a private /var/tmp and never
  // see it), else <home>/jobs.
  std::filesystem::path state_dir;
  // Remove state_dir at a clean stop when it holds no unpacked image (the /var/tmp default).
  bool remove_state_dir_when_empty = false;
  std::optional<std::filesystem::path> mount;  // the shared folder's mount point here
  bool run_jobs = true;                        // [jobs] enabled
  std::optional<double> cpus;                  // for jobs; default: every CPU
  std::optional<uint64_t> memory;              // for jobs; default: all but 10 % (at most 2 GiB)
  std::vector<std::string> labels;
  std::vector<std::string> allow;  // who may send jobs here; empty: every member
  std::string user = "nobody";     // the account jobs run as when the node runs as root
  uint32_t queue_depth = 0;        // tasks accepted beyond what runs; 0: twice the CPUs
  std::string name;                // this node's name (certificate name or host name)
  std::optional<crypto::Certificate> certificate;  // this node's
  // The certificate a peer presented, if it verifies against the swarm's CA (else nullopt).
  std::function<std::optional<crypto::Certificate>(const crypto::NodeId&,
                                                   const std::optional<core::Bytes>&)>
      verify_certificate;
  // Added to the wall clock this node's adverts carry (fault injection: a clock that is off).
  std::chrono::milliseconds advert_clock_offset{0};
  core::Duration advert_interval = std::chrono::seconds(3);
  // A node whose advert is this old is gone (its jobs are taken over).
  core::Duration node_lease = std::chrono::seconds(15);
  core::Duration worker_lease = std::chrono::seconds(10);
  core::Duration heartbeat_interval = std::chrono::seconds(2);
  std::string bwrap = "bwrap";
};

class ComputeHost {
 public:
  using Reply = std::function<void(core::Result<nlohmann::json>)>;

  static core::Result<std::unique_ptr<ComputeHost>> create(
      uv_loop_t* loop, ComputeHostOptions options, const crypto::NodeIdentity& identity,
      dht::NodeRuntime& runtime, exchange::Exchange& exchange, fs::SharedFileSystem& fs,
      blockstore::BlockStore& store, std::function<uint64_t()> next_sequence);
  virtual ~ComputeHost() = default;

  // Once the node has joined: advertises, resumes this node's jobs and takes up the spool.
  virtual void start() = 0;
  // A peer's call of kComputeService.
  virtual void on_call(const exchange::Caller& from, core::Bytes body,
                       exchange::CallReplyFn reply) = 0;
  // Control methods "job.submit", "jobs", "job.status", "job.read", "job.cancel"
  // (docs/control.md); false when `request` is none of them.
  virtual bool handle(const ControlRequest& request, Reply& reply) = 0;
  // For `synapse status`: what runs and waits here.
  virtual nlohmann::json status_json() const = 0;
  // How far each advertising peer's wall clock is behind ours, in seconds (negative: ahead),
  // estimated from its adverts to within an advert interval (3 s).
  virtual std::map<crypto::NodeId, double> clock_offsets() const = 0;
  // A config reload: the labels and allow list this node advertises and admits offers by.
  virtual void set_policy(std::vector<std::string> labels, std::vector<std::string> allow) = 0;
  // The adverts this node knows (its own included), for `synapse peers` and /.peers.
  virtual std::vector<std::pair<crypto::NodeId, compute::NodeAdvert>> adverts() const = 0;
  // Stops the sandboxes (they are killed), the file threads and the timers; `done` runs on the
  // loop thread once every handle is closed. Before the file system closes.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::daemon
