// The jobs state machine in the simulator (job_sim.h): many nodes, worker and coordinator
// deaths, restarts, partitions, cancels and retries, each run from a seed. A failing run
// prints its seed; SYNAPSE_SIM_SEED=<seed> replays it.
#include "job_sim.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace synapse::compute::sim {
namespace {

uint64_t seed_or(uint64_t fallback) {
  const char* text = std::getenv("SYNAPSE_SIM_SEED");
  return text ? std::strtoull(text, nullptr, 10) : fallback;
}

const JobRecord& record(Simulation& sim, const std::string& name) {
  return sim.store().jobs.at(name).record;
}

TaskState state_of(Simulation& sim, const std::string& name) {
  return job_state(record(sim, name).tasks);
}

bool terminal(Simulation& sim, const std::string& name) {
  return sim.store().jobs.count(name) && !record(sim, name).tasks.empty() &&
         is_terminal(state_of(sim, name));
}

// The node running (or last given) a single-task job.
std::optional<size_t> worker_of(Simulation& sim, const std::string& name) {
  const auto& tasks = record(sim, name).tasks;
  if (tasks.empty() || tasks[0].attempts.empty()) return std::nullopt;
  return sim.index_of(tasks[0].attempts.back().node);
}

TEST(JobSimulation, EveryJobOnThreeNodesSucceedsOnceWithOneAttempt) {
  const uint64_t seed = seed_or(1);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation sim(seed, {});
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) {
    names.push_back("job" + std::to_string(i));
    sim.submit(i % 3, names.back(), sim_spec(100 + 17 * i));
  }
  sim.submit(0, "array", sim_spec(200, 0, 2, 7));
  names.push_back("array");
  ASSERT_TRUE(sim.run_until(
      [&] {
        return std::all_of(names.begin(), names.end(), [&](auto& n) { return terminal(sim, n); });
      },
      120s));
  for (const std::string& name : names) {
    EXPECT_EQ(state_of(sim, name), TaskState::kSucceeded) << name;
    for (const TaskRecord& task : record(sim, name).tasks) {
      EXPECT_EQ(task.attempts.size(), 1u) << name;
      EXPECT_EQ(task.exit_code, 0) << name;
    }
  }
  EXPECT_EQ(record(sim, "array").tasks.size(), 7u);
  // Every node ran some of the work.
  for (size_t i = 0; i < sim.size(); ++i) EXPECT_GT(sim.started[i], 0) << "node " << i;
  sim.check_invariants();
}

TEST(JobSimulation, AJobWhoseWorkerDiesIsRescheduledAfterTheLeaseAndSucceeds) {
  const uint64_t seed = seed_or(2);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  sim.submit(0, "long", sim_spec(20'000));
  ASSERT_TRUE(sim.run_until([&] { return state_of(sim, "long") == TaskState::kRunning; }, 10s));
  const size_t first = *worker_of(sim, "long");
  ASSERT_NE(first, 0u);
  const core::MonoTime killed = sim.now();
  sim.kill(first);
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "long"); }, 120s));
  EXPECT_EQ(state_of(sim, "long"), TaskState::kSucceeded);
  const TaskRecord& task = record(sim, "long").tasks[0];
  ASSERT_EQ(task.attempts.size(), 2u);
  EXPECT_EQ(task.attempts[0].outcome, "lost");
  EXPECT_NE(task.attempts[0].reason.find("no heartbeat"), std::string::npos)
      << task.attempts[0].reason;
  EXPECT_NE(*sim.index_of(task.attempts[1].node), first);
  // Rescheduled only once the lease ran out, then ran its 20 s again.
  EXPECT_GE(sim.now() - killed, sim.options().coordinator.worker_lease + 20s);
  const auto& events = sim.store().jobs.at("long").events;
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const std::string& line) {
    return line.find("lost") != std::string::npos && line.find("retrying") != std::string::npos;
  }));
  sim.check_invariants();
}

TEST(JobSimulation, LostAttemptsBeyondTheRetriesFailTheJob) {
  const uint64_t seed = seed_or(3);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  sim.submit(0, "fragile", sim_spec(30'000, 0, /*retries=*/0));
  ASSERT_TRUE(sim.run_until([&] { return state_of(sim, "fragile") == TaskState::kRunning; }, 10s));
  sim.kill(*worker_of(sim, "fragile"));
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "fragile"); }, 60s));
  EXPECT_EQ(state_of(sim, "fragile"), TaskState::kFailed);
  const TaskRecord& task = record(sim, "fragile").tasks[0];
  EXPECT_EQ(task.attempts.size(), 1u);
  EXPECT_NE(task.reason.find("gave up after 1 attempts"), std::string::npos) << task.reason;
  sim.check_invariants();
}

TEST(JobSimulation, ACoordinatorThatDiesHandsItsJobsToTheClosestLiveNode) {
  const uint64_t seed = seed_or(4);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.nodes = 4;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  std::vector<std::string> names;
  // 3 workers x 2 CPUs x (1 running + 2 queued): more jobs than run at once.
  for (int i = 0; i < 12; ++i) {
    names.push_back("j" + std::to_string(i));
    sim.submit(0, names.back(), sim_spec(5'000));
  }
  sim.run_for(1s);
  sim.kill(0);
  ASSERT_TRUE(sim.run_until(
      [&] {
        return std::all_of(names.begin(), names.end(), [&](auto& n) { return terminal(sim, n); });
      },
      300s));
  std::set<crypto::NodeId> coordinators;
  for (const std::string& name : names) {
    const JobRecord& job = record(sim, name);
    EXPECT_EQ(job_state(job.tasks), TaskState::kSucceeded) << name;
    EXPECT_NE(job.coordinator, sim.node(0).id()) << name;
    EXPECT_EQ(job.epoch, 2u) << name;
    // Each job went to the live node closest to its key.
    EXPECT_EQ(job.coordinator, closest_node(job_key(job.name, job.instance),
                                            {sim.node(1).id(), sim.node(2).id(), sim.node(3).id()}))
        << name;
    coordinators.insert(job.coordinator);
  }
  // Tasks that were running when the coordinator died were adopted, not run again.
  int adopted_without_rerun = 0;
  for (const std::string& name : names) {
    adopted_without_rerun += record(sim, name).tasks[0].attempts.size() == 1;
  }
  EXPECT_GE(adopted_without_rerun, 6);
  sim.check_invariants();
}

TEST(JobSimulation, ARestartedCoordinatorResumesItsOwnJobs) {
  const uint64_t seed = seed_or(5);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  for (int i = 0; i < 6; ++i) sim.submit(0, "r" + std::to_string(i), sim_spec(3'000));
  sim.run_for(1s);
  sim.kill(0);
  sim.run_for(500ms);
  sim.restart(0);
  ASSERT_TRUE(sim.run_until([&] { return sim.all_terminal(); }, 120s));
  for (int i = 0; i < 6; ++i) {
    const JobRecord& job = record(sim, "r" + std::to_string(i));
    EXPECT_EQ(job_state(job.tasks), TaskState::kSucceeded);
    EXPECT_EQ(job.coordinator, sim.node(0).id());
    EXPECT_EQ(job.epoch, 2u);
  }
  sim.check_invariants();
}

TEST(JobSimulation, CancelStopsRunningAndQueuedTasksAndCommitsNothing) {
  const uint64_t seed = seed_or(6);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  sim.submit(0, "big", sim_spec(60'000, 0, 2, 10));
  sim.run_for(2s);
  int running = 0;
  for (const TaskRecord& task : record(sim, "big").tasks)
    running += task.state == TaskState::kRunning;
  EXPECT_EQ(running, 4);  // 2 workers x 2 CPUs
  ASSERT_TRUE(sim.node(0).coordinator().cancel("big", "cancelled by a test", sim.now()));
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "big"); }, 10s));
  EXPECT_EQ(state_of(sim, "big"), TaskState::kCancelled);
  for (const TaskRecord& task : record(sim, "big").tasks) {
    EXPECT_EQ(task.state, TaskState::kCancelled);
    EXPECT_EQ(task.reason, "cancelled by a test");
  }
  EXPECT_EQ(sim.cancelled[1] + sim.cancelled[2], running);
  EXPECT_TRUE(sim.store().commits.empty());
  // Nothing keeps running anywhere.
  sim.run_for(5s);
  for (size_t i = 0; i < sim.size(); ++i) EXPECT_EQ(sim.node(i).running(), 0u);
  sim.check_invariants();
}

TEST(JobSimulation, ACommandThatFailsEndsFailedWithItsExitCodeAndIsNotRetried) {
  Simulation sim(seed_or(7), {});
  sim.submit(1, "bad", sim_spec(100, 3));
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "bad"); }, 30s));
  const TaskRecord& task = record(sim, "bad").tasks[0];
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_EQ(task.exit_code, 3);
  EXPECT_EQ(task.reason, "exited with 3");
  EXPECT_EQ(task.attempts.size(), 1u);
  uint64_t started = 0, nonzero = 0, succeeded = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    const WorkerStats& stats = sim.node(i).worker().stats();
    started += stats.started;
    nonzero += stats.exited_nonzero;
    succeeded += stats.succeeded;
  }
  EXPECT_EQ(started, 1u);
  EXPECT_EQ(nonzero, 1u);
  EXPECT_EQ(succeeded, 0u);
  EXPECT_EQ(sim.node(1).coordinator().ended_jobs()[static_cast<size_t>(TaskState::kFailed)], 1u);
  sim.check_invariants();
}

TEST(JobSimulation, AQueuedJobSaysWhyItWaitsUntilNoNodeCanRunItIsFinal) {
  Simulation sim(seed_or(8), {});
  std::string spec = sim_spec(100);
  const std::string small = "memory = \"64M\"";
  spec.replace(spec.find(small), small.size(), "memory = \"64G\"");
  sim.submit(1, "huge", spec);
  ASSERT_TRUE(sim.run_until(
      [&] { return sim.store().jobs.count("huge") && !record(sim, "huge").tasks.empty(); }, 10s));
  sim.run_for(5s);
  const TaskRecord& waiting = record(sim, "huge").tasks[0];
  EXPECT_EQ(waiting.state, TaskState::kQueued);
  EXPECT_EQ(waiting.reason.rfind("no node can run it (", 0), 0u) << waiting.reason;
  EXPECT_NE(waiting.reason.find("needs 64.0 GiB"), std::string::npos) << waiting.reason;
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "huge"); }, 60s));
  EXPECT_EQ(record(sim, "huge").tasks[0].state, TaskState::kRejected);
  sim.check_invariants();
}

TEST(JobSimulation, AReportNamingOutputsOutsideItsStagingFolderFailsTheAttemptAndTouchesNothing) {
  Simulation sim(seed_or(9), {});
  sim.submit(0, "victim", sim_spec(20'000));
  ASSERT_TRUE(sim.run_until([&] { return state_of(sim, "victim") == TaskState::kRunning; }, 10s));
  const JobRecord& running = record(sim, "victim");
  const size_t worker = *worker_of(sim, "victim");
  Finished forged;
  forged.attempt =
      AttemptRef{TaskKey{"victim", running.instance, 0}, running.tasks[0].attempts.back().number};
  forged.outcome = TaskState::kSucceeded;
  forged.exit_code = 0;
  forged.staged = "datasets";  // someone else's folder, not jobs/victim/.staging/0.<attempt>
  bool acked = false;
  sim.node(0).coordinator().on_message(
      sim.node(worker).id(), forged, [&](Message) { acked = true; }, sim.now());
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "victim"); }, 10s));
  EXPECT_TRUE(acked);
  const TaskRecord& task = record(sim, "victim").tasks[0];
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_NE(task.reason.find("outside the attempt's staging folder"), std::string::npos)
      << task.reason;
  EXPECT_FALSE(task.committed);
  EXPECT_EQ(sim.store().commits.count({"victim", 0}), 0u);
  const auto& discarded = sim.store().discarded;
  EXPECT_EQ(std::count(discarded.begin(), discarded.end(), "datasets"), 0);
  sim.check_invariants();
}

TEST(JobSimulation, TheTasksOfTwoSubmittersAreServedInTurn) {
  Simulation::Options options;
  options.nodes = 2;
  options.cpus = 1;
  options.queue_depth = 0;
  options.no_jobs = {0};
  Simulation sim(seed_or(8), options);
  for (int i = 0; i < 10; ++i) sim.submit(0, "a" + std::to_string(i), sim_spec(1'000), "alice");
  for (int i = 0; i < 3; ++i) sim.submit(0, "b" + std::to_string(i), sim_spec(1'000), "bob");
  ASSERT_TRUE(sim.run_until([&] { return sim.all_terminal(); }, 120s));
  std::vector<std::pair<int64_t, std::string>> starts;
  for (const auto& [name, entry] : sim.store().jobs) {
    starts.emplace_back(entry.record.tasks[0].attempts[0].started_ms, entry.record.user);
  }
  std::sort(starts.begin(), starts.end());
  // Bob's three jobs start among the first six, alternating with Alice's.
  int bob_in_first_six = 0;
  for (size_t i = 0; i < 6; ++i) bob_in_first_six += starts[i].second == "bob";
  EXPECT_EQ(bob_in_first_six, 3);
  sim.check_invariants();
}

TEST(JobSimulation, AWorkerCutOffFromItsCoordinatorIsReplacedAndItsLateResultIgnored) {
  const uint64_t seed = seed_or(9);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Simulation::Options options;
  options.no_jobs = {0};
  Simulation sim(seed, options);
  sim.submit(0, "cut", sim_spec(15'000));
  ASSERT_TRUE(sim.run_until([&] { return state_of(sim, "cut") == TaskState::kRunning; }, 10s));
  const size_t first = *worker_of(sim, "cut");
  sim.cut(0, first);
  ASSERT_TRUE(sim.run_until([&] { return record(sim, "cut").tasks[0].attempts.size() == 2; }, 60s));
  sim.heal(0, first);
  ASSERT_TRUE(sim.run_until([&] { return terminal(sim, "cut"); }, 120s));
  EXPECT_EQ(state_of(sim, "cut"), TaskState::kSucceeded);
  // The first worker finished too, but only the second attempt was committed.
  sim.run_for(30s);
  EXPECT_EQ((sim.store().commits[{"cut", 0}]), 1);
  EXPECT_EQ(sim.node(first).worker().tasks().size(), 0u);
  sim.check_invariants();
}

TEST(JobSimulation, RandomKillsRestartsAndCutsEndWithEveryJobTerminalAndCommittedOnce) {
  for (uint64_t seed : {seed_or(100), uint64_t{101}, uint64_t{102}, uint64_t{103}}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Simulation::Options options;
    options.nodes = 5;
    Simulation sim(seed, options);
    core::SeededRng& rng = sim.rng();
    std::vector<std::string> names;
    for (int i = 0; i < 40; ++i) {
      names.push_back("c" + std::to_string(i));
      const int run_ms = 200 + static_cast<int>(rng.next() % 8000);
      const uint32_t array = rng.next() % 5 == 0 ? 3 : 0;
      sim.submit(rng.next() % options.nodes, names.back(), sim_spec(run_ms, 0, 5, array));
    }
    // A minute of trouble: every few seconds a node dies, comes back, or a link is cut.
    for (int step = 0; step < 20; ++step) {
      sim.run_for(std::chrono::milliseconds(1000 + rng.next() % 3000));
      const size_t a = rng.next() % options.nodes, b = rng.next() % options.nodes;
      switch (rng.next() % 4) {
        case 0:
          sim.kill(a);
          break;
        case 1:
          sim.restart(a);
          break;
        case 2:
          sim.cut(a, b);
          break;
        default:
          sim.heal(a, b);
      }
    }
    for (size_t i = 0; i < options.nodes; ++i) {
      sim.restart(i);
      for (size_t j = 0; j < options.nodes; ++j) sim.heal(i, j);
    }
    ASSERT_TRUE(sim.run_until([&] { return sim.all_terminal(); }, 600s));
    for (const std::string& name : names) {
      EXPECT_EQ(state_of(sim, name), TaskState::kSucceeded)
          << name << ": " << record(sim, name).tasks[0].reason;
    }
    // A coordinator that dies between a commit and its record may let a rerun commit again
    // (replacing the outputs with the rerun's): at most once per coordinator death.
    sim.check_invariants(/*max_commits=*/3);
  }
}

}  // namespace
}  // namespace synapse::compute::sim
