// Placement (scheduler.h) and the worker's admission of offers (worker.h), case by case.
#include "synapse/compute/scheduler.h"

#include <gtest/gtest.h>

#include "synapse/compute/worker.h"

namespace synapse::compute {
namespace {

crypto::NodeId node(uint8_t n) {
  std::array<uint8_t, 32> bytes{};
  bytes.fill(n);
  return crypto::NodeId(bytes);
}

JobSpec spec_of(const std::string& text) {
  auto spec = parse_spec(text, "job");
  EXPECT_TRUE(spec) << format_errors(spec.error());
  return spec.value_or(JobSpec{});
}

NodeView view(uint8_t n, uint32_t cpus, double free_cpus, uint32_t waiting = 0) {
  NodeView v;
  v.id = node(n);
  v.advert.name = "node" + std::to_string(n);
  v.advert.cpus = cpus;
  v.advert.memory = uint64_t{8} << 30;
  v.advert.runtimes = {RuntimeKind::kBubblewrap};
  v.advert.mounted = true;
  v.advert.queue_depth = 2;
  v.load = Load{free_cpus, uint64_t{8} << 30, 0, 0, waiting};
  return v;
}

const Principal kAlice{node(99), "alice", {"gpu", "student"}};

TEST(Policy, AdmitsByNodeNameOrRoleAndEveryoneWhenEmpty) {
  EXPECT_TRUE(policy_admits({}, kAlice));
  EXPECT_TRUE(policy_admits({"*"}, kAlice));
  EXPECT_TRUE(policy_admits({"name:alice"}, kAlice));
  EXPECT_TRUE(policy_admits({"role:gpu"}, kAlice));
  EXPECT_TRUE(policy_admits({"node:6363"}, kAlice));  // node(99) is 0x63 bytes
  EXPECT_FALSE(policy_admits({"name:bob", "role:staff", "node:0000"}, kAlice));
  EXPECT_FALSE(policy_admits({"name:"}, Principal{node(1), "", {}}));
  EXPECT_FALSE(policy_admits({"node:"}, kAlice));
}

TEST(Scheduler, UnfitReasonsNameWhatIsMissing) {
  NodeView small = view(1, 2, 2);
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\n[resources]\ncpus = 4\n"), small, kAlice),
            "has 2 CPUs, needs 4");
  EXPECT_EQ(
      unfit_reason(spec_of("command = [\"true\"]\n[resources]\nmemory = \"64G\"\n"), small, kAlice),
      "has 8.0 GiB for jobs, needs 64.0 GiB");
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\n[resources]\ngpus = 1\n"), small, kAlice),
            "has 0 GPUs, needs 1");
  EXPECT_EQ(
      unfit_reason(spec_of("command = [\"true\"]\nimage = \"docker://alpine\"\n"), small, kAlice),
      "lacks the docker runtime");
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\n[placement]\nlabels = [\"ssd\"]\n"), small,
                         kAlice),
            "lacks the label ssd");
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\n[placement]\nnodes = [\"node7\"]\n"), small,
                         kAlice),
            "is not among placement.nodes");
  EXPECT_FALSE(unfit_reason(spec_of("command = [\"true\"]\n[placement]\nnodes = [\"node1\"]\n"),
                            small, kAlice));
  EXPECT_FALSE(unfit_reason(spec_of("command = [\"true\"]\n[placement]\nnodes = [\"0101\"]\n"),
                            small, kAlice));
  NodeView closed = small;
  closed.advert.allow = {"role:staff"};
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\n"), closed, kAlice),
            "its policy does not admit this node");
  NodeView unmounted = small;
  unmounted.advert.mounted = false;
  EXPECT_EQ(unfit_reason(spec_of("command = [\"true\"]\ninputs = { \"/in\" = \"/synapse/d\" }\n"),
                         unmounted, kAlice),
            "has no mount to bind inputs from");
}

TEST(Scheduler, RanksHoldersOfTheInputFirstThenFreeCapacity) {
  const JobSpec spec = spec_of("command = [\"true\"]\n");
  const std::vector<NodeView> nodes = {view(1, 4, 4), view(2, 4, 1), view(3, 4, 3)};
  auto ranked = rank_nodes(spec, nodes, kAlice, {}, 0, node(0));
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].node, node(1));
  EXPECT_EQ(ranked[1].node, node(3));
  EXPECT_EQ(ranked[2].node, node(2));
  // Node 2 holds all of the input: it wins despite its load.
  ranked = rank_nodes(spec, nodes, kAlice, {{node(2), 1000}, {node(3), 10}}, 1000, node(0));
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].node, node(2));
}

TEST(Scheduler, NodesWithoutRoomAreLeftOutAndTiesSpreadByTheTask) {
  const JobSpec spec = spec_of("command = [\"true\"]\n");
  NodeView full = view(1, 2, 0, /*waiting=*/2);
  EXPECT_FALSE(has_room(spec, full));
  NodeView queueable = view(2, 2, 0, /*waiting=*/1);
  EXPECT_TRUE(has_room(spec, queueable));
  queueable.outstanding = 1;
  EXPECT_FALSE(has_room(spec, queueable));
  EXPECT_TRUE(rank_nodes(spec, {full}, kAlice, {}, 0, node(0)).empty());
  // Equal nodes: the one closest to the spread key first.
  const std::vector<NodeView> twins = {view(0x10, 2, 2), view(0xf0, 2, 2)};
  EXPECT_EQ(rank_nodes(spec, twins, kAlice, {}, 0, node(0x11)).front().node, node(0x10));
  EXPECT_EQ(rank_nodes(spec, twins, kAlice, {}, 0, node(0xf1)).front().node, node(0xf0));
}

TEST(Scheduler, RuntimesArePickedByImageAndSpec) {
  const std::vector<RuntimeKind> all = {RuntimeKind::kBubblewrap, RuntimeKind::kOci,
                                        RuntimeKind::kPodman};
  EXPECT_EQ(pick_runtime(spec_of("command = [\"true\"]\n"), all), RuntimeKind::kBubblewrap);
  EXPECT_EQ(pick_runtime(spec_of("command = [\"true\"]\nruntime = \"oci\"\n"), all),
            RuntimeKind::kOci);
  EXPECT_EQ(pick_runtime(spec_of("command = [\"true\"]\nimage = \"docker://alpine\"\n"), all),
            RuntimeKind::kPodman);
  EXPECT_FALSE(pick_runtime(spec_of("command = [\"true\"]\nruntime = \"docker\"\nimage = "
                                    "\"docker://alpine\"\n"),
                            all));
  EXPECT_EQ(pick_runtime(spec_of("command = [\"true\"]\n"), {RuntimeKind::kOci}),
            RuntimeKind::kOci);
}

TEST(Scheduler, TheClosestLiveNodeTakesOverAJob) {
  const crypto::NodeId key = job_key("wc", 5);
  EXPECT_NE(key, job_key("wc", 6));
  EXPECT_NE(key, job_key("wd", 5));
  const std::vector<crypto::NodeId> live = {node(1), node(2), node(3)};
  const auto closest = closest_node(key, live);
  ASSERT_TRUE(closest);
  for (const auto& other : live) {
    for (size_t i = 0; i < 32; ++i) {
      const uint8_t a = closest->bytes()[i] ^ key.bytes()[i], b = other.bytes()[i] ^ key.bytes()[i];
      if (a != b) {
        EXPECT_LT(a, b);
        break;
      }
    }
  }
  EXPECT_FALSE(closest_node(key, {}));
}

// ---- The worker's admission, with a runner that never runs anything ----

class IdleRunner final : public SandboxRunner {
 public:
  std::vector<RuntimeKind> runtimes() const override { return {RuntimeKind::kBubblewrap}; }
  core::Result<SandboxId> start(SandboxSpec, Done) override { return ++started; }
  void cancel(SandboxId) override {}
  std::optional<ResourceUsage> usage(SandboxId) const override { return std::nullopt; }
  size_t running() const override { return 0; }
  void close(std::function<void()> done) override { done(); }
  SandboxId started = 0;
};

// Prepares nothing (never answers): accepted tasks stay where the test looks at them.
class QuietIo final : public WorkerIo {
 public:
  int64_t wall_ms() override { return 1; }
  void send(const crypto::NodeId&, Message, core::Duration,
            std::function<void(core::Result<Message>)>) override {}
  void prepare(const AttemptRef& attempt, const JobSpec&, bool,
               std::function<void(core::Result<SandboxSpec>)>) override {
    prepared.push_back(attempt);
  }
  void ship_logs(const AttemptRef&, bool) override {}
  void finish(const AttemptRef&, const JobSpec&, bool, bool,
              std::function<void(core::Result<std::string>)>) override {}
  void cleanup(const AttemptRef&) override {}
  std::vector<AttemptRef> prepared;
};

OfferReply offer(Worker& worker, const Principal& from, const std::string& job,
                 const std::string& spec, const std::string& user = "alice") {
  OfferReply out;
  worker.on_message(
      from, Offer{TaskKey{job, 1, 0}, 1, 1, false, user, spec},
      [&](Message reply) { out = std::get<OfferReply>(reply); }, core::MonoTime{});
  return out;
}

TEST(Worker, AcceptsWhatFitsQueuesUpToItsDepthAndDeclinesTheRestWithAReason) {
  IdleRunner runner;
  QuietIo io;
  WorkerOptions options;
  options.cpus = 2;
  options.queue_depth = 1;
  Worker worker(node(5), options, io, runner);
  const std::string two = "command = [\"true\"]\n[resources]\ncpus = 2\n";
  EXPECT_TRUE(offer(worker, kAlice, "a", two).accepted);  // starts (prepares) at once
  ASSERT_EQ(io.prepared.size(), 1u);
  const OfferReply queued = offer(worker, kAlice, "b", two);
  EXPECT_TRUE(queued.accepted);
  EXPECT_EQ(queued.load.waiting, 1u);
  EXPECT_EQ(queued.load.cpus_free, 0);
  const OfferReply busy = offer(worker, kAlice, "c", two);
  EXPECT_FALSE(busy.accepted);
  EXPECT_EQ(busy.reason, "busy: 1 tasks already wait here");
  EXPECT_EQ(offer(worker, kAlice, "d", "command = [\"true\"]\n[resources]\ncpus = 3\n").reason,
            "this node has 2 CPUs, needs 3");
  EXPECT_EQ(
      offer(worker, kAlice, "e", "command = true\n").reason.rfind("its spec does not parse", 0),
      0u);
  // The same offer again (its reply was lost): accepted once, not twice.
  EXPECT_TRUE(offer(worker, kAlice, "b", two).accepted);
  EXPECT_EQ(worker.tasks().size(), 2u);
}

TEST(Worker, ItsPolicyDecidesWhoMayUseIt) {
  IdleRunner runner;
  QuietIo io;
  WorkerOptions options;
  options.allow = {"role:staff", "name:bob"};
  Worker worker(node(5), options, io, runner);
  EXPECT_EQ(offer(worker, kAlice, "a", "command = [\"true\"]\n").reason,
            "this node's policy does not admit alice");
  EXPECT_TRUE(offer(worker, Principal{node(7), "bob", {}}, "b", "command = [\"true\"]\n").accepted);
  WorkerOptions closed;
  closed.accepts_jobs = false;
  Worker off(node(6), closed, io, runner);
  EXPECT_EQ(offer(off, kAlice, "c", "command = [\"true\"]\n").reason,
            "this node does not run jobs");
}

}  // namespace
}  // namespace synapse::compute
