#include "data_service.h"

#include <spdlog/spdlog.h>

#include "synapse/blockstore/dag_pb.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/records.h"

namespace synapse::daemon {
namespace {

using core::ErrorCode;
using nlohmann::json;
using namespace std::chrono_literals;

// Checks running at once (each probes up to ~25 nodes).
constexpr size_t kMaxRunningChecks = 8;
// A replication check that has not finished after this long is given up.
constexpr core::Duration kCheckDeadline = 60s;
// A node that accepted a replica counts as a holder this long while it fetches.
constexpr core::Duration kPendingReplicaGrace = 120s;
// How soon a root with replicas on their way is checked again.
constexpr core::Duration kPendingRecheck = 5s;
// A finished get is remembered this long for its watcher's last poll.
constexpr core::Duration kFinishedGetKept = 60s;

std::optional<exchange::PeerRef> peer_ref(const dht::Contact& contact) {
  if (contact.address.bytes().empty()) return std::nullopt;  // ourselves
  auto endpoint = dht::to_endpoint(contact.address);
  if (!endpoint) return std::nullopt;
  return exchange::PeerRef{contact.id, *endpoint};
}

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

// Uniform in [0, bound) (bound > 0); the tiny modulo bias does not matter for jitter.
uint64_t uniform(core::Rng& rng, uint64_t bound) {
  uint64_t value = 0;
  rng.fill(std::span(reinterpret_cast<uint8_t*>(&value), sizeof(value)));
  return value % bound;
}

json progress_json(const exchange::FetchProgress& p) {
  return {{"total_bytes", p.total_bytes},       {"fetched_bytes", p.fetched_bytes},
          {"fetched_blocks", p.fetched_blocks}, {"local_bytes", p.local_bytes},
          {"local_blocks", p.local_blocks},     {"bad_blocks", p.bad_blocks},
          {"providers", p.providers},           {"providers_used", p.providers_used}};
}

}  // namespace

// One replication check in progress.
struct DataService::Check {
  explicit Check(const crypto::Cid& root) : root(root) {}
  crypto::Cid root;
  bool leaving = false;
  std::function<void(size_t)> done;  // with the confirmed holders
  size_t holders = 0;                // confirmed live holders, this node included unless leaving
  size_t accepted = 0;               // nodes that accepted a replica in this check (still fetching)
  size_t target = 0;
  std::vector<exchange::PeerRef> candidates;  // closest first, not holders
  size_t next_candidate = 0;
};

DataService::DataService(DataOptions options, blockstore::BlockStore& store,
                         exchange::Exchange& exchange, dht::NodeRuntime& runtime, core::Rng& rng)
    : options_(options), store_(store), exchange_(exchange), runtime_(runtime), rng_(rng) {}

void DataService::start(core::MonoTime now) {
  // A node that just joined sees only part of the DHT and would count too few holders (and
  // over-replicate): files it held before the restart wait one interval, new ones do not.
  pins_changed(now);
  for (auto& [root, state] : roots_) state.next_check = now + jittered(options_.repair_interval);
}

void DataService::pins_changed(core::MonoTime now) {
  auto pins = store_.pins();
  if (!pins) {
    spdlog::warn("cannot list pins: {}", pins.error().message());
    return;
  }
  std::set<crypto::Cid> current;
  for (const blockstore::PinInfo& pin : *pins) {
    const crypto::Cid root = pin.root.to_v1();
    current.insert(root);
    auto [it, inserted] = roots_.try_emplace(root);
    if (!inserted) continue;
    it->second.size = file_size_of(root);
    it->second.next_check = now + std::chrono::milliseconds(uniform(rng_, 500));
    announce(root, now);
  }
  for (auto it = roots_.begin(); it != roots_.end();) {
    if (current.contains(it->first)) {
      ++it;
      continue;
    }
    runtime_.run([key = dht::provider_key(it->first)](dht::Node& node, core::MonoTime) {
      node.stop_providing(key);
    });
    it = roots_.erase(it);
  }
}

void DataService::announce(const crypto::Cid& root, core::MonoTime) {
  auto it = roots_.find(root);
  if (it == roots_.end() || it->second.announcing) return;
  it->second.announcing = true;
  runtime_.run([this, root](dht::Node& node, core::MonoTime now) {
    node.add_provider(dht::provider_key(root), now, [this, root](dht::PutResult put) {
      auto it = roots_.find(root);
      if (it == roots_.end()) return;
      it->second.announcing = false;
      // Announced nowhere (no peers yet): tick() tries again.
      it->second.announced = put.acked > 0;
    });
  });
}

uint64_t DataService::file_size_of(const crypto::Cid& root) {
  auto bytes = store_.get(root);
  if (!bytes) return 0;
  uint64_t size = bytes->size();
  if (root.codec() == crypto::Codec::kDagPb) {
    if (auto node = blockstore::decode_pb_node(*bytes)) {
      for (const auto& link : node->links) size += link.tsize.value_or(0);
    }
  }
  return size;
}

bool DataService::holds(const crypto::Cid& root) const { return roots_.contains(root.to_v1()); }

core::Duration DataService::jittered(core::Duration interval) {
  // 80% to 120% of the interval, so that the holders of a file do not check in lockstep.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  return std::chrono::milliseconds(
      ms * 8 / 10 + static_cast<int64_t>(uniform(rng_, static_cast<uint64_t>(ms * 4 / 10 + 1))));
}

size_t DataService::target(bool leaving) const {
  size_t swarm = runtime_.node().routing_table().size() + (leaving ? 0 : 1);
  return std::max<size_t>(1, std::min(options_.replication, swarm));
}

void DataService::tick(core::MonoTime now) {
  for (auto it = gets_.begin(); it != gets_.end();) {
    GetSession& get = it->second;
    if (!get.result && now - get.last_poll > options_.fetch_lease) {
      spdlog::info("get {}: nobody watches it any more; cancelling", get.root.to_string());
      exchange_.cancel(get.fetch);
      get.last_poll = now;  // reported once the cancel completes
    }
    if (get.result && now - get.finished > kFinishedGetKept) {
      it = gets_.erase(it);
    } else {
      ++it;
    }
  }
  leave_round();
  if (runtime_.node().routing_table().size() > 0) {
    for (auto& [root, state] : roots_) {
      if (!state.announced) announce(root, now);
    }
  }
  // A check whose answers never all came is given up (and logged), so that it cannot hold one
  // of the few check slots for good.
  for (auto it = running_checks_.begin(); it != running_checks_.end();) {
    if (now - it->second.second < kCheckDeadline) {
      ++it;
      continue;
    }
    spdlog::warn("{}: replication check unanswered after {} s; giving it up",
                 it->second.first.to_string(), seconds(kCheckDeadline));
    if (auto state = roots_.find(it->second.first); state != roots_.end()) {
      state->second.checking = false;
    }
    it = running_checks_.erase(it);
  }
  for (auto& entry : roots_) {
    RootState& state = entry.second;
    if (running_checks_.size() >= kMaxRunningChecks) break;
    if (state.checking || now < state.next_check) continue;
    state.checking = true;
    const uint64_t id = next_check_id_++;
    running_checks_.emplace(id, std::pair{entry.first, now});
    check(entry.first, false, [this, id, root = entry.first](size_t) {
      if (running_checks_.erase(id) == 0) return;  // given up already
      auto it = roots_.find(root);
      if (it == roots_.end()) return;
      it->second.checking = false;
      // With replicas on their way, look again soon to confirm them.
      const core::Duration interval = it->second.pending.empty()
                                          ? options_.repair_interval
                                          : std::min(options_.repair_interval, kPendingRecheck);
      it->second.next_check = runtime_.now() + jittered(interval);
    });
  }
}

// ---- Gets ----

void DataService::fetch_with_providers(const crypto::Cid& root,
                                       std::vector<exchange::PeerRef> first,
                                       exchange::Exchange::FetchDone done,
                                       std::function<void(exchange::Exchange::FetchId)> started) {
  const auto id = exchange_.fetch(root, std::move(first), std::move(done));
  started(id);
  runtime_.run([this, id, root](dht::Node& node, core::MonoTime now) {
    node.get_providers(dht::provider_key(root), now, [this, id](dht::ProvidersResult result) {
      std::vector<exchange::PeerRef> providers;
      for (const dht::Contact& contact : result.providers) {
        if (auto ref = peer_ref(contact)) providers.push_back(*ref);
      }
      exchange_.add_providers(id, std::move(providers));
      exchange_.no_more_providers(id);
    });
  });
}

exchange::Exchange::FetchId DataService::fetch_for_fs(const crypto::Cid& root,
                                                      const std::optional<crypto::NodeId>& hint,
                                                      exchange::Exchange::FetchDone done) {
  std::vector<exchange::PeerRef> first;
  if (hint) {
    if (const auto* entry = runtime_.node().routing_table().find(*hint)) {
      if (auto ref = peer_ref(entry->contact)) first.push_back(*ref);
    }
  }
  exchange::Exchange::FetchId id = 0;
  fetch_with_providers(root, std::move(first), std::move(done),
                       [&id](exchange::Exchange::FetchId started) { id = started; });
  return id;
}

std::optional<std::pair<size_t, size_t>> DataService::replication_of(
    const crypto::Cid& root) const {
  auto it = roots_.find(root.to_v1());
  if (it == roots_.end() || !it->second.holders) return std::nullopt;
  return std::pair{*it->second.holders, it->second.target};
}

uint64_t DataService::start_get(const crypto::Cid& root, core::MonoTime now) {
  const uint64_t id = next_get_++;
  GetSession& get = gets_.emplace(id, GetSession(root)).first->second;
  get.started = now;
  get.last_poll = now;
  fetch_with_providers(
      root, {},
      [this, id](core::Status status, const exchange::FetchProgress& progress) {
        auto it = gets_.find(id);
        if (it == gets_.end()) return;
        it->second.result = status;
        it->second.progress = progress;
        it->second.finished = runtime_.now();
        if (status) {
          spdlog::info("get {}: {} bytes fetched from {} provider(s), {} held already",
                       it->second.root.to_string(), progress.fetched_bytes, progress.providers_used,
                       progress.local_bytes);
        } else {
          spdlog::warn("get {}: {}", it->second.root.to_string(), status.error().message());
        }
      },
      [&get](exchange::Exchange::FetchId fetch) { get.fetch = fetch; });
  return id;
}

core::Result<json> DataService::get_progress(uint64_t id, core::MonoTime now) {
  auto it = gets_.find(id);
  if (it == gets_.end()) {
    return core::make_error(ErrorCode::kNotFound, "no get with id " + std::to_string(id));
  }
  GetSession& get = it->second;
  get.last_poll = now;
  const exchange::FetchProgress* live = exchange_.progress(get.fetch);
  json out = progress_json(live != nullptr ? *live : get.progress);
  out["cid"] = get.root.to_string();
  out["done"] = get.result.has_value();
  out["seconds"] = seconds((get.result ? get.finished : now) - get.started);
  if (get.result) {
    out["ok"] = get.result->has_value();
    if (!*get.result) {
      out["error"] = {{"code", core::error_code_name(get.result->error().code())},
                      {"message", get.result->error().message()}};
    }
  }
  return out;
}

// ---- Replication ----

void DataService::find_holders(const crypto::Cid& root, HoldersCallback done) {
  struct Probe {
    size_t lookups = 2;
    size_t probes = 0;
    std::vector<exchange::PeerRef> closest;
    std::map<crypto::NodeId, exchange::PeerRef> to_probe;
    std::vector<exchange::PeerRef> holders;
    std::vector<crypto::NodeId> reachable;
    std::function<void(std::vector<exchange::PeerRef>, std::vector<exchange::PeerRef>,
                       std::vector<crypto::NodeId>)>
        done;
  };
  auto probe = std::make_shared<Probe>();
  probe->done = std::move(done);
  const crypto::NodeId self = runtime_.node().id();
  auto finish_probes = [probe] {
    if (probe->probes == 0) {
      probe->done(std::move(probe->holders), std::move(probe->closest),
                  std::move(probe->reachable));
    }
  };
  auto lookups_done = [this, probe, root, finish_probes] {
    if (--probe->lookups != 0) return;
    probe->probes = probe->to_probe.size();
    if (probe->probes == 0) return finish_probes();
    for (const auto& entry : probe->to_probe) {
      const exchange::PeerRef ref = entry.second;
      exchange_.holds(ref, root, [probe, ref, finish_probes](core::Result<bool> held) {
        if (held && *held) probe->holders.push_back(ref);
        if (held) probe->reachable.push_back(ref.id);
        --probe->probes;
        finish_probes();
      });
    }
  };
  auto add = [probe, self](const std::vector<dht::Contact>& contacts, bool closest) {
    for (const dht::Contact& contact : contacts) {
      if (contact.id == self) continue;
      auto ref = peer_ref(contact);
      if (!ref) continue;
      probe->to_probe.emplace(ref->id, *ref);
      if (closest) probe->closest.push_back(*ref);
    }
  };
  const dht::Key key = dht::provider_key(root);
  runtime_.run([key, add, lookups_done](dht::Node& node, core::MonoTime now) {
    node.find_node(key, now, [add, lookups_done](dht::LookupResult result) {
      add(result.closest, true);
      lookups_done();
    });
    node.get_providers(key, now, [add, lookups_done](dht::ProvidersResult result) {
      add(result.providers, false);
      lookups_done();
    });
  });
}

void DataService::check(const crypto::Cid& root, bool leaving,
                        std::function<void(size_t holders)> done) {
  auto c = std::make_shared<Check>(root);
  c->leaving = leaving;
  c->done = std::move(done);
  find_holders(root, [this, c](std::vector<exchange::PeerRef> holders,
                               std::vector<exchange::PeerRef> closest,
                               std::vector<crypto::NodeId> reachable) {
    const core::MonoTime now = runtime_.now();
    auto state = roots_.find(c->root);
    const bool own = !c->leaving && state != roots_.end();
    c->holders = holders.size() + (own ? 1 : 0);
    c->target = target(c->leaving);
    std::set<crypto::NodeId> holder_ids;
    for (const auto& h : holders) holder_ids.insert(h.id);

    // Replicas accepted recently and still being fetched count, so that checks in a row do
    // not ask more nodes than needed; unless their node did not answer (it died meanwhile).
    const std::set<crypto::NodeId> alive(reachable.begin(), reachable.end());
    size_t pending = 0;
    if (state != roots_.end()) {
      auto& accepted = state->second.pending;
      for (auto it = accepted.begin(); it != accepted.end();) {
        if (holder_ids.contains(it->first) || !alive.contains(it->first) ||
            now - it->second > kPendingReplicaGrace) {
          it = accepted.erase(it);
        } else {
          ++pending;
          ++it;
        }
      }
      state->second.holders = c->holders;
      state->second.target = c->target;
    }

    // Only the coordinator asks: the live holder closest to the key (any holder when leaving).
    const dht::Key key = dht::provider_key(c->root);
    const crypto::NodeId self = runtime_.node().id();
    bool coordinator = true;
    if (!c->leaving) {
      for (const auto& h : holders) {
        if (dht::closer(h.id, self, key)) coordinator = false;
      }
    }
    if (c->holders + pending >= c->target || !coordinator) return c->done(c->holders);
    c->target -= pending;
    for (const exchange::PeerRef& ref : closest) {
      if (!holder_ids.contains(ref.id) &&
          (state == roots_.end() || !state->second.pending.contains(ref.id))) {
        c->candidates.push_back(ref);
      }
    }
    spdlog::info("{}: {} of {} holders; asking for replicas", c->root.to_string(), c->holders,
                 c->target + pending);
    ask_next(c);
  });
}

void DataService::ask_next(std::shared_ptr<Check> c) {
  if (c->holders + c->accepted >= c->target || c->next_candidate >= c->candidates.size()) {
    return c->done(c->holders);
  }
  const exchange::PeerRef ref = c->candidates[c->next_candidate++];
  auto state = roots_.find(c->root);
  const uint64_t size = state != roots_.end() ? state->second.size : file_size_of(c->root);
  exchange_.ask_to_store(
      ref, c->root, size, [this, c, ref](core::Result<exchange::StoreReply> reply) {
        if (reply && reply->accepted) {
          spdlog::info("{}: {} keeps a replica", c->root.to_string(), ref.id.short_id());
          auto state = roots_.find(c->root);
          if (state != roots_.end()) state->second.pending[ref.id] = runtime_.now();
          ++c->accepted;
        } else {
          spdlog::info("{}: {} declined a replica: {}", c->root.to_string(), ref.id.short_id(),
                       reply ? reply->reason : reply.error().message());
        }
        ask_next(c);
      });
}

exchange::StoreReply DataService::on_store_request(const exchange::PeerRef& from,
                                                   const exchange::StoreRequest& request) {
  const crypto::Cid root = request.root.to_v1();
  if (roots_.contains(root)) return {request.id, true, "already held"};
  if (replicating_.contains(root)) return {request.id, true, "being fetched"};
  auto stats = store_.stats();
  if (!stats) return {request.id, false, "store unavailable"};
  if (stats->bytes + request.size > stats->capacity) {
    return {request.id, false, "store full"};
  }
  // A stream's remote address has the asker's ephemeral port; its listening address is the one
  // the DHT knows (else the provider lookup that follows finds it).
  std::vector<exchange::PeerRef> first;
  if (const auto* entry = runtime_.node().routing_table().find(from.id)) {
    if (auto ref = peer_ref(entry->contact)) first.push_back(*ref);
  }
  start_replica(root, std::move(first));
  return {request.id, true, ""};
}

void DataService::start_replica(const crypto::Cid& root, std::vector<exchange::PeerRef> first) {
  replicating_.insert(root);
  spdlog::info("{}: fetching a replica", root.to_string());
  fetch_with_providers(
      root, std::move(first),
      [this, root](core::Status status, const exchange::FetchProgress&) {
        replicating_.erase(root);
        if (status) status = store_.pin(root);
        if (!status) {
          spdlog::warn("{}: replica not kept: {}", root.to_string(), status.error().message());
          return;
        }
        pins_changed(runtime_.now());
        // Its first check waits a full interval: the coordinator just counted it.
        auto it = roots_.find(root);
        if (it != roots_.end()) {
          it->second.next_check = runtime_.now() + jittered(options_.repair_interval);
        }
      },
      [](exchange::Exchange::FetchId) {});
}

void DataService::leave(core::Duration timeout, core::MonoTime now,
                        std::function<void(core::Status)> done) {
  if (leave_) {
    return done(core::make_error(ErrorCode::kFailedPrecondition, "already leaving"));
  }
  leave_ = Leave{now + timeout, std::move(done), false};
}

// One round of leave checks (from tick(), so rounds are at least a second apart): every
// pinned root is checked with this node not counted; when all have their target of other
// live holders, the leave is done.
void DataService::leave_round() {
  if (!leave_ || leave_->running) return;
  std::vector<crypto::Cid> roots;
  for (const auto& [root, state] : roots_) roots.push_back(root);
  if (roots.empty()) {
    auto done = std::move(leave_->done);
    leave_.reset();
    return done(core::ok());
  }
  leave_->running = true;
  auto remaining = std::make_shared<size_t>(roots.size());
  auto unsatisfied = std::make_shared<size_t>(0);
  for (const crypto::Cid& root : roots) {
    check(root, true, [this, remaining, unsatisfied](size_t holders) {
      if (holders < target(true)) ++*unsatisfied;
      if (--*remaining != 0 || !leave_) return;
      leave_->running = false;
      if (*unsatisfied == 0 || runtime_.now() >= leave_->deadline) {
        auto done = std::move(leave_->done);
        leave_.reset();
        if (*unsatisfied == 0) return done(core::ok());
        done(core::make_error(ErrorCode::kIo,
                              std::to_string(*unsatisfied) +
                                  " file(s) not yet held by enough other nodes; not leaving"));
      }
    });
  }
}

json DataService::pins_json() const {
  json out = json::array();
  auto pins = store_.pins();
  if (!pins) return out;
  for (const blockstore::PinInfo& pin : *pins) {
    json entry = {{"cid", pin.root.to_string()}, {"count", pin.count}, {"target", target(false)}};
    auto it = roots_.find(pin.root.to_v1());
    entry["holders"] =
        it != roots_.end() && it->second.holders ? json(*it->second.holders) : json(nullptr);
    out.push_back(entry);
  }
  return out;
}

json DataService::replication_json() const {
  size_t under = 0;
  size_t unknown = 0;
  size_t missing = 0;
  for (const auto& [root, state] : roots_) {
    if (!state.holders) {
      ++unknown;
    } else if (*state.holders < target(false)) {
      ++under;
      missing += target(false) - *state.holders;
    }
  }
  return {{"target", target(false)},
          {"replication", options_.replication},
          {"files", roots_.size()},
          {"under_target", under},
          {"missing_replicas", missing},
          {"unchecked", unknown},
          {"fetching_replicas", replicating_.size()}};
}

}  // namespace synapse::daemon
