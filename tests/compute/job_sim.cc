#include "job_sim.h"

#include <algorithm>

namespace synapse::compute::sim {

namespace {

crypto::NodeId id_from(core::SeededRng& rng) {
  std::array<uint8_t, crypto::NodeId::kSize> bytes{};
  rng.fill(bytes);
  return crypto::NodeId(bytes);
}

// Virtual wall clock: 2026-01-01 plus the simulated time.
constexpr int64_t kEpochMs = 1767225600000;

}  // namespace

Simulation::Simulation(uint64_t seed, Options options)
    : seed_(seed), options_(options), rng_(seed) {
  for (size_t i = 0; i < options_.nodes; ++i) {
    nodes_.push_back(std::make_unique<SimNode>(*this, i, id_from(rng_)));
  }
  for (auto& node : nodes_) node->start();
}

Simulation::~Simulation() = default;

void Simulation::at(Duration delay, std::function<void()> f) {
  events_.push(Event{now_ + delay, seq_++, std::move(f)});
}

void Simulation::run_for(Duration duration) {
  const MonoTime until = now_ + duration;
  while (!events_.empty() && events_.top().when <= until) {
    Event event = events_.top();
    events_.pop();
    now_ = event.when;
    event.f();
  }
  now_ = until;
}

bool Simulation::run_until(const std::function<bool()>& done, Duration limit) {
  const MonoTime until = now_ + limit;
  while (!done()) {
    if (events_.empty() || events_.top().when > until) {
      now_ = until;
      return done();
    }
    Event event = events_.top();
    events_.pop();
    now_ = event.when;
    event.f();
  }
  return true;
}

void Simulation::submit(size_t i, const std::string& name, const std::string& spec_text,
                        const std::string& user) {
  auto spec = parse_spec(spec_text, name);
  ASSERT_TRUE(spec) << format_errors(spec.error());
  // The host writes spec.toml into the job folder before the coordinator takes the job.
  store_.jobs[name].spec_text = spec_text;
  Submission submission{name, rng_.next(), user, *spec, spec_text};
  ASSERT_TRUE(node(i).coordinator().submit(std::move(submission), now_));
}

void Simulation::kill(size_t i) { node(i).kill(); }
void Simulation::restart(size_t i) { node(i).start(); }
void Simulation::cut(size_t a, size_t b) { cuts_.insert({std::min(a, b), std::max(a, b)}); }
void Simulation::heal(size_t a, size_t b) { cuts_.erase({std::min(a, b), std::max(a, b)}); }

bool Simulation::linked(size_t a, size_t b) const {
  return a == b || !cuts_.count({std::min(a, b), std::max(a, b)});
}

std::optional<size_t> Simulation::index_of(const crypto::NodeId& id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->id() == id) return i;
  }
  return std::nullopt;
}

void Simulation::send(size_t from, const crypto::NodeId& to, Message message, Duration timeout,
                      std::function<void(core::Result<Message>)> done) {
  const uint64_t sender_generation = node(from).generation();
  auto once = std::make_shared<std::function<void(core::Result<Message>)>>(std::move(done));
  // Delivers the outcome to the sender's incarnation at most once.
  auto finish = [this, from, sender_generation, once](core::Result<Message> result) {
    if (!*once) return;
    auto done = std::exchange(*once, nullptr);
    if (!node(from).alive() || node(from).generation() != sender_generation) return;
    done(std::move(result));
  };
  at(timeout, [finish] { finish(core::make_error(core::ErrorCode::kIo, "no answer in time")); });
  const auto target = index_of(to);
  if (!target || !node(*target).alive() || !linked(from, *target)) return;
  const size_t t = *target;
  const uint64_t target_generation = node(t).generation();
  core::Bytes bytes = encode_message(message);
  const crypto::NodeId sender = node(from).id();
  at(options_.latency, [this, t, target_generation, sender, from, bytes, finish] {
    if (!node(t).alive() || node(t).generation() != target_generation || !linked(from, t)) return;
    auto decoded = decode_message(bytes);
    ASSERT_TRUE(decoded) << decoded.error().message();
    node(t).deliver(sender, std::move(*decoded), [this, from, t, finish](Message reply) {
      core::Bytes answer = encode_message(reply);
      at(options_.latency, [this, from, t, answer, finish] {
        if (!linked(from, t)) return;
        auto decoded = decode_message(answer);
        ASSERT_TRUE(decoded) << decoded.error().message();
        finish(std::move(*decoded));
      });
    });
  });
}

void Simulation::publish_advert(size_t i, const NodeAdvert& advert) {
  // Through the codec, as the DHT would carry it.
  auto decoded = decode_advert(encode_advert(advert));
  ASSERT_TRUE(decoded) << decoded.error().message();
  adverts_[i] = AdvertEntry{*decoded, now_};
}

std::vector<NodeView> Simulation::live_views() const {
  std::vector<NodeView> out;
  for (const auto& [i, entry] : adverts_) {
    if (now_ - entry.written > options_.advert_ttl) continue;
    NodeView view;
    view.id = nodes_[i]->id();
    view.advert = entry.advert;
    view.load = entry.advert.load;
    out.push_back(view);
  }
  return out;
}

std::vector<crypto::NodeId> Simulation::live_ids() const {
  std::vector<crypto::NodeId> out;
  for (const NodeView& view : live_views()) out.push_back(view.id);
  return out;
}

bool Simulation::all_terminal() const {
  for (const auto& [name, entry] : store_.jobs) {
    // A job whose first record is not written yet has no tasks.
    if (entry.record.tasks.empty() || !is_terminal(job_state(entry.record.tasks))) return false;
  }
  return true;
}

void Simulation::check_invariants(int max_commits) const {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  for (const auto& [name, entry] : store_.jobs) {
    const JobRecord& job = entry.record;
    for (const TaskRecord& task : job.tasks) {
      EXPECT_LE(task.attempts.size(), job.retries + 1u) << name << " task " << task.index;
      const auto commits = store_.commits.find({name, task.index});
      const int count = commits == store_.commits.end() ? 0 : commits->second;
      EXPECT_LE(count, max_commits) << name << " task " << task.index;
      if (task.state == TaskState::kSucceeded) {
        EXPECT_TRUE(task.committed) << name << " task " << task.index;
        EXPECT_GE(count, 1) << name << " task " << task.index;
      } else if (is_terminal(task.state)) {
        EXPECT_FALSE(task.committed) << name << " task " << task.index;
      }
    }
  }
}

// ---- SimNode ----

SimNode::SimNode(Simulation& sim, size_t index, crypto::NodeId id)
    : sim_(sim), index_(index), id_(id) {}

void SimNode::later(Duration delay, std::function<void()> f) {
  sim_.at(delay, [this, generation = generation_, f = std::move(f)] {
    if (alive_ && generation_ == generation) f();
  });
}

void SimNode::kill() {
  alive_ = false;
  ++generation_;
  coordinator_.reset();
  worker_.reset();
  sandboxes_.clear();
}

void SimNode::start() {
  if (alive_) return;
  alive_ = true;
  ++generation_;
  const Simulation::Options& o = sim_.options();
  coordinator_ = std::make_unique<Coordinator>(id_, Principal{id_, {}, {}}, o.coordinator, *this);
  WorkerOptions worker;
  worker.cpus = o.cpus;
  worker.memory = uint64_t{1} << 30;
  worker.queue_depth = o.queue_depth;
  worker.name = "node" + std::to_string(index_);
  worker.accepts_jobs = !o.no_jobs.count(index_);
  worker_ = std::make_unique<Worker>(id_, worker, *this, *this);
  // Resume the jobs this node coordinated before it went down.
  for (const auto& [name, entry] : sim_.store().jobs) {
    if (entry.record.coordinator != id_ || is_terminal(job_state(entry.record.tasks))) continue;
    auto spec = parse_spec(entry.spec_text, name);
    ASSERT_TRUE(spec);
    ASSERT_TRUE(coordinator_->adopt(entry.record, *spec, entry.spec_text, sim_.now()));
  }
  advertise();
  later(50ms, [this] { tick(); });
  later(sim_.options().scan_interval, [this] { scan(); });
}

void SimNode::tick() {
  coordinator_->on_timer(sim_.now());
  worker_->on_timer(sim_.now());
  later(50ms, [this] { tick(); });
}

void SimNode::advertise() {
  NodeAdvert advert;
  advert.name = "node" + std::to_string(index_);
  advert.cpus = sim_.options().cpus;
  advert.memory = uint64_t{1} << 30;
  advert.runtimes = {RuntimeKind::kBubblewrap};
  advert.mounted = true;
  advert.queue_depth = sim_.options().queue_depth;
  advert.accepts_jobs = !sim_.options().no_jobs.count(index_);
  advert.load = worker_->load();
  advert.wall_ms = wall_ms();
  sim_.publish_advert(index_, advert);
  coordinator_->on_nodes(sim_.live_views(), sim_.now());
  later(sim_.options().advert_interval, [this] { advertise(); });
}

void SimNode::scan() {
  const std::vector<crypto::NodeId> live = sim_.live_ids();
  for (const auto& [name, entry] : sim_.store().jobs) {
    if (coordinator_->holds(name) || !should_adopt(entry.record, id_, live)) continue;
    auto spec = parse_spec(entry.spec_text, name);
    ASSERT_TRUE(spec);
    ASSERT_TRUE(coordinator_->adopt(entry.record, *spec, entry.spec_text, sim_.now()));
  }
  later(sim_.options().scan_interval, [this] { scan(); });
}

void SimNode::deliver(const crypto::NodeId& from, Message message,
                      std::function<void(Message)> reply) {
  const bool for_worker = std::holds_alternative<Offer>(message) ||
                          std::holds_alternative<Cancel>(message) ||
                          std::holds_alternative<Probe>(message);
  if (for_worker) {
    worker_->on_message(Principal{from, {}, {}}, std::move(message), std::move(reply), sim_.now());
  } else {
    coordinator_->on_message(from, std::move(message), std::move(reply), sim_.now());
  }
}

int64_t SimNode::wall_ms() {
  return kEpochMs +
         std::chrono::duration_cast<std::chrono::milliseconds>(sim_.now().time_since_epoch())
             .count();
}

void SimNode::send(const crypto::NodeId& to, Message message, Duration timeout,
                   std::function<void(core::Result<Message>)> done) {
  sim_.send(index_, to, std::move(message), timeout, std::move(done));
}

void SimNode::persist(const JobRecord& job, std::vector<std::string> events) {
  // The host writes the folder a moment later; a node that dies before loses the write.
  later(5ms, [this, job, events = std::move(events)] {
    Store::Entry& entry = sim_.store().jobs[job.name];
    entry.record = job;
    entry.events.insert(entry.events.end(), events.begin(), events.end());
  });
}

void SimNode::locate_inputs(
    const JobRecord&, const JobSpec&,
    std::function<void(std::map<crypto::NodeId, uint64_t>, uint64_t)> done) {
  later(1ms, [done = std::move(done)] { done({}, 0); });
}

void SimNode::discard_staged(const std::string& path) { sim_.store().discarded.push_back(path); }

void SimNode::commit_outputs(const JobRecord& job, const JobSpec&, uint32_t task,
                             const std::string&, std::function<void(core::Status)> done) {
  later(5ms, [this, name = job.name, task, done = std::move(done)] {
    ++sim_.store().commits[{name, task}];
    done(core::ok());
  });
}

void SimNode::prepare(const AttemptRef&, const JobSpec& spec, bool,
                      std::function<void(core::Result<SandboxSpec>)> done) {
  SandboxSpec sandbox;
  sandbox.argv = spec.command;
  later(1ms, [sandbox, done = std::move(done)] { done(sandbox); });
}

void SimNode::finish(const AttemptRef& attempt, const JobSpec& spec, bool, bool stage,
                     std::function<void(core::Result<std::string>)> done) {
  std::string staged;
  if (stage && !spec.outputs.empty()) {
    staged = layout::staging_folder(attempt.key.job, attempt.key.task, attempt.attempt);
  }
  later(2ms, [staged, done = std::move(done)] { done(staged); });
}

core::Result<SandboxRunner::SandboxId> SimNode::start(SandboxSpec spec, Done done) {
  if (spec.argv.size() != 3 || spec.argv[0] != "sim") {
    return core::make_error(core::ErrorCode::kInvalidArgument, "not a simulated command");
  }
  const SandboxId id = next_sandbox_++;
  sandboxes_[id] = Sandbox{std::move(done)};
  ++sim_.started[index_];
  const int run_ms = std::stoi(spec.argv[1]);
  const int exit_code = std::stoi(spec.argv[2]);
  later(std::chrono::milliseconds(run_ms), [this, id, exit_code, run_ms] {
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end() || it->second.ending) return;
    Done done = std::move(it->second.done);
    sandboxes_.erase(it);
    SandboxResult result;
    result.outcome = SandboxOutcome::kExited;
    result.exit_code = exit_code;
    result.usage.wall = std::chrono::milliseconds(run_ms);
    done(result);
  });
  return id;
}

void SimNode::cancel(SandboxId id) {
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end() || it->second.ending) return;
  it->second.ending = true;
  ++sim_.cancelled[index_];
  later(10ms, [this, id] {
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return;
    Done done = std::move(it->second.done);
    sandboxes_.erase(it);
    SandboxResult result;
    result.outcome = SandboxOutcome::kCancelled;
    result.reason = "cancelled";
    done(result);
  });
}

}  // namespace synapse::compute::sim
