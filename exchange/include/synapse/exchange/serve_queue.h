// Fair serving: the blocks that requesters want, served one block at a time in turn, so that
// a provider shares its upload evenly between everyone fetching from it (docs/exchange.md,
// "Serving"). Sans-I/O; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "synapse/crypto/cid.h"

namespace synapse::exchange {

class ServeQueue {
 public:
  using SessionId = uint64_t;

  explicit ServeQueue(size_t max_queued_per_session) : max_queued_(max_queued_per_session) {}

  // Queues `cids` for `session` in order; returns those that did not fit (the caller answers
  // them as missing, and the requester asks elsewhere).
  std::vector<crypto::Cid> want(SessionId session, std::vector<crypto::Cid> cids);
  void cancel(SessionId session, const std::vector<crypto::Cid>& cids);
  void remove(SessionId session);

  // The next block to serve: sessions take turns (one block each), skipping those for which
  // `ready` is false (their stream is backed up). Empty when nothing can be served now.
  std::optional<std::pair<SessionId, crypto::Cid>> next(
      const std::function<bool(SessionId)>& ready);

  size_t queued() const { return queued_; }

 private:
  size_t max_queued_;
  std::map<SessionId, std::deque<crypto::Cid>> queues_;
  SessionId last_served_ = 0;
  size_t queued_ = 0;
};

}  // namespace synapse::exchange
