// The sans-I/O Kademlia node (docs/dht.md). It is driven only by
//   on_message(from, bytes, now)   a message arrived (from: the sender's verified node ID and
//                                  the address it came from, as the transport reports them)
//   on_timer(now)                  the time next_timer() named has come
// sends through an injected MessageSender, and takes time as parameters and randomness as an
// injected core::Rng. It never reads a clock, opens a socket or a random device, or throws.
//
// Operations (find_node, get, put, add_provider, get_providers, listen) run as iterative
// lookups with alpha parallel requests and adaptive timeouts; their callbacks run from
// inside on_message() or on_timer(), never inside the call that starts them, and may start
// new operations. Background work (bucket refresh, reviving evicted contacts, record expiry,
// re-replication to the k closest nodes, republishing our own values and provider records,
// renewing subscriptions) runs from on_timer().
//
// Not thread-safe: one thread drives a Node. The sender, the Rng and the verifier must
// outlive it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <unordered_map>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/clock.h"
#include "synapse/core/rng.h"
#include "synapse/dht/distance.h"
#include "synapse/dht/lookup.h"
#include "synapse/dht/messages.h"
#include "synapse/dht/peer_address.h"
#include "synapse/dht/records.h"
#include "synapse/dht/routing_table.h"

namespace synapse::dht {

using namespace std::chrono_literals;

// The transport as the node sees it. The real adapter maps PeerAddress to a transport
// endpoint; the simulator delivers through its virtual network.
class MessageSender {
 public:
  virtual ~MessageSender() = default;
  // Sends one encoded message (at most kMaxMessageSize bytes) to `to`. Unreliable, like a
  // datagram. Must not call back into the Node before returning.
  virtual void send(const PeerAddress& to, core::Bytes message) = 0;
};

struct NodeOptions {
  size_t k = 20;     // bucket size and replication factor
  size_t alpha = 3;  // parallel requests per lookup
  // get() and get_providers() finish once the read_width closest nodes answered (put() and
  // add_provider() store on all k): every value lives on the k closest, so the closest few
  // hold it too, and a read costs about 8 requests instead of 20. At most k.
  size_t read_width = 8;
  RoutingTableOptions routing;  // its k is overridden by `k`
  RecordStoreLimits storage;

  // Adaptive request timeouts: the retransmission timeout is srtt + 4 * rttvar over all
  // answers (RFC 6298 style), clamped to [rto_min, rto_max], rto_initial before the first
  // answer. After one RTO a lookup stops waiting for a request (it is "stalled": a new request
  // goes out in its place, while the stalled one is retransmitted and a late answer still
  // counts); the request has failed after hard_timeout_factor RTOs (at least
  // hard_timeout_min).
  core::Duration rto_initial = 1s;
  core::Duration rto_min = 50ms;
  core::Duration rto_max = 2s;
  int hard_timeout_factor = 3;
  core::Duration hard_timeout_min = 250ms;
  // A request still unanswered after one RTO is sent again, once per RTO, up to this many
  // times before its hard timeout (the answer then gives no RTT sample).
  int retransmits = 2;

  core::Duration maintenance_interval = 5s;  // how often background work is considered
  core::Duration refresh_interval = 15min;   // a bucket without a lookup this long is refreshed
  size_t max_concurrent_refreshes = 2;
  core::Duration revive_interval = 30s;    // one evicted contact is pinged this often
  size_t max_probes = 2;                   // failing entries pinged per maintenance round
  core::Duration replicate_interval = 1h;  // stored values are pushed to all k closest again
  core::Duration republish_interval = 1h;  // our own values and provider records
  uint32_t provider_ttl_seconds = 24 * 3600;
  uint32_t listen_seconds = 600;  // asked for per subscription renewal

  // Per-source token bucket for requests that take storage (puts, provider announcements,
  // subscriptions): per second and burst. Other requests are bounded by the transport's
  // per-source packet rate (TransportLimits::packet_rate_per_source).
  double store_rate = 100;
  double store_burst = 200;
  size_t rate_limit_sources = 4096;  // sources tracked; beyond it new sources are not limited

  size_t max_pages_per_node = 16;  // GetValues pages asked of one node in one get
};

// Upper bounds (ms) of the lookup latency histogram's buckets; a last bucket counts the rest.
inline constexpr std::array<uint32_t, 10> kLookupLatencyBoundsMs = {5,   10,  25,   50,   100,
                                                                    250, 500, 1000, 2500, 5000};

struct NodeStats {
  uint64_t messages_received = 0;
  uint64_t messages_sent = 0;
  uint64_t malformed_dropped = 0;   // undecodable messages
  uint64_t unexpected_replies = 0;  // unknown transaction, wrong sender or wrong type
  uint64_t requests_served = 0;
  uint64_t refused_rate_limited = 0;  // store requests refused for their source's rate
  uint64_t refused_storage_full = 0;
  uint64_t refusals_received = 0;
  uint64_t rpc_timeouts = 0;
  uint64_t retransmits = 0;
  uint64_t values_stored = 0;  // new writer or newer seq
  uint64_t values_rejected_signature = 0;
  uint64_t values_rejected_limits = 0;  // size/TTL limits, wrong key
  uint64_t providers_stored = 0;
  uint64_t listeners_added = 0;
  uint64_t notifications_sent = 0;
  uint64_t notifications_delivered = 0;  // to local subscribers
  uint64_t replication_pushes = 0;
  uint64_t lookups_started = 0;
  uint64_t lookups_completed = 0;
  // Completed lookups by duration (start to convergence): bucket i counts those of at most
  // kLookupLatencyBoundsMs[i] (and above the previous bound); the last one counts the rest.
  std::array<uint64_t, kLookupLatencyBoundsMs.size() + 1> lookup_latency_buckets{};
  double lookup_latency_seconds_sum = 0;
};

struct LookupResult {
  std::vector<Contact> closest;  // the k closest nodes that answered, closest first
  int hops = -1;                 // Lookup::hops()
  size_t messages = 0;           // requests this operation sent
};

struct GetResult {
  std::vector<SignedValue> values;  // verified, newest per writer, in writer order
  int hops = -1;
  size_t messages = 0;
};

struct PutResult {
  core::Status status;  // kInvalidArgument: the value's signature or limits do not verify
  size_t acked = 0;     // nodes that acknowledged the store
  size_t stored = 0;    // of those, nodes for which a value was new
  int hops = -1;
  size_t messages = 0;
};

struct ProvidersResult {
  std::vector<Contact> providers;
  int hops = -1;
  size_t messages = 0;
};

class Node {
 public:
  using LookupCallback = std::function<void(LookupResult)>;
  using GetCallback = std::function<void(GetResult)>;
  using PutCallback = std::function<void(PutResult)>;
  using ProvidersCallback = std::function<void(ProvidersResult)>;
  using ValueCallback = std::function<void(const SignedValue&)>;
  using SubscriptionId = uint64_t;

  // `verifier` may be null: the node then keeps its own CachingVerifier.
  Node(const NodeId& id, NodeOptions options, MessageSender& sender, core::Rng& rng,
       SignatureVerifier* verifier = nullptr);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const NodeId& id() const { return id_; }
  const NodeOptions& options() const { return options_; }

  // ---- Driving ----
  void on_message(const Contact& from, core::ByteView bytes, core::MonoTime now);
  void on_timer(core::MonoTime now);
  // When on_timer() wants to run next; calling it earlier is harmless. Time::min() means
  // "as soon as possible".
  core::MonoTime next_timer() const;

  // ---- Operations ----
  // Joins through `seeds` (addresses; their IDs are learnt from their answers): pings them
  // (up to three rounds until one answers), looks up our own ID, then refreshes the buckets farther
  // than our k-th closest neighbour that are not full. If fewer than k nodes answered the self
  // lookup (say the seed was itself still joining), the self lookup is repeated from on_timer()
  // with backoff. `done` gets the routing table size. The seeds are remembered and pinged again
  // whenever the routing table runs empty, and one of them every refresh interval.
  void bootstrap(std::span<const PeerAddress> seeds, core::MonoTime now,
                 std::function<void(size_t)> done);
  // Greets a node found by LAN discovery: pings `address`; its answer adds it to the routing
  // table like any message, and while the table holds fewer than k contacts and no join is
  // running, starts a self lookup through it (so a node without seeds joins by discovery alone).
  void greet(const PeerAddress& address, core::MonoTime now);
  // True while a join (bootstrap(), or a self lookup started by greet()) is running.
  bool joining() const;
  // Adds a contact as if it had just talked to us (tests, the simulator's oracle joins).
  void add_contact(const Contact& contact, core::MonoTime now);

  void find_node(const NodeId& target, core::MonoTime now, LookupCallback done);
  // Collects the values of `key` from every node met on the way to the k closest (merged:
  // newest per writer, signatures checked), plus our own copies; afterwards sends values to
  // closest nodes that lacked them (read repair).
  void get(const Key& key, core::MonoTime now, GetCallback done);
  // Stores `value` locally and on the k closest nodes. With `republish`, the node keeps it and
  // stores it again every republish_interval (until a newer value of ours for the key
  // replaces it). PutResult::status is kInvalidArgument if the value does not verify.
  void put(const SignedValue& value, core::MonoTime now, PutCallback done, bool republish = true);
  // Announces this node as a provider of `key` on the k closest nodes, and again every
  // republish_interval.
  void add_provider(const Key& key, core::MonoTime now, PutCallback done);
  // Stops republishing our provider record of `key` (the copies on other nodes expire with their
  // TTL) and stops naming ourselves in get_providers().
  void stop_providing(const Key& key) { own_providers_.erase(key); }
  // Providers of `key` found on the way to the k closest nodes (and this node, with an empty
  // address, if it announced itself).
  void get_providers(const Key& key, core::MonoTime now, ProvidersCallback done);
  // Subscribes to new values of `key` on the k closest nodes for `duration`, renewing the
  // registrations (and re-finding the closest nodes) before they lapse. `on_value` runs once
  // per new (writer, seq) seen; it does not replay values that already exist (use get()).
  SubscriptionId listen(const Key& key, core::Duration duration, core::MonoTime now,
                        ValueCallback on_value);
  void unlisten(SubscriptionId id);

  // ---- Inspection ----
  const RoutingTable& routing_table() const { return table_; }
  const RecordStore& records() const { return records_; }
  const NodeStats& stats() const { return stats_; }
  size_t pending_requests() const { return pending_.size(); }
  size_t running_operations() const { return operations_.size(); }
  // The current retransmission timeout.
  core::Duration rto() const;

 private:
  enum class OpKind : uint8_t {
    kFindNode,
    kRefresh,
    kBootstrap,
    kGet,
    kPut,
    kProvide,
    kGetProviders,
    kListen,
  };
  enum class Purpose : uint8_t {
    kLookup,
    kPage,
    kStore,
    kProvide,
    kListen,
    kEvictPing,
    kRevivePing,
    kSeedPing,
    kGreet,
    kPush,  // replication and read repair: nobody waits
  };
  struct Operation;
  struct Pending {
    uint32_t txid = 0;
    Contact to;
    bool id_known = true;
    MessageType request = MessageType::kPing;
    Purpose purpose = Purpose::kLookup;
    uint64_t op = 0;
    core::MonoTime sent{};
    core::MonoTime soft_deadline{};
    core::MonoTime hard_deadline{};
    bool stalled = false;
    bool retransmitted = false;
    uint8_t retransmits_left = 0;
    core::Bytes bytes;  // the request, kept for retransmission
  };
  struct TimerEntry {
    core::MonoTime when;
    uint32_t txid;
    bool hard;
    friend bool operator>(const TimerEntry& a, const TimerEntry& b) {
      if (a.when != b.when) return a.when > b.when;
      return a.txid > b.txid;
    }
  };
  struct TokenBucket {
    double tokens = 0;
    core::MonoTime last{};
  };
  struct IdHash {
    size_t operator()(const NodeId& id) const;
  };
  struct OwnValue {
    SignedValue value;
    core::MonoTime next_republish{};
  };
  struct ReplicaState {
    uint64_t generation = ~uint64_t{0};
    std::vector<NodeId> pushed_to;
    core::MonoTime next_full{};
  };
  struct Subscription {
    Key key;
    core::MonoTime until{};
    core::MonoTime renew_at{};
    bool renewing = false;
    ValueCallback on_value;
    std::map<crypto::Ed25519PublicKey, uint64_t> seen;
  };

  // Requests and replies.
  void handle_request(const Contact& from, Message& message, core::MonoTime now);
  void handle_reply(const Contact& from, Message& message, core::MonoTime now);
  void handle_notify(const Contact& from, const Notify& notify, core::MonoTime now);
  void reply(const Contact& to, uint32_t txid, MessageBody body);
  bool send_message(const PeerAddress& to, const Message& message);
  uint32_t send_request(const Contact& to, bool id_known, MessageBody body, Purpose purpose,
                        uint64_t op, core::MonoTime now);
  void rpc_failed(const Pending& pending, bool liveness, core::MonoTime now);
  std::vector<Pending>::iterator find_pending(uint32_t txid);
  void observe(const Contact& contact, core::MonoTime now);
  bool allow(std::unordered_map<NodeId, TokenBucket, IdHash>& table, const NodeId& source,
             double rate, double burst, core::MonoTime now);
  std::vector<Contact> closest_for_reply(const NodeId& target, const NodeId& requester) const;
  // Stores a verified value, counts it and notifies the key's listeners if it is new.
  StoreOutcome store_value(const SignedValue& value, core::Duration remaining, core::MonoTime now);
  Values values_page(const Key& key, const std::optional<crypto::Ed25519PublicKey>& after,
                     const NodeId& requester, core::MonoTime now) const;
  void push_values(const Contact& to, const std::vector<WireValue>& values, core::MonoTime now);

  // Operations.
  Operation& start_operation(OpKind kind, const NodeId& target, core::MonoTime now);
  void start_lookup(Operation& op, core::MonoTime now);
  void advance(uint64_t op_id, core::MonoTime now);
  void finish(Operation& op, core::MonoTime now);
  // Marks the lookup converged and counts it, with its duration, in the stats.
  void lookup_completed(Operation& op, core::MonoTime now);
  void lookup_done(Operation& op, core::MonoTime now);
  void merge_values(Operation& op, const Contact& from, const std::vector<WireValue>& values,
                    core::MonoTime now);
  void run_finished();
  void ping_seeds(Operation& op, core::MonoTime now);

  // Background work.
  void maintenance(core::MonoTime now);
  void refresh_buckets(core::MonoTime now);
  void replicate(core::MonoTime now);
  void note_replicas(const Key& key, core::MonoTime now);
  void republish(core::MonoTime now);
  void renew_subscriptions(core::MonoTime now);
  void start_put(const SignedValue& value, core::MonoTime now, PutCallback done);
  void start_provide(const Key& key, core::MonoTime now, PutCallback done);
  void start_listen(SubscriptionId id, core::MonoTime now);

  NodeId id_;
  NodeOptions options_;
  MessageSender& sender_;
  core::Rng& rng_;
  std::unique_ptr<SignatureVerifier> own_verifier_;
  SignatureVerifier* verifier_;
  RoutingTable table_;
  RecordStore records_;
  NodeStats stats_;

  uint32_t next_txid_ = 1;
  std::vector<Pending> pending_;  // ordered by txid
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;

  // RTT estimator (microseconds).
  bool have_rtt_ = false;
  double srtt_us_ = 0;
  double rttvar_us_ = 0;

  uint64_t next_op_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Operation>> operations_;
  std::vector<std::unique_ptr<Operation>> finished_;
  size_t running_refreshes_ = 0;

  bool started_ = false;
  core::MonoTime next_maintenance_{};
  core::MonoTime next_revive_{};
  core::MonoTime refresh_epoch_{};
  std::optional<core::MonoTime> rejoin_at_;  // look ourselves up again (sparse join)
  core::Duration rejoin_backoff_{};
  std::vector<PeerAddress> seeds_;
  core::MonoTime next_seed_ping_{};

  std::unordered_map<NodeId, TokenBucket, IdHash> store_buckets_;

  std::map<std::pair<Key, crypto::Ed25519PublicKey>, OwnValue> own_values_;
  std::map<Key, core::MonoTime> own_providers_;  // key -> next republish
  std::map<Key, ReplicaState> replicas_;
  uint64_t next_subscription_ = 1;
  std::map<SubscriptionId, Subscription> subscriptions_;
};

}  // namespace synapse::dht
