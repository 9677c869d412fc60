#include "synapse/exchange/serve_queue.h"

#include <algorithm>

namespace synapse::exchange {

std::vector<crypto::Cid> ServeQueue::want(SessionId session, std::vector<crypto::Cid> cids) {
  std::deque<crypto::Cid>& queue = queues_[session];
  std::vector<crypto::Cid> refused;
  for (crypto::Cid& cid : cids) {
    if (queue.size() >= max_queued_) {
      refused.push_back(cid);
      continue;
    }
    queue.push_back(cid);
    ++queued_;
  }
  return refused;
}

void ServeQueue::cancel(SessionId session, const std::vector<crypto::Cid>& cids) {
  auto it = queues_.find(session);
  if (it == queues_.end()) return;
  for (const crypto::Cid& cid : cids) {
    auto found = std::find(it->second.begin(), it->second.end(), cid);
    if (found != it->second.end()) {
      it->second.erase(found);
      --queued_;
    }
  }
}

void ServeQueue::remove(SessionId session) {
  auto it = queues_.find(session);
  if (it == queues_.end()) return;
  queued_ -= it->second.size();
  queues_.erase(it);
}

std::optional<std::pair<ServeQueue::SessionId, crypto::Cid>> ServeQueue::next(
    const std::function<bool(SessionId)>& ready) {
  if (queued_ == 0) return std::nullopt;
  // Start after the session served last, wrapping around once.
  auto start = queues_.upper_bound(last_served_);
  for (size_t step = 0; step < queues_.size(); ++step, ++start) {
    if (start == queues_.end()) start = queues_.begin();
    auto& [session, queue] = *start;
    if (queue.empty() || !ready(session)) continue;
    crypto::Cid cid = queue.front();
    queue.pop_front();
    --queued_;
    last_served_ = session;
    return std::make_pair(session, cid);
  }
  return std::nullopt;
}

}  // namespace synapse::exchange
