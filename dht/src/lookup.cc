#include "synapse/dht/lookup.h"

#include <algorithm>

namespace synapse::dht {

Lookup::Lookup(const NodeId& self, const NodeId& target, LookupOptions options,
               std::span<const Contact> start)
    : self_(self), target_(target), options_(options) {
  SYNAPSE_CHECK(options_.k > 0 && options_.alpha > 0, "k and alpha must be positive");
  candidates_.reserve(options_.max_candidates + options_.k);
  for (const Contact& contact : start) add(contact, 0);
}

Lookup::Candidate* Lookup::find(const NodeId& id) {
  auto position = std::lower_bound(
      candidates_.begin(), candidates_.end(), id,
      [&](const Candidate& c, const NodeId& x) { return closer(c.contact.id, x, target_); });
  if (position == candidates_.end() || !same_id(position->contact.id, id)) return nullptr;
  return &*position;
}

void Lookup::add(const Contact& contact, int depth) {
  if (same_id(contact.id, self_)) return;
  auto position = std::lower_bound(
      candidates_.begin(), candidates_.end(), contact.id,
      [&](const Candidate& c, const NodeId& x) { return closer(c.contact.id, x, target_); });
  if (position != candidates_.end() && same_id(position->contact.id, contact.id)) {
    position->depth = std::min(position->depth, depth);
    return;
  }
  const size_t limit = options_.max_candidates + options_.k;
  if (candidates_.size() >= limit) {
    if (position == candidates_.end()) return;
    // Forget the farthest candidate that is not outstanding.
    for (auto it = candidates_.end(); it != candidates_.begin();) {
      --it;
      if (it->state == State::kNew || it->state == State::kFailed) {
        if (it < position) return;  // everything farther is outstanding: drop the newcomer
        candidates_.erase(it);
        break;
      }
    }
    if (candidates_.size() >= limit) return;
    position = std::lower_bound(
        candidates_.begin(), candidates_.end(), contact.id,
        [&](const Candidate& c, const NodeId& x) { return closer(c.contact.id, x, target_); });
  }
  candidates_.insert(position, Candidate{contact, depth, State::kNew});
}

std::optional<Contact> Lookup::next() {
  if (active_ >= (converged_ ? options_.k : options_.alpha)) return std::nullopt;
  size_t live = 0;
  for (Candidate& candidate : candidates_) {
    if (candidate.state == State::kFailed) continue;
    if (live++ >= options_.k) break;
    if (candidate.state == State::kNew) {
      candidate.state = State::kInFlight;
      ++active_;
      ++queries_;
      return candidate.contact;
    }
  }
  return std::nullopt;
}

bool Lookup::on_response(const NodeId& from, std::span<const Contact> closer_contacts) {
  Candidate* candidate = find(from);
  if (candidate == nullptr) return false;
  if (candidate->state == State::kInFlight) {
    --active_;
  } else if (candidate->state == State::kStalled) {
    --stalled_;
  } else {
    return false;
  }
  candidate->state = State::kResponded;
  const int depth = candidate->depth + 1;  // `candidate` may move below
  auto closest = std::find_if(candidates_.begin(), candidates_.end(),
                              [](const Candidate& c) { return c.state != State::kFailed; });
  const NodeId closest_before = closest->contact.id;  // the responder at worst
  converged_ = options_.widen;
  for (const Contact& contact : closer_contacts) {
    if (!same_id(contact.id, self_) && closer(contact.id, closest_before, target_)) {
      converged_ = false;
    }
    add(contact, depth);
  }
  return true;
}

void Lookup::on_stalled(const NodeId& from) {
  Candidate* candidate = find(from);
  if (candidate == nullptr || candidate->state != State::kInFlight) return;
  candidate->state = State::kStalled;
  --active_;
  ++stalled_;
}

void Lookup::on_failure(const NodeId& from) {
  Candidate* candidate = find(from);
  if (candidate == nullptr) return;
  if (candidate->state == State::kInFlight) {
    --active_;
  } else if (candidate->state == State::kStalled) {
    --stalled_;
  } else if (candidate->state != State::kNew) {
    return;
  }
  candidate->state = State::kFailed;
}

bool Lookup::done() const {
  size_t responded = 0;
  for (const Candidate& candidate : candidates_) {
    switch (candidate.state) {
      case State::kFailed:
        continue;
      case State::kResponded:
        if (++responded >= options_.k) return true;
        continue;
      case State::kNew:
      case State::kInFlight:
      case State::kStalled:
        return false;
    }
  }
  return outstanding() == 0;
}

std::vector<Contact> Lookup::closest_responded(size_t n) const {
  std::vector<Contact> out;
  for (const Candidate& candidate : candidates_) {
    if (out.size() >= n) break;
    if (candidate.state == State::kResponded) out.push_back(candidate.contact);
  }
  return out;
}

int Lookup::hops() const {
  for (const Candidate& candidate : candidates_) {
    if (candidate.state == State::kResponded) return candidate.depth;
  }
  return -1;
}

}  // namespace synapse::dht
