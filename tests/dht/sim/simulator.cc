#include "simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

namespace synapse::dht::sim {

class Simulator::Sender final : public MessageSender {
 public:
  Sender(Simulator& sim, uint32_t index) : sim_(sim), index_(index) {}
  void send(const PeerAddress& to, core::Bytes message) override {
    sim_.send(index_, to, std::move(message));
  }

 private:
  Simulator& sim_;
  uint32_t index_;
};

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Simulator::Simulator(SimOptions options)
    : options_(std::move(options)), rng_(options_.seed), verifier_(1 << 16) {
  SYNAPSE_CHECK(options_.latency_min <= options_.latency_max, "latency range");
}

Simulator::~Simulator() = default;

uint64_t Simulator::uniform(uint64_t bound) {
  SYNAPSE_CHECK(bound > 0, "uniform bound must be positive");
  return rng_.next() % bound;
}

size_t Simulator::add_node() { return add_node(random_id(rng_)); }

size_t Simulator::add_node(const NodeId& id) {
  const auto index = static_cast<uint32_t>(nodes_.size());
  SimNode& sim_node = nodes_.emplace_back();
  sim_node.id = id;
  sim_node.rng = std::make_unique<core::SeededRng>(mix(options_.seed ^ mix(index + 1)));
  sim_node.sender = std::make_unique<Sender>(*this, index);
  sim_node.node = std::make_unique<Node>(sim_node.id, options_.node, *sim_node.sender,
                                         *sim_node.rng, &verifier_);
  ++alive_count_;
  is_dirty_.push_back(0);
  schedule_wake(index);
  return index;
}

void Simulator::join(size_t index, std::span<const size_t> seeds, std::function<void()> done) {
  std::vector<PeerAddress> addresses;
  for (size_t seed : seeds) addresses.push_back(PeerAddress::from_u32(static_cast<uint32_t>(seed)));
  node(index).bootstrap(addresses, now_, [done = std::move(done)](size_t) {
    if (done) done();
  });
}

size_t Simulator::grow(size_t count, core::Duration spacing, core::Duration limit) {
  // Seeds are nodes that finished joining (as a bootstrap list names established nodes);
  // until one has, the seed is any earlier node.
  struct State {
    std::vector<size_t> ready;
    size_t finished = 0;
  };
  auto state = std::make_shared<State>();  // outlives this call if the limit passes
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (alive(i)) state->ready.push_back(i);
  }
  const size_t first = nodes_.size();
  for (size_t j = 0; j < count; ++j) add_node();
  for (size_t j = 0; j < count; ++j) {
    const size_t index = first + j;
    at(now_ + spacing * static_cast<int64_t>(j), [this, index, state] {
      auto& ready = state->ready;
      if (!alive(index)) {
        ++state->finished;
        return;
      }
      std::vector<size_t> seeds;
      for (int attempt = 0; attempt < 8 && seeds.empty(); ++attempt) {
        size_t seed = index;
        if (!ready.empty()) {
          seed = ready[uniform(ready.size())];
        } else if (index > 0) {
          seed = uniform(index);
        }
        if (seed != index && alive(seed)) seeds.push_back(seed);
      }
      join(index, seeds, [index, state] {
        state->ready.push_back(index);
        ++state->finished;
      });
    });
  }
  run_until([&] { return state->finished == count; }, limit);
  return state->finished;
}

void Simulator::at(core::MonoTime when, std::function<void()> action) {
  uint32_t slot;
  if (!free_actions_.empty()) {
    slot = free_actions_.back();
    free_actions_.pop_back();
    actions_[slot] = std::move(action);
  } else {
    slot = static_cast<uint32_t>(actions_.size());
    actions_.push_back(std::move(action));
  }
  push(Event{std::max(when, now_), 0, EventKind::kAction, 0, 0, slot});
}

void Simulator::EventQueue::push(const Event& event) {
  size_t i = heap_.size();
  heap_.push_back(event);
  while (i > 0) {
    const size_t parent = (i - 1) / 4;
    if (!(heap_[parent] > event)) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = event;
}

void Simulator::EventQueue::pop() {
  const Event last = heap_.back();
  heap_.pop_back();
  const size_t n = heap_.size();
  if (n == 0) return;
  size_t i = 0;
  while (true) {
    const size_t first = 4 * i + 1;
    if (first >= n) break;
    size_t best = first;
    const size_t end = std::min(first + 4, n);
    for (size_t c = first + 1; c < end; ++c) {
      if (heap_[best] > heap_[c]) best = c;
    }
    if (!(last > heap_[best])) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = last;
}

void Simulator::push(Event event) {
  event.sequence = sequence_++;
  events_.push(event);
}

core::Duration Simulator::latency(uint32_t a, uint32_t b) const {
  const uint64_t lo = std::min(a, b);
  const uint64_t hi = std::max(a, b);
  const uint64_t h = mix(options_.seed ^ mix((lo << 32) | hi));
  const auto span = (options_.latency_max - options_.latency_min).count();
  if (span <= 0) return options_.latency_min;
  return options_.latency_min + core::Duration(static_cast<int64_t>(h % (span + 1)));
}

void Simulator::send(uint32_t from, const PeerAddress& to, core::Bytes message) {
  ++stats_.sent;
  stats_.bytes += message.size();
  const uint32_t target = to.to_u32();
  if (trace_) trace_(from, target, message);
  if (target >= nodes_.size()) {
    ++stats_.to_dead;
    return;
  }
  if (nodes_[from].side != nodes_[target].side) {
    ++stats_.partitioned;
    return;
  }
  if (options_.loss > 0 && static_cast<double>(rng_.next() >> 11) * 0x1.0p-53 < options_.loss) {
    ++stats_.lost;
    return;
  }
  uint32_t slot;
  if (!free_payloads_.empty()) {
    slot = free_payloads_.back();
    free_payloads_.pop_back();
    payloads_[slot] = std::move(message);
  } else {
    slot = static_cast<uint32_t>(payloads_.size());
    payloads_.push_back(std::move(message));
  }
  push(Event{now_ + latency(from, target), 0, EventKind::kDeliver, target, from, slot});
}

void Simulator::schedule_wake(uint32_t index) {
  SimNode& sim_node = nodes_[index];
  if (!sim_node.alive) return;
  core::MonoTime when = sim_node.node->next_timer();
  if (when < now_) when = now_;
  if (when >= sim_node.wake) return;
  sim_node.wake = when;
  push(Event{when, 0, EventKind::kWake, index, 0, 0});
}

Node& Simulator::node(size_t index) {
  if (!is_dirty_[index]) {
    is_dirty_[index] = 1;
    dirty_.push_back(static_cast<uint32_t>(index));
  }
  return *nodes_[index].node;
}

void Simulator::flush_dirty() {
  // Deterministic: in the order the nodes were touched.
  for (size_t i = 0; i < dirty_.size(); ++i) {
    is_dirty_[dirty_[i]] = 0;
    schedule_wake(dirty_[i]);
  }
  dirty_.clear();
}

bool Simulator::step(core::MonoTime limit) {
  flush_dirty();
  if (events_.empty() || events_.top().when > limit) return false;
  const Event event = events_.top();
  events_.pop();
  now_ = event.when;
  ++stats_.events;
  switch (event.kind) {
    case EventKind::kDeliver: {
      core::Bytes message = std::move(payloads_[event.payload]);
      payloads_[event.payload] = core::Bytes();
      free_payloads_.push_back(event.payload);
      SimNode& to = nodes_[event.node];
      if (!to.alive) {
        ++stats_.to_dead;
        break;
      }
      if (to.side != nodes_[event.from].side) {
        ++stats_.partitioned;
        break;
      }
      ++stats_.delivered;
      const Contact from{nodes_[event.from].id, PeerAddress::from_u32(event.from)};
      to.node->on_message(from, message, now_);
      schedule_wake(event.node);
      break;
    }
    case EventKind::kWake: {
      SimNode& sim_node = nodes_[event.node];
      if (!sim_node.alive || event.when != sim_node.wake) break;  // superseded
      sim_node.wake = core::MonoTime::max();
      sim_node.node->on_timer(now_);
      schedule_wake(event.node);
      break;
    }
    case EventKind::kAction: {
      std::function<void()> action = std::move(actions_[event.payload]);
      actions_[event.payload] = nullptr;
      free_actions_.push_back(event.payload);
      action();
      break;
    }
  }
  return true;
}

void Simulator::run_until(core::MonoTime when) {
  while (step(when)) {
  }
  if (now_ < when) now_ = when;
}

void Simulator::run_for(core::Duration duration) { run_until(now_ + duration); }

bool Simulator::run_until(const std::function<bool()>& done, core::Duration limit) {
  const core::MonoTime deadline = now_ + limit;
  while (!done()) {
    if (!step(deadline)) {
      if (now_ < deadline) now_ = deadline;
      return done();
    }
  }
  return true;
}

size_t Simulator::random_alive() {
  SYNAPSE_CHECK(alive_count_ > 0, "a live node exists");
  while (true) {
    const size_t index = uniform(nodes_.size());
    if (nodes_[index].alive) return index;
  }
}

void Simulator::kill(size_t index) {
  SimNode& sim_node = nodes_[index];
  if (!sim_node.alive) return;
  sim_node.alive = false;
  --alive_count_;
}

void Simulator::heal() {
  for (SimNode& sim_node : nodes_) sim_node.side = 0;
}

std::vector<size_t> Simulator::closest_alive(const NodeId& target, size_t n, int side) const {
  std::vector<size_t> candidates;
  candidates.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].alive && (side < 0 || nodes_[i].side == side)) candidates.push_back(i);
  }
  n = std::min(n, candidates.size());
  auto by_distance = [&](size_t a, size_t b) { return closer(nodes_[a].id, nodes_[b].id, target); };
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(n),
                    candidates.end(), by_distance);
  candidates.resize(n);
  return candidates;
}

size_t Simulator::index_of(const NodeId& id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].id == id) return i;
  }
  return nodes_.size();
}

LookupReport run_lookups(Simulator& sim, size_t count, core::Duration spacing,
                         core::Duration linger) {
  auto report = std::make_shared<LookupReport>();  // outlives this call if the limit passes
  report->lookups = count;
  const core::MonoTime start = sim.now();
  for (size_t i = 0; i < count; ++i) {
    sim.at(start + spacing * static_cast<int64_t>(i), [&sim, report] {
      const size_t from = sim.random_alive();
      const NodeId target = random_id(sim.rng());
      // The lookup never returns its own node: compare with the closest other live node.
      auto closest_other = [&sim, from, target] {
        for (size_t index : sim.closest_alive(target, 2)) {
          if (index != from) return sim.id(index);
        }
        return NodeId();
      };
      const NodeId at_start = closest_other();
      sim.node(from).find_node(target, sim.now(),
                               [report, at_start, closest_other](LookupResult result) {
                                 ++report->completed;
                                 report->hops.push_back(result.hops);
                                 report->messages.push_back(static_cast<double>(result.messages));
                                 if (result.closest.empty()) return;
                                 const NodeId& found = result.closest.front().id;
                                 if (found == at_start || found == closest_other()) {
                                   ++report->successes;
                                 }
                               });
    });
  }
  sim.run_until([&] { return report->completed == count; },
                spacing * static_cast<int64_t>(count) + linger);
  return *report;
}

void schedule_churn(Simulator& sim, double fraction_per_minute, size_t population,
                    core::Duration duration) {
  const double per_second = fraction_per_minute * static_cast<double>(population) / 60.0;
  if (per_second <= 0) return;
  const auto step =
      std::chrono::duration_cast<core::Duration>(std::chrono::duration<double>(1.0 / per_second));
  const core::MonoTime start = sim.now();
  for (core::Duration t = step; t < duration; t += step) {
    sim.at(start + t, [&sim] {
      sim.kill(sim.random_alive());
      const size_t fresh = sim.add_node();
      size_t seed = sim.random_alive();
      while (seed == fresh) seed = sim.random_alive();
      const size_t seeds[] = {seed};
      sim.join(fresh, seeds);
    });
  }
}

uint64_t seed_from_env(uint64_t fallback) {
  const char* text = std::getenv("SYNAPSE_SEED");
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 0);
}

double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(q * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

}  // namespace synapse::dht::sim
