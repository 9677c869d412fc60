// The block exchange of a running node (docs/exchange.md): serves blocks of the local store to
// peers over encrypted streams, fetches files from many providers at once (synapse/exchange/
// fetch.h drives each fetch), asks peers whether they hold a file and whether they will keep a
// replica of one, and carries the calls of services above it (jobs) as request and reply on
// the same streams. Takes over the transport's stream handler.
//
// Threads: lives on the transport's libuv loop; every method must be called there and every
// callback runs there, never inside the call that registers it. Fetched blocks are written to
// the store on the loop's thread pool (uv_queue_work). Lifetime: call close() and let
// its callback run before destroying the Exchange; the transport, the block store and the
// clock must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synapse/blockstore/block_store.h"
#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"
#include "synapse/dht/endpoint.h"
#include "synapse/dht/transport.h"
#include "synapse/exchange/fetch.h"
#include "synapse/exchange/messages.h"
#include "synapse/exchange/peer_scores.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::exchange {

// A peer and where to reach it; the stream to it must authenticate as `id`.
struct PeerRef {
  crypto::NodeId id;
  dht::Endpoint endpoint;
};

// Who sent a call: the authenticated peer and the certificate it presented, if any (unverified
// bytes; crypto::decode_certificate and the admission policy say what they mean).
struct Caller {
  PeerRef peer;
  std::optional<core::Bytes> certificate;
};

// Answers a call; runs at most once, on the loop thread. A reply to a requester whose stream is
// gone is dropped.
using CallReplyFn = std::function<void(core::Result<core::Bytes>)>;

struct ExchangeOptions {
  FetchOptions fetch;
  // Bytes per second served to all requesters together; 0: unlimited.
  uint64_t max_upload_rate = 0;
  // Blocks queued on one stream before its requester waits for its turn again.
  size_t stream_write_budget = 2 << 20;
  // Wants queued per requester; more are answered as missing.
  size_t max_queued_wants = 4096;
  // Whether this node holds the whole file below `root` (answers "holds" requests).
  std::function<bool(const crypto::Cid& root)> holds;
  // A peer asks this node to keep a replica: accept (and start fetching it) or decline with a
  // reason. Empty: every request is declined.
  std::function<StoreReply(const PeerRef& from, const StoreRequest& request)> on_store_request;
  // A peer calls `service` with `body` (at most kMaxCallBodySize bytes): answer through `reply`,
  // now or later. Empty: every call fails with kUnsupported.
  std::function<void(const Caller& from, uint32_t service, core::Bytes body, CallReplyFn reply)>
      on_call;
  // Fault injection for tests: flip a byte of every block served. Never set in production.
  bool corrupt_served_blocks = false;
};

struct ExchangeStats {
  uint64_t blocks_served = 0;
  uint64_t bytes_served = 0;
  uint64_t missing_served = 0;  // wants answered "missing"
  uint64_t streams_accepted = 0;
  uint64_t streams_opened = 0;
  uint64_t stream_failures = 0;  // opens that failed and streams that broke
  uint64_t protocol_errors = 0;  // malformed frames (the stream was dropped)
  uint64_t fetches_completed = 0;
  uint64_t fetches_failed = 0;
  uint64_t bytes_fetched = 0;
};

class Exchange {
 public:
  using FetchId = uint64_t;

  static core::Result<std::unique_ptr<Exchange>> create(uv_loop_t* loop, dht::Transport& transport,
                                                        blockstore::BlockStore& store,
                                                        const core::Clock& clock,
                                                        ExchangeOptions options);
  virtual ~Exchange() = default;

  // Fetches the file below `root` into the store from `providers` (more may be added until
  // no_more_providers()). `done` runs exactly once with Fetch::result() (or kFailedPrecondition
  // when cancelled or closed) and the final progress. Must not be called after close().
  using FetchDone = std::function<void(core::Status, const FetchProgress&)>;
  virtual FetchId fetch(const crypto::Cid& root, std::vector<PeerRef> providers,
                        FetchDone done) = 0;
  virtual void add_providers(FetchId id, std::vector<PeerRef> providers) = 0;
  virtual void no_more_providers(FetchId id) = 0;
  // Null once the fetch has finished.
  virtual const FetchProgress* progress(FetchId id) const = 0;
  virtual void cancel(FetchId id) = 0;

  // Asks `peer` whether it holds the whole file below `root`. kIo when it cannot be reached.
  virtual void holds(const PeerRef& peer, const crypto::Cid& root,
                     std::function<void(core::Result<bool>)> done) = 0;
  // Asks `peer` to keep a replica of the file below `root` (`size` bytes of blocks).
  virtual void ask_to_store(const PeerRef& peer, const crypto::Cid& root, uint64_t size,
                            std::function<void(core::Result<StoreReply>)> done) = 0;

  // Calls `service` on `peer` with `body` (at most kMaxCallBodySize bytes). `done` gets the
  // reply body, the error the peer answered, or kIo when it cannot be reached or does not
  // answer within `timeout` (at most 15 s).
  virtual void call(const PeerRef& peer, uint32_t service, core::Bytes body, core::Duration timeout,
                    std::function<void(core::Result<core::Bytes>)> done) = 0;

  virtual const PeerScores& scores() const = 0;
  virtual const ExchangeStats& stats() const = 0;

  // Fails running fetches and waiting requests (kFailedPrecondition), closes every stream and
  // runs `done` once its timers are closed and block writes on the thread pool are back. Only
  // once.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::exchange
