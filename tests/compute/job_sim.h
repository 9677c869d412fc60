// A deterministic simulation of the jobs machinery (coordinators, workers, adverts, takeover)
// over a virtual clock and network, from one seed: the sans-I/O Coordinator and Worker of every
// node run unchanged; the sandbox, the shared tree (job records, commits) and the DHT's advert
// table are simulated. Messages cross the simulated network encoded (compute/messages.h).
//
// Nodes can be killed (their memory is lost; their sandboxes vanish) and restarted, links cut
// and healed. Everything is single-threaded and ordered by (time, sequence): the same seed
// gives the same run.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "synapse/compute/advert.h"
#include "synapse/compute/coordinator.h"
#include "synapse/compute/layout.h"
#include "synapse/compute/worker.h"
#include "synapse/core/rng.h"

namespace synapse::compute::sim {

using namespace std::chrono_literals;
using core::Duration;
using core::MonoTime;

// A sandbox command the fake runner understands: argv = {"sim", "<run ms>", "<exit code>"}.
inline std::string sim_spec(int run_ms, int exit_code = 0, uint32_t retries = 2, uint32_t array = 0,
                            bool outputs = true) {
  std::string text = "command = [\"sim\", \"" + std::to_string(run_ms) + "\", \"" +
                     std::to_string(exit_code) + "\"]\n";
  if (array > 0) text += "array = " + std::to_string(array) + "\n";
  if (outputs) text += "outputs = { \"/out\" = \"/synapse/results\" }\n";
  text += "[resources]\ncpus = 1\nmemory = \"64M\"\nretries = " + std::to_string(retries) + "\n";
  return text;
}

class Simulation;

// What the shared tree would hold: the records coordinators persisted and the commits made.
struct Store {
  struct Entry {
    JobRecord record;
    std::string spec_text;
    std::vector<std::string> events;
  };
  std::map<std::string, Entry> jobs;
  std::map<std::pair<std::string, uint32_t>, int> commits;  // (job, task) -> commits
  std::vector<std::string> discarded;                       // staged folders removed
};

class SimNode;

class Simulation {
 public:
  struct Options {
    size_t nodes = 3;
    uint32_t cpus = 2;
    uint32_t queue_depth = 2;
    Duration latency = 1ms;
    Duration advert_interval = 1s;
    Duration advert_ttl = 4s;
    Duration scan_interval = 2s;
    std::set<size_t> no_jobs;  // nodes that coordinate but run no jobs themselves
    CoordinatorOptions coordinator;
  };

  Simulation(uint64_t seed, Options options);
  ~Simulation();

  MonoTime now() const { return now_; }
  uint64_t seed() const { return seed_; }
  core::SeededRng& rng() { return rng_; }
  Store& store() { return store_; }
  size_t size() const { return nodes_.size(); }
  SimNode& node(size_t i) { return *nodes_.at(i); }
  const Options& options() const { return options_; }

  // Runs events until `until` (virtual time).
  void run_for(Duration duration);
  // Runs until `done()` holds or `limit` of virtual time passed; true if it held.
  bool run_until(const std::function<bool()>& done, Duration limit);

  // Schedules `f` at now + delay.
  void at(Duration delay, std::function<void()> f);

  // Submits a job on node `i` (its coordinator); the name must be unique.
  void submit(size_t i, const std::string& name, const std::string& spec_text,
              const std::string& user = "user");

  void kill(size_t i);
  void restart(size_t i);
  // Cuts or heals the link between two nodes (both directions).
  void cut(size_t a, size_t b);
  void heal(size_t a, size_t b);

  bool all_terminal() const;
  // Checks what must hold at any time and at the end: every succeeded task was committed,
  // attempts within retries + 1, no task committed more than `max_commits` times.
  void check_invariants(int max_commits = 1) const;

  // Network (used by nodes).
  void send(size_t from, const crypto::NodeId& to, Message message, Duration timeout,
            std::function<void(core::Result<Message>)> done);
  std::optional<size_t> index_of(const crypto::NodeId& id) const;
  bool linked(size_t a, size_t b) const;
  // Adverts.
  void publish_advert(size_t i, const NodeAdvert& advert);
  std::vector<NodeView> live_views() const;
  std::vector<crypto::NodeId> live_ids() const;

  // Sandboxes started (for assertions), by node.
  std::map<size_t, int> started;
  std::map<size_t, int> cancelled;

 private:
  struct Event {
    MonoTime when;
    uint64_t seq;
    std::function<void()> f;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };

  uint64_t seed_;
  Options options_;
  core::SeededRng rng_;
  MonoTime now_{};
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::set<std::pair<size_t, size_t>> cuts_;
  struct AdvertEntry {
    NodeAdvert advert;
    MonoTime written;
  };
  std::map<size_t, AdvertEntry> adverts_;
  Store store_;
};

// One node: its coordinator and worker, their I/O against the simulation, and the periodic
// work the daemon's host does (adverts, takeover scans, timers).
class SimNode final : public CoordinatorIo, public WorkerIo, public SandboxRunner {
 public:
  SimNode(Simulation& sim, size_t index, crypto::NodeId id);

  const crypto::NodeId& id() const { return id_; }
  bool alive() const { return alive_; }
  Coordinator& coordinator() { return *coordinator_; }
  Worker& worker() { return *worker_; }
  // The node's memory is lost; pending callbacks of this incarnation never run.
  void kill();
  // A new incarnation: fresh coordinator and worker; resumes its own jobs from the store.
  void start();

  void deliver(const crypto::NodeId& from, Message message, std::function<void(Message)> reply);
  uint64_t generation() const { return generation_; }

  // CoordinatorIo and WorkerIo.
  int64_t wall_ms() override;
  void send(const crypto::NodeId& to, Message message, Duration timeout,
            std::function<void(core::Result<Message>)> done) override;
  void persist(const JobRecord& job, std::vector<std::string> events) override;
  void locate_inputs(
      const JobRecord&, const JobSpec&,
      std::function<void(std::map<crypto::NodeId, uint64_t>, uint64_t)> done) override;
  void commit_outputs(const JobRecord& job, const JobSpec&, uint32_t task,
                      const std::string& staged, std::function<void(core::Status)> done) override;
  void discard_staged(const std::string& path) override;
  void prepare(const AttemptRef&, const JobSpec& spec, bool,
               std::function<void(core::Result<SandboxSpec>)> done) override;
  void ship_logs(const AttemptRef&, bool) override {}
  void finish(const AttemptRef& attempt, const JobSpec& spec, bool, bool stage,
              std::function<void(core::Result<std::string>)> done) override;
  void cleanup(const AttemptRef&) override {}

  // SandboxRunner.
  std::vector<RuntimeKind> runtimes() const override { return {RuntimeKind::kBubblewrap}; }
  core::Result<SandboxId> start(SandboxSpec spec, Done done) override;
  void cancel(SandboxId id) override;
  std::optional<ResourceUsage> usage(SandboxId) const override { return ResourceUsage{}; }
  size_t running() const override { return sandboxes_.size(); }
  void close(std::function<void()> done) override { done(); }

 private:
  // Runs `f` after `delay` only if this incarnation is still alive.
  void later(Duration delay, std::function<void()> f);
  void tick();
  void advertise();
  void scan();

  Simulation& sim_;
  size_t index_;
  crypto::NodeId id_;
  bool alive_ = false;
  uint64_t generation_ = 0;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<Worker> worker_;
  struct Sandbox {
    Done done;
    bool ending = false;
  };
  std::map<SandboxId, Sandbox> sandboxes_;
  SandboxId next_sandbox_ = 1;
};

}  // namespace synapse::compute::sim
