// bench/dht_sim: lookups in a simulated Kademlia network (tests/dht/sim, docs/dht.md).
//
//   dht_sim --nodes N --lookups L --seed S [--dead-fraction F] [--churn C] [--loss P]
//
// Grows a network of N nodes (each joins through a random node that already joined), lets it
// settle for 10 s of virtual time, kills a fraction F of the nodes without notice, then runs L
// find-node lookups for random targets from random live nodes, one every 10 ms of virtual
// time. With --churn C, a fraction C of the nodes is replaced per virtual minute while the
// lookups run (a random live node dies silently, a fresh one joins); --loss P drops each
// message with probability P. A lookup succeeds when the closest node it returns is the
// closest other live node (the simulator's global view) when it starts or ends. Hops are
// Lookup::hops(): request rounds until the closest node was known; messages are the requests
// one lookup sent. The last line of output is one JSON object.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dht/sim/simulator.h"

namespace {

using namespace std::chrono_literals;
using synapse::dht::sim::quantile;
using synapse::dht::sim::SimOptions;
using synapse::dht::sim::Simulator;

struct Args {
  size_t nodes = 1000;
  size_t lookups = 1000;
  uint64_t seed = 1;
  double dead_fraction = 0;
  double churn = 0;
  double loss = 0;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: dht_sim --nodes N --lookups L --seed S [--dead-fraction F] [--churn C] "
               "[--loss P]\n"
               "  F: fraction of nodes killed silently before the lookups (0 <= F < 1)\n"
               "  C: fraction of nodes replaced per virtual minute during the lookups\n"
               "  P: probability that one message is lost (0 <= P < 1)\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (std::strcmp(argv[i], "--nodes") == 0) {
      args.nodes = std::strtoull(value(), nullptr, 10);
    } else if (std::strcmp(argv[i], "--lookups") == 0) {
      args.lookups = std::strtoull(value(), nullptr, 10);
    } else if (std::strcmp(argv[i], "--seed") == 0) {
      args.seed = std::strtoull(value(), nullptr, 0);
    } else if (std::strcmp(argv[i], "--dead-fraction") == 0) {
      args.dead_fraction = std::strtod(value(), nullptr);
    } else if (std::strcmp(argv[i], "--churn") == 0) {
      args.churn = std::strtod(value(), nullptr);
    } else if (std::strcmp(argv[i], "--loss") == 0) {
      args.loss = std::strtod(value(), nullptr);
    } else {
      usage();
    }
  }
  if (args.nodes < 2 || !(args.dead_fraction >= 0 && args.dead_fraction < 1) ||
      !(args.churn >= 0) || !(args.loss >= 0 && args.loss < 1)) {
    usage();
  }
  return args;
}

double seconds(synapse::core::Duration d) { return std::chrono::duration<double>(d).count(); }

double wall_since(std::chrono::steady_clock::time_point start) {
  return seconds(std::chrono::steady_clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const auto wall_start = std::chrono::steady_clock::now();

  SimOptions options;
  options.seed = args.seed;
  options.loss = args.loss;
  Simulator sim(options);

  const size_t joined = sim.grow(args.nodes, 1ms);
  sim.run_for(10s);
  std::printf("seed %llu: %zu/%zu nodes joined in %.1f s virtual, %.2f s wall, %llu messages\n",
              static_cast<unsigned long long>(args.seed), joined, args.nodes,
              seconds(sim.now().time_since_epoch()), wall_since(wall_start),
              static_cast<unsigned long long>(sim.stats().sent));

  const auto dead = static_cast<size_t>(args.dead_fraction * static_cast<double>(args.nodes));
  for (size_t killed = 0; killed < dead;) {
    const size_t index = sim.uniform(sim.size());
    if (sim.alive(index)) {
      sim.kill(index);
      ++killed;
    }
  }
  const auto spacing = 10ms;
  if (args.churn > 0) {
    synapse::dht::sim::schedule_churn(sim, args.churn, args.nodes,
                                      spacing * static_cast<int64_t>(args.lookups) + 5s);
  }
  const auto lookups_start = std::chrono::steady_clock::now();
  const uint64_t sent_before = sim.stats().sent;
  const auto report = synapse::dht::sim::run_lookups(sim, args.lookups, spacing);

  std::printf(
      "%zu lookups, %zu completed, %zu found the closest node; hops p50 %.0f p99 %.0f "
      "max %.0f; requests p50 %.0f p99 %.0f\n",
      report.lookups, report.completed, report.successes, quantile(report.hops, 0.5),
      quantile(report.hops, 0.99), quantile(report.hops, 1.0), quantile(report.messages, 0.5),
      quantile(report.messages, 0.99));
  const auto& stats = sim.stats();
  std::printf(
      "lookup phase: %llu messages, %.2f s wall; total: %llu sent, %llu lost, %llu to dead "
      "nodes, %llu events, %.1f s virtual, %.2f s wall\n",
      static_cast<unsigned long long>(stats.sent - sent_before), wall_since(lookups_start),
      static_cast<unsigned long long>(stats.sent), static_cast<unsigned long long>(stats.lost),
      static_cast<unsigned long long>(stats.to_dead), static_cast<unsigned long long>(stats.events),
      seconds(sim.now().time_since_epoch()), wall_since(wall_start));
  std::printf(
      "{\"bench\":\"dht_sim\",\"nodes\":%zu,\"lookups\":%zu,\"success_rate\":%.4f,"
      "\"hops_p50\":%.0f,\"hops_p99\":%.0f,\"msgs_p50\":%.0f,\"dead_fraction\":%g}\n",
      args.nodes, args.lookups, report.success_rate(), quantile(report.hops, 0.5),
      quantile(report.hops, 0.99), quantile(report.messages, 0.5), args.dead_fraction);
  return 0;
}
