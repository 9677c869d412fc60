// The control methods a running node answers (docs/control.md), separate from the wiring in
// daemon.cc. Everything runs on the daemon's loop thread.
#pragma once

#include "compute_host.h"
#include "control_server.h"
#include "data_service.h"
#include "fs_host.h"
#include "synapse/daemon/daemon.h"
#include "synapse/dht/lan_discovery.h"
#include "synapse/dht/node_runtime.h"
#include "synapse/dht/transport.h"

namespace synapse::daemon {

// What the methods need of the running daemon.
class DaemonState {
 public:
  virtual ~DaemonState() = default;
  virtual const DaemonOptions& options() const = 0;
  virtual dht::Transport& transport() = 0;
  virtual dht::NodeRuntime& runtime() = 0;
  virtual const dht::LanDiscovery* discovery() const = 0;  // null when off
  virtual blockstore::BlockStore& store() = 0;
  virtual exchange::Exchange& exchange() = 0;
  virtual DataService& data() = 0;
  // Jobs on this node; null before the node has started them.
  virtual ComputeHost* compute() = 0;
  virtual FsHost& fs_host() = 0;
  // Where metrics and the status page are served; unset when they are not.
  virtual std::optional<dht::Endpoint> http_endpoint() const = 0;
  // Why the HTTP server is not running although configured ("" when it runs or is off).
  virtual std::string http_error() const = 0;
  virtual core::Duration uptime() const = 0;
  // The first join has finished and the routing table is not empty.
  virtual bool joined() const = 0;
  // Runs `work` now if the first join has settled, else once it has (or its wait is over).
  virtual void when_joined(std::function<void()> work) = 0;
  // A sequence number for our next value: above every earlier one, also across restarts (it
  // follows the wall clock in microseconds).
  virtual uint64_t next_sequence() = 0;
  // Starts a clean shutdown (replies already sent still go out).
  virtual void shutdown() = 0;
};

// The `status` method's answer (docs/control.md), also what the metrics are read from.
nlohmann::json status_of(DaemonState& daemon);
// The `peers` method's answer.
nlohmann::json peers_of(DaemonState& daemon);

// Answers one request: status, peers, dht.put, dht.get, dht.providers, dht.provide, get.start,
// get.progress, pins.changed, pin.ls, leave, shutdown, and the jobs' (ComputeHost::handle).
void handle_request(DaemonState& daemon, const ControlRequest& request, ControlServer::Reply reply);

}  // namespace synapse::daemon
