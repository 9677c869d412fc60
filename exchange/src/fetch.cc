#include "synapse/exchange/fetch.h"

#include <algorithm>

#include "synapse/blockstore/dag_pb.h"

namespace synapse::exchange {
namespace {

using core::ErrorCode;
using core::make_error;

// DAGs deeper than this are refused (as blockstore::FileReader does).
constexpr int kMaxDepth = 32;
// take_outgoing() looks at most this far past the blocks it assigns for ones a provider may
// be asked for (the others were refused by it).
constexpr size_t kMaxScan = 4096;

}  // namespace

Fetch::Fetch(const crypto::Cid& root, blockstore::BlockStore& store, PeerScores& scores,
             FetchOptions options, BatchWriter writer)
    : root_(root),
      store_(&store),
      scores_(&scores),
      options_(options),
      writer_(std::move(writer)) {}

void Fetch::start(core::MonoTime now) {
  (void)now;
  SYNAPSE_CHECK(!started_, "Fetch::start called twice");
  started_ = true;
  auto bytes = store_->get(root_);
  if (bytes) {
    progress_.local_blocks = 1;
    progress_.local_bytes = bytes->size();
    auto total = expand(root_, *bytes, 0, 0);
    if (!total) return fail(total.error());
    progress_.total_bytes = *total;
  } else if (bytes.error().code() == ErrorCode::kNotFound ||
             bytes.error().code() == ErrorCode::kCorrupt) {
    want(root_, 0);  // a corrupt copy was removed by get(): fetch it again
  } else {
    return fail(bytes.error());
  }
  check_done();
}

void Fetch::want(const crypto::Cid& cid, uint64_t offset) {
  auto [it, inserted] = pending_.try_emplace(cid);
  if (!inserted) return;  // the same block twice in one DAG: fetched once
  it->second.order = {offset, next_tiebreak_++};
  queue_.emplace(it->second.order, cid);
}

core::Result<uint64_t> Fetch::expand(const crypto::Cid& cid, core::ByteView bytes, uint64_t offset,
                                     int depth) {
  if (cid.codec() != crypto::Codec::kDagPb) return bytes.size();
  if (depth > kMaxDepth) return make_error(ErrorCode::kCorrupt, "DAG deeper than supported");
  auto node = blockstore::decode_pb_node(bytes);
  if (!node) {
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() +
                                               " is not a dag-pb node: " + node.error().message());
  }
  uint64_t child_offset = offset + bytes.size();
  for (const blockstore::PbLink& link : node->links) {
    const uint64_t link_size = link.tsize.value_or(0);
    SYNAPSE_ASSIGN_OR_RETURN(bool stored, store_->has(link.cid));
    if (stored && link.cid.codec() == crypto::Codec::kDagPb) {
      auto child = store_->get(link.cid);
      if (child) {
        ++progress_.local_blocks;
        progress_.local_bytes += child->size();
        SYNAPSE_ASSIGN_OR_RETURN(uint64_t below, expand(link.cid, *child, child_offset, depth + 1));
        child_offset += std::max(below, link_size);
        continue;
      }
      if (child.error().code() != ErrorCode::kCorrupt) return tl::unexpected(child.error());
      stored = false;  // removed as corrupt: fetch it
    }
    if (stored) {
      ++progress_.local_blocks;
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, store_->size(link.cid));
      progress_.local_bytes += size;
    } else {
      want(link.cid, child_offset);
    }
    child_offset += link_size;
  }
  return child_offset - offset;
}

void Fetch::add_provider(const crypto::NodeId& peer, core::MonoTime now) {
  (void)now;
  if (finished_) return;
  auto [it, inserted] = providers_.try_emplace(peer);
  if (inserted) {
    it->second.window = scores_->window(peer, options_.min_window, options_.max_window);
  }
  progress_.providers = providers_.size();
}

void Fetch::remove_provider(const crypto::NodeId& peer, core::MonoTime now) {
  (void)now;
  if (providers_.erase(peer) == 0) return;
  progress_.providers = providers_.size();
  cancels_.erase(peer);
  for (auto& [cid, pending] : pending_) {
    if (drop_ask(pending, peer) && pending.asks.empty()) requeue(cid, pending);
  }
}

void Fetch::no_more_providers(core::MonoTime now) {
  (void)now;
  no_more_providers_ = true;
}

bool Fetch::drop_ask(Pending& pending, const crypto::NodeId& peer) {
  auto it = std::find_if(pending.asks.begin(), pending.asks.end(),
                         [&](const Ask& ask) { return ask.peer == peer; });
  if (it == pending.asks.end()) return false;
  pending.asks.erase(it);
  if (auto provider = providers_.find(peer); provider != providers_.end()) {
    --provider->second.in_flight;
  }
  return true;
}

void Fetch::requeue(const crypto::Cid& cid, Pending& pending) {
  queue_.emplace(pending.order, cid);
}

void Fetch::attempt_failed(const crypto::Cid& cid, Pending& pending) {
  if (++pending.attempts >= options_.max_attempts) {
    return fail(core::Error(ErrorCode::kIo, "block " + cid.to_string() + " failed " +
                                                std::to_string(pending.attempts) + " times"));
  }
  if (pending.asks.empty()) requeue(cid, pending);
}

Fetch::Outgoing Fetch::take_outgoing(core::MonoTime now) {
  Outgoing out;
  for (auto& [peer, cids] : cancels_) out.cancels.push_back({peer, std::move(cids)});
  cancels_.clear();
  if (finished_ || !started_) return out;

  std::vector<crypto::NodeId> ids;
  ids.reserve(providers_.size());
  bool any_usable = false;
  for (const auto& [peer, provider] : providers_) {
    ids.push_back(peer);
    any_usable = any_usable || !scores_->backed_off(peer, now);
  }
  // While the writer is behind, nothing new is asked (back-pressure from the disk).
  const bool storing_behind = writer_ && unstored_batches_ >= options_.max_unstored_batches;
  auto in_flight = [&] {
    size_t total = 0;
    for (const auto& [peer, provider] : providers_) total += provider.in_flight;
    return total;
  };
  // Backed-off providers are asked only when the others cannot take anything: all are backed
  // off, or those that are not refused every block left.
  const std::vector<crypto::NodeId> ordered = scores_->order(std::move(ids), now);
  for (bool with_backed_off : {false, true}) {
    if (storing_behind || (with_backed_off && (in_flight() > 0 || queue_.empty()))) break;
    for (const crypto::NodeId& peer : ordered) {
      if (any_usable && scores_->backed_off(peer, now) != with_backed_off) continue;
      Provider& provider = providers_[peer];
      if (provider.in_flight < provider.window) {
        assign(peer, provider, provider.window - provider.in_flight, now, out);
      }
    }
    if (!any_usable) break;  // the first pass took everyone
  }
  if (in_flight() == 0 && !queue_.empty() && no_more_providers_ && !storing_behind) {
    const crypto::Cid& cid = queue_.begin()->second;
    fail(
        core::Error(ErrorCode::kNotFound,
                    providers_.empty()
                        ? "no provider of " + root_.to_string() + " could be reached"
                        : "no provider has block " + cid.to_string() + " of " + root_.to_string()));
  }
  return out;
}

void Fetch::assign(const crypto::NodeId& peer, Provider& provider, size_t slots, core::MonoTime now,
                   Outgoing& out) {
  Request request{peer, {}};
  size_t scanned = 0;
  for (auto it = queue_.begin();
       it != queue_.end() && request.cids.size() < slots && scanned < slots + kMaxScan; ++scanned) {
    Pending& pending = pending_.at(it->second);
    if (pending.refused.contains(peer)) {
      ++it;
      continue;
    }
    pending.asks.push_back({peer, now});
    request.cids.push_back(it->second);
    it = queue_.erase(it);
  }
  // End game: nothing left to queue, so ask this provider for blocks in flight elsewhere.
  if (queue_.empty() && request.cids.size() < slots) {
    for (auto& [cid, pending] : pending_) {
      if (request.cids.size() >= slots) break;
      if (pending.asks.size() != 1 || pending.asks[0].peer == peer ||
          pending.refused.contains(peer)) {
        continue;
      }
      pending.asks.push_back({peer, now});
      request.cids.push_back(cid);
    }
  }
  if (request.cids.empty()) return;
  if (provider.in_flight == 0) provider.last_delivery = now;  // busy from now on
  provider.in_flight += request.cids.size();
  out.wants.push_back(std::move(request));
}

bool Fetch::awaits(const crypto::NodeId& peer, const crypto::Cid& cid) const {
  auto it = pending_.find(cid);
  if (it == pending_.end()) return false;
  return std::any_of(it->second.asks.begin(), it->second.asks.end(),
                     [&](const Ask& ask) { return ask.peer == peer; });
}

void Fetch::on_block(const crypto::NodeId& peer, const crypto::Cid& cid, core::Bytes data,
                     core::MonoTime now) {
  if (finished_) return;
  auto it = pending_.find(cid);
  if (it == pending_.end()) {
    ++progress_.duplicate_blocks;  // no longer wanted: mostly the slower end-game copy
    return;
  }
  Pending& pending = it->second;
  auto ask = std::find_if(pending.asks.begin(), pending.asks.end(),
                          [&](const Ask& a) { return a.peer == peer; });
  if (ask == pending.asks.end()) return;  // not asked of this peer
  const core::MonoTime sent = ask->sent;
  drop_ask(pending, peer);
  Provider& provider = providers_[peer];

  auto block = blockstore::Block::verified(cid, std::move(data));
  if (!block) {
    ++progress_.bad_blocks;
    scores_->on_bad_block(peer, now);
    pending.refused.insert(peer);
    provider.window = options_.min_window;
    const bool drop = ++provider.bad_blocks >= options_.max_bad_blocks_per_provider;
    attempt_failed(cid, pending);
    if (drop) remove_provider(peer, now);
    return;
  }

  const core::Duration busy = now - std::max(provider.last_delivery, sent);
  scores_->on_block(peer, block->data().size(), now - sent, busy, now);
  provider.last_delivery = now;
  provider.window = std::min(provider.window + 1, options_.max_window);
  if (!provider.delivered) {
    provider.delivered = true;
    ++progress_.providers_used;
  }
  for (const Ask& other : pending.asks) {  // end-game copies still in flight
    cancels_[other.peer].push_back(cid);
    if (auto p = providers_.find(other.peer); p != providers_.end()) --p->second.in_flight;
  }
  const uint64_t offset = pending.order.first;
  pending_.erase(it);
  ++progress_.fetched_blocks;
  progress_.fetched_bytes += block->data().size();

  auto below = expand(cid, block->data(), offset, 0);
  if (!below) return fail(below.error());
  if (cid == root_) progress_.total_bytes = *below;
  batch_bytes_ += block->data().size();
  batch_.push_back(std::move(*block));
  if (batch_bytes_ >= options_.flush_bytes) flush();
  check_done();
}

void Fetch::on_missing(const crypto::NodeId& peer, const crypto::Cid& cid, core::MonoTime now) {
  (void)now;
  if (finished_) return;
  auto it = pending_.find(cid);
  if (it == pending_.end() || !drop_ask(it->second, peer)) return;
  it->second.refused.insert(peer);
  if (it->second.asks.empty()) requeue(cid, it->second);
}

void Fetch::on_timer(core::MonoTime now) {
  if (finished_) return;
  for (auto& [cid, pending] : pending_) {
    for (size_t i = 0; i < pending.asks.size();) {
      const Ask ask = pending.asks[i];
      if (now - ask.sent < options_.request_timeout) {
        ++i;
        continue;
      }
      drop_ask(pending, ask.peer);
      scores_->on_failure(ask.peer, now);
      cancels_[ask.peer].push_back(cid);
      if (auto p = providers_.find(ask.peer); p != providers_.end()) {
        p->second.window = std::max(options_.min_window, p->second.window / 2);
      }
      attempt_failed(cid, pending);
      if (finished_) return;
    }
  }
}

core::MonoTime Fetch::next_timer() const {
  core::MonoTime next = core::MonoTime::max();
  if (finished_) return next;
  for (const auto& [cid, pending] : pending_) {
    for (const Ask& ask : pending.asks) next = std::min(next, ask.sent + options_.request_timeout);
  }
  return next;
}

void Fetch::cancel(core::Error error) { fail(std::move(error)); }

void Fetch::on_stored(core::Status status) {
  SYNAPSE_CHECK(unstored_batches_ > 0, "Fetch::on_stored without a batch out");
  --unstored_batches_;
  if (!status) return fail(status.error().with_context("cannot store fetched blocks"));
  check_done();
}

void Fetch::flush() {
  if (batch_.empty()) return;
  batch_bytes_ = 0;
  if (writer_) {
    ++unstored_batches_;
    writer_(std::exchange(batch_, {}));
    return;
  }
  auto stored = store_->put_many(batch_);
  batch_.clear();
  if (!stored) fail(stored.error().with_context("cannot store fetched blocks"));
}

void Fetch::check_done() {
  if (finished_ || !pending_.empty()) return;
  flush();
  if (finished_ || unstored_batches_ > 0) return;
  finished_ = true;
  result_ = core::ok();
}

void Fetch::fail(core::Error error) {
  if (finished_) return;
  finished_ = true;
  result_ = tl::unexpected(std::move(error));
  flush();  // keep what was verified: a retry resumes from it (a failure here adds nothing)
  for (auto& [cid, pending] : pending_) {
    for (const Ask& ask : pending.asks) cancels_[ask.peer].push_back(cid);
  }
  pending_.clear();
  queue_.clear();
}

}  // namespace synapse::exchange
