// A deterministic discrete-event simulator for the Kademlia core (docs/dht.md, "Simulator"):
// thousands of dht::Node instances in one process over a simulated network with a virtual
// clock, per-link latency, packet loss, nodes that die silently, churn, and partitions that
// heal. Everything random comes from one seed, so a run replays exactly.
//
// Nodes are addressed by index (PeerAddress::from_u32). Messages between nodes go through the
// real codec (the core only ever sees bytes). A message is dropped when the loss draw says
// so, when its receiver is dead, or when sender and receiver are on different sides of a
// partition (at send or at delivery time). Each link has a fixed one-way latency drawn from
// [latency_min, latency_max] by a hash of the seed and the two indices.
//
// Events run in (time, sequence) order from a binary heap; there are no threads, and no
// outcome depends on hash-table iteration order. All value signatures are real Ed25519; the
// nodes share one CachingVerifier (a verdict depends only on the bytes, so sharing changes
// nothing but speed).
//
// Test and bench infrastructure (library synapse_dht_sim); not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <span>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/core/rng.h"
#include "synapse/dht/node.h"
#include "synapse/dht/records.h"

namespace synapse::dht::sim {

using namespace std::chrono_literals;

struct SimOptions {
  uint64_t seed = 1;
  NodeOptions node;
  core::Duration latency_min = 5ms;
  core::Duration latency_max = 50ms;
  double loss = 0.0;  // probability that one message is dropped
};

struct SimStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;         // loss draw
  uint64_t to_dead = 0;      // receiver dead
  uint64_t partitioned = 0;  // across a partition
  uint64_t events = 0;
  uint64_t bytes = 0;
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  const SimOptions& options() const { return options_; }
  core::MonoTime now() const { return now_; }
  core::Rng& rng() { return rng_; }
  // A uniform draw in [0, bound).
  uint64_t uniform(uint64_t bound);

  // Adds a node with a random ID (or `id`); it is alive but knows nobody until join().
  size_t add_node();
  size_t add_node(const NodeId& id);
  // Starts the node's bootstrap through `seeds` now; `done` runs when it finished.
  void join(size_t index, std::span<const size_t> seeds, std::function<void()> done = nullptr);
  // Adds `count` nodes; node j (of this batch) starts joining `spacing` * j from now through a
  // random live node that finished joining (any earlier node while none has). Runs until every join
  // finished (or `limit` of virtual time passed); returns how many finished.
  size_t grow(size_t count, core::Duration spacing, core::Duration limit = 1h);

  // Runs `action` at virtual time `when` (not before now()).
  void at(core::MonoTime when, std::function<void()> action);
  void run_for(core::Duration duration);
  void run_until(core::MonoTime when);
  // Runs until `done()` holds (checked after every event) or `limit` passes; returns done().
  bool run_until(const std::function<bool()>& done, core::Duration limit);

  // The node, for starting operations (pass now()) and inspecting it.
  Node& node(size_t index);
  const NodeId& id(size_t index) const { return nodes_[index].id; }
  size_t size() const { return nodes_.size(); }
  bool alive(size_t index) const { return nodes_[index].alive; }
  size_t alive_count() const { return alive_count_; }
  // A random live node.
  size_t random_alive();

  // Silent death: the node stops answering and its timers stop; nobody is told.
  void kill(size_t index);
  // Partitions: messages cross only between nodes with equal sides. heal() puts everyone on
  // side 0 again.
  void set_side(size_t index, uint8_t side) { nodes_[index].side = side; }
  uint8_t side(size_t index) const { return nodes_[index].side; }
  void heal();

  // Oracle: the `n` live nodes closest to `target` (indices, closest first). With `side`, only
  // nodes on that side.
  std::vector<size_t> closest_alive(const NodeId& target, size_t n, int side = -1) const;
  // The index of the node with this ID (linear search); size() if none.
  size_t index_of(const NodeId& id) const;

  const SimStats& stats() const { return stats_; }
  // Sees every message sent (before the loss draw), for debugging and tests.
  using Trace = std::function<void(size_t from, size_t to, core::ByteView message)>;
  void set_trace(Trace trace) { trace_ = std::move(trace); }
  CachingVerifier& verifier() { return verifier_; }

 private:
  class Sender;
  struct SimNode {
    NodeId id;
    std::unique_ptr<core::SeededRng> rng;
    std::unique_ptr<Sender> sender;
    std::unique_ptr<Node> node;
    bool alive = true;
    uint8_t side = 0;
    core::MonoTime wake = core::MonoTime::max();
  };
  enum class EventKind : uint8_t { kDeliver, kWake, kAction };
  struct Event {
    core::MonoTime when;
    uint64_t sequence;
    EventKind kind;
    uint32_t node;     // receiver (kDeliver), node (kWake)
    uint32_t from;     // sender (kDeliver)
    uint32_t payload;  // slot in payloads_ (kDeliver) or actions_ (kAction)
    friend bool operator>(const Event& a, const Event& b) {
      if (a.when != b.when) return a.when > b.when;
      return a.sequence > b.sequence;
    }
  };

  // A 4-ary min-heap on (when, sequence): fewer cache misses than std::priority_queue's
  // binary heap at the sizes a 10,000-node run reaches.
  class EventQueue {
   public:
    bool empty() const { return heap_.empty(); }
    const Event& top() const { return heap_.front(); }
    void push(const Event& event);
    void pop();

   private:
    std::vector<Event> heap_;
  };

  void send(uint32_t from, const PeerAddress& to, core::Bytes message);
  void push(Event event);
  void schedule_wake(uint32_t index);
  void flush_dirty();
  bool step(core::MonoTime limit);
  core::Duration latency(uint32_t a, uint32_t b) const;

  SimOptions options_;
  core::SeededRng rng_;
  core::MonoTime now_{};
  CachingVerifier verifier_;
  std::vector<SimNode> nodes_;
  size_t alive_count_ = 0;
  EventQueue events_;
  uint64_t sequence_ = 0;
  std::vector<core::Bytes> payloads_;
  std::vector<uint32_t> free_payloads_;
  std::vector<std::function<void()>> actions_;
  std::vector<uint32_t> free_actions_;
  std::vector<uint32_t> dirty_;
  std::vector<uint8_t> is_dirty_;
  SimStats stats_;
  Trace trace_;
};

// Outcome of a batch of random lookups.
struct LookupReport {
  size_t lookups = 0;
  size_t completed = 0;
  size_t successes = 0;
  std::vector<double> hops;      // Lookup::hops() of each completed lookup
  std::vector<double> messages;  // requests each completed lookup sent
  double success_rate() const {
    return lookups == 0 ? 1.0 : static_cast<double>(successes) / static_cast<double>(lookups);
  }
};

// Runs `count` find-node lookups for random targets from random live nodes, starting one every
// `spacing`, until all completed or `linger` passed after the last one started (a lookup whose
// node dies never completes). A lookup succeeds when the closest node it returns is the
// closest other live node (the oracle's) when it starts or when it ends.
LookupReport run_lookups(Simulator& sim, size_t count, core::Duration spacing,
                         core::Duration linger = 2min);

// From now for `duration`, replaces `fraction_per_minute` * `population` nodes per virtual
// minute, evenly spaced: a random live node dies silently and a new node joins through a
// random live node.
void schedule_churn(Simulator& sim, double fraction_per_minute, size_t population,
                    core::Duration duration);

// The seed for a simulator test: $SYNAPSE_SEED when set (to replay a failure), else `fallback`.
uint64_t seed_from_env(uint64_t fallback);

// The q-quantile (0..1) of `values` by nearest rank; 0 for an empty list.
double quantile(std::vector<double> values, double q);

}  // namespace synapse::dht::sim
