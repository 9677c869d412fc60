// Fetching one file (or block) from many providers: the sans-I/O core of swarming (docs/
// exchange.md, "Fetching").
//
// A Fetch walks the DAG below its root: what the block store already holds is used as it is
// (so an interrupted fetch resumes with the missing blocks only), every other block is asked of
// the providers, each keeping up to its window of requests in flight. Windows follow the peer
// scores (synapse/exchange/peer_scores.h) and grow with every block a provider delivers and
// halve when it times out, so a fast provider ends up serving more than a slow one; once no
// block is left to ask for, blocks still in flight on one provider are also asked of an idle
// one (end game) and the slower copy is cancelled. Blocks are asked in file order (by offset),
// so a sequential reader gets the beginning first.
//
// Every block is verified against its CID before it is used or stored: a corrupt block counts
// against its sender (PeerScores::on_bad_block), is never asked of that sender again, and is
// asked of another provider. Verified blocks are stored in batches (put_many): by the Fetch
// itself, or, with a BatchWriter, by the owner (say on a worker thread), who reports each
// batch's outcome to on_stored(); while max_unstored_batches are out no new blocks are asked.
//
// Driving: the owner adds providers, sends what take_outgoing() returns, feeds answers to
// on_block()/on_missing(), and calls on_timer() at next_timer(). Time is an argument; nothing
// here does network I/O (the block store is called synchronously). Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "synapse/blockstore/block.h"
#include "synapse/blockstore/block_store.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"
#include "synapse/exchange/peer_scores.h"

namespace synapse::exchange {

struct FetchOptions {
  size_t min_window = 4;   // blocks in flight per provider, at least ...
  size_t max_window = 64;  // ... and at most
  // A block not delivered within this time counts as a failure of its provider and is asked
  // elsewhere.
  core::Duration request_timeout = std::chrono::seconds(20);
  // Failed attempts (timeouts, corrupt copies) per block before the fetch gives up.
  size_t max_attempts = 8;
  // Verified blocks are stored once this many bytes have collected (and at the end).
  size_t flush_bytes = 8 << 20;
  // A provider that sent this many corrupt blocks is dropped from the fetch.
  size_t max_bad_blocks_per_provider = 3;
  // With a BatchWriter: batches handed out and not yet stored before asking for more pauses.
  size_t max_unstored_batches = 2;
};

struct FetchProgress {
  uint64_t total_bytes = 0;       // bytes of all the DAG's blocks; 0 until the root is known
  uint64_t fetched_bytes = 0;     // verified blocks received in this fetch
  uint64_t fetched_blocks = 0;    //
  uint64_t local_bytes = 0;       // blocks the store already held
  uint64_t local_blocks = 0;      //
  uint64_t bad_blocks = 0;        // corrupt blocks received (and dropped)
  uint64_t duplicate_blocks = 0;  // blocks no longer wanted (end-game copies that came second)
  size_t providers = 0;           // providers currently in the fetch
  size_t providers_used = 0;      // providers that delivered at least one block
};

class Fetch {
 public:
  struct Request {
    crypto::NodeId peer;
    std::vector<crypto::Cid> cids;
  };
  struct Outgoing {
    std::vector<Request> wants;
    std::vector<Request> cancels;
  };

  // Stores one batch of verified blocks; the owner calls on_stored() with the outcome later
  // (never inside the call).
  using BatchWriter = std::function<void(std::vector<blockstore::Block> batch)>;

  // Without a writer, batches are stored synchronously with store.put_many.
  Fetch(const crypto::Cid& root, blockstore::BlockStore& store, PeerScores& scores,
        FetchOptions options = {}, BatchWriter writer = nullptr);

  const crypto::Cid& root() const { return root_; }

  // Looks at what the store already holds. The fetch may finish here (everything was stored).
  void start(core::MonoTime now);
  void add_provider(const crypto::NodeId& peer, core::MonoTime now);
  // The provider is gone (its stream broke): what it had in flight is asked elsewhere.
  void remove_provider(const crypto::NodeId& peer, core::MonoTime now);
  // No providers will be added: from now on a block that no provider can give fails the fetch.
  void no_more_providers(core::MonoTime now);

  // The wants and cancels to send now.
  Outgoing take_outgoing(core::MonoTime now);
  // A block `peer` sent. Blocks nobody asked of `peer` are ignored.
  void on_block(const crypto::NodeId& peer, const crypto::Cid& cid, core::Bytes data,
                core::MonoTime now);
  void on_missing(const crypto::NodeId& peer, const crypto::Cid& cid, core::MonoTime now);
  void on_timer(core::MonoTime now);
  // Stops the fetch with `error`, keeping (storing) every block verified so far.
  void cancel(core::Error error);
  // The outcome of a batch handed to the BatchWriter.
  void on_stored(core::Status status);
  // When on_timer() is due; MonoTime::max() when nothing waits.
  core::MonoTime next_timer() const;

  // True once every block is stored, or the fetch failed.
  bool finished() const { return finished_; }
  // Meaningful when finished(): ok once complete, else what stopped it: kNotFound (no provider,
  // or none that has a block), kIo (a block failed max_attempts times), kCorrupt (the DAG does
  // not decode), the store's errors (kStoreFull).
  const core::Status& result() const { return result_; }
  const FetchProgress& progress() const { return progress_; }
  // Whether a block from `peer` named `cid` is awaited (the caller routes answers by it).
  bool awaits(const crypto::NodeId& peer, const crypto::Cid& cid) const;

 private:
  // File order: the block's pre-order offset among the DAG's block bytes, then arrival.
  using Order = std::pair<uint64_t, uint64_t>;
  struct Ask {
    crypto::NodeId peer;
    core::MonoTime sent;
  };
  struct Pending {
    Order order;
    std::vector<Ask> asks;             // in flight; empty while queued
    std::set<crypto::NodeId> refused;  // peers that answered missing or sent a corrupt copy
    size_t attempts = 0;
  };
  struct Provider {
    size_t window = 0;
    size_t in_flight = 0;
    size_t bad_blocks = 0;
    bool delivered = false;
    core::MonoTime last_delivery{};
  };

  void want(const crypto::Cid& cid, uint64_t offset);
  // Queues the children of a verified node at `offset` (descending into what the store
  // already holds); returns the bytes of the node and everything below it, per its links.
  core::Result<uint64_t> expand(const crypto::Cid& cid, core::ByteView bytes, uint64_t offset,
                                int depth);
  void requeue(const crypto::Cid& cid, Pending& pending);
  // Removes `peer`'s ask of `cid`; false if there was none.
  bool drop_ask(Pending& pending, const crypto::NodeId& peer);
  void attempt_failed(const crypto::Cid& cid, Pending& pending);
  void assign(const crypto::NodeId& peer, Provider& provider, size_t slots, core::MonoTime now,
              Outgoing& out);
  void flush();
  void check_done();
  void fail(core::Error error);

  crypto::Cid root_;
  blockstore::BlockStore* store_;
  PeerScores* scores_;
  FetchOptions options_;

  std::unordered_map<crypto::Cid, Pending> pending_;  // queued or in flight
  std::map<Order, crypto::Cid> queue_;                // queued, by order
  std::map<crypto::NodeId, Provider> providers_;
  std::map<crypto::NodeId, std::vector<crypto::Cid>> cancels_;
  BatchWriter writer_;
  std::vector<blockstore::Block> batch_;
  size_t batch_bytes_ = 0;
  size_t unstored_batches_ = 0;  // handed to writer_, outcome not yet known
  uint64_t next_tiebreak_ = 0;
  bool no_more_providers_ = false;
  bool started_ = false;
  bool finished_ = false;
  core::Status result_ = core::ok();
  FetchProgress progress_;
};

}  // namespace synapse::exchange
