// The iterative lookup state machine (docs/dht.md, "Lookups"), independent of messages and
// time: the owner asks it whom to query, reports answers, stalls and failures, and reads the
// result once done().
//
// Rules:
// - Candidates are kept in XOR order from the target. At most `alpha` queries are active at
//   once; a query that passed its soft timeout is "stalled": it no longer counts against
//   alpha (a fresh query goes out in its place) but a late answer is still used.
// - Only candidates among the `k` closest that have not failed are queried.
// - With `widen`, once an answer names no contact closer than the closest candidate known
//   before it (the lookup has converged), the limit rises from `alpha` to `k`: every remaining
//   candidate among the k closest is queried at once, as the Kademlia paper prescribes, instead
//   of alpha at a time. An answer that names a closer contact brings the limit back to alpha.
//   It saves round trips at the price of some queries to nodes that a later answer pushes out
//   of the k closest: worth it for short reads, not for k = 20.
// - The lookup is done when the `k` closest candidates that have not failed have all
//   answered (or when no candidate is left to query and nothing is outstanding).
// - Hop count: the contacts we start from have depth 0, contacts named in an answer from a
//   depth-d contact have depth d + 1 (the smallest depth wins). hops() is the depth of the
//   closest contact that answered: the number of request rounds on the critical path before
//   the closest node was known.
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "synapse/dht/distance.h"
#include "synapse/dht/peer_address.h"

namespace synapse::dht {

struct LookupOptions {
  size_t k = 20;
  size_t alpha = 3;
  bool widen = false;
  // Candidates remembered beyond the k closest (farther ones are forgotten).
  size_t max_candidates = 100;
};

class Lookup {
 public:
  enum class State : uint8_t { kNew, kInFlight, kStalled, kResponded, kFailed };

  struct Candidate {
    Contact contact;
    int depth = 0;
    State state = State::kNew;
  };

  Lookup(const NodeId& self, const NodeId& target, LookupOptions options,
         std::span<const Contact> start);

  const NodeId& target() const { return target_; }

  // The next contact to query, if a slot is free and a candidate qualifies; it is now in
  // flight. Call until it returns nothing.
  std::optional<Contact> next();

  // `from` answered and named `closer` contacts (our own ID is ignored). Answers from a
  // contact that is not in flight or stalled are ignored; returns whether it was used.
  bool on_response(const NodeId& from, std::span<const Contact> closer);
  // `from` passed its soft timeout: it stops counting against alpha.
  void on_stalled(const NodeId& from);
  // `from` will not answer (hard timeout, refusal).
  void on_failure(const NodeId& from);

  bool done() const;
  // Contacts that answered, closest first, at most `n`.
  std::vector<Contact> closest_responded(size_t n) const;
  // Depth of the closest contact that answered, or -1 if none did.
  int hops() const;
  size_t queries() const { return queries_; }
  size_t active() const { return active_; }
  size_t outstanding() const { return active_ + stalled_; }
  const std::vector<Candidate>& candidates() const { return candidates_; }

 private:
  Candidate* find(const NodeId& id);
  void add(const Contact& contact, int depth);

  NodeId self_;
  NodeId target_;
  LookupOptions options_;
  std::vector<Candidate> candidates_;  // closest first
  size_t active_ = 0;
  size_t stalled_ = 0;
  size_t queries_ = 0;
  bool converged_ = false;  // the last answer named nobody closer: query the k closest at once
};

}  // namespace synapse::dht
