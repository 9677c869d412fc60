#include "synapse/exchange/serve_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace synapse::exchange {
namespace {

using crypto::Cid;
using SessionId = ServeQueue::SessionId;

Cid block(SessionId session, int n) {
  const std::string text = "session " + std::to_string(session) + " block " + std::to_string(n);
  return Cid::of(1, crypto::Codec::kRaw, core::as_bytes(text));
}
std::vector<Cid> blocks(SessionId session, int count, int first = 0) {
  std::vector<Cid> out;
  for (int i = first; i < first + count; ++i) out.push_back(block(session, i));
  return out;
}
bool always(SessionId) { return true; }

// Serves until nothing is left (or `limit` blocks), returning what was served in order.
std::vector<std::pair<SessionId, Cid>> drain(ServeQueue& queue,
                                             const std::function<bool(SessionId)>& ready = always,
                                             size_t limit = 1000) {
  std::vector<std::pair<SessionId, Cid>> served;
  while (served.size() < limit) {
    auto next = queue.next(ready);
    if (!next) break;
    served.push_back(*next);
  }
  return served;
}

TEST(ServeQueue, TwoSessionsWithTenWantsEachAreServedAlternately) {
  ServeQueue queue(100);
  EXPECT_TRUE(queue.want(1, blocks(1, 10)).empty());
  EXPECT_TRUE(queue.want(2, blocks(2, 10)).empty());
  EXPECT_EQ(queue.queued(), 20u);

  const auto served = drain(queue);
  ASSERT_EQ(served.size(), 20u);
  std::map<SessionId, int> next_index;
  for (size_t i = 0; i < served.size(); ++i) {
    const auto& [session, cid] = served[i];
    if (i > 0) {
      EXPECT_NE(session, served[i - 1].first) << "turn " << i;
    }
    // Each session's wants come in the order it asked for them.
    EXPECT_EQ(cid, block(session, next_index[session]++)) << "turn " << i;
  }
  EXPECT_EQ(next_index[1], 10);
  EXPECT_EQ(next_index[2], 10);
  EXPECT_EQ(queue.queued(), 0u);
  EXPECT_FALSE(queue.next(always).has_value());
}

TEST(ServeQueue, SessionsTakeTurnsEvenWhenOneAskedForFarMore) {
  ServeQueue queue(1000);
  queue.want(7, blocks(7, 100));
  queue.want(3, blocks(3, 2));
  queue.want(5, blocks(5, 2));
  const auto served = drain(queue, always, 6);
  std::map<SessionId, int> per_session;
  for (const auto& [session, cid] : served) ++per_session[session];
  // Within the first six blocks every session got two: the big one did not crowd out the rest.
  EXPECT_EQ(per_session[3], 2);
  EXPECT_EQ(per_session[5], 2);
  EXPECT_EQ(per_session[7], 2);
  // A session that joins late gets its turn within one round.
  queue.want(1, blocks(1, 1));
  const auto more = drain(queue, always, 2);
  ASSERT_EQ(more.size(), 2u);
  EXPECT_TRUE(more[0].first == 1 || more[1].first == 1);
}

TEST(ServeQueue, ASessionThatIsNotReadyIsSkippedAndTheOthersServed) {
  ServeQueue queue(100);
  queue.want(1, blocks(1, 5));
  queue.want(2, blocks(2, 5));
  queue.want(3, blocks(3, 5));
  const auto not_two = [](SessionId s) { return s != 2; };
  const auto served = drain(queue, not_two);
  ASSERT_EQ(served.size(), 10u);
  for (const auto& [session, cid] : served) EXPECT_NE(session, 2u);
  EXPECT_EQ(queue.queued(), 5u);
  // Nothing can be served while its only session is backed up; nothing is lost either.
  EXPECT_FALSE(queue.next(not_two).has_value());
  EXPECT_EQ(queue.queued(), 5u);
  // Once ready again, its wants are served in order.
  const auto rest = drain(queue);
  ASSERT_EQ(rest.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rest[i].first, 2u);
    EXPECT_EQ(rest[i].second, block(2, i));
  }
}

TEST(ServeQueue, CancelRemovesQueuedWants) {
  ServeQueue queue(100);
  queue.want(1, blocks(1, 6));
  queue.want(2, blocks(2, 2));
  queue.cancel(1, {block(1, 1), block(1, 4), block(1, 99)});  // one never wanted
  EXPECT_EQ(queue.queued(), 6u);
  queue.cancel(2, {block(1, 0)});  // another session's block: not this session's want
  queue.cancel(9, {block(1, 0)});  // an unknown session
  EXPECT_EQ(queue.queued(), 6u);

  std::vector<Cid> for_one;
  for (const auto& [session, cid] : drain(queue)) {
    if (session == 1) for_one.push_back(cid);
  }
  EXPECT_EQ(for_one, (std::vector<Cid>{block(1, 0), block(1, 2), block(1, 3), block(1, 5)}));
  EXPECT_EQ(queue.queued(), 0u);
}

TEST(ServeQueue, WantsBeyondTheLimitAreReturnedInOrder) {
  ServeQueue queue(5);
  const std::vector<Cid> wanted = blocks(1, 8);
  EXPECT_EQ(queue.want(1, wanted), std::vector<Cid>(wanted.begin() + 5, wanted.end()));
  EXPECT_EQ(queue.queued(), 5u);
  // The limit is per session.
  EXPECT_TRUE(queue.want(2, blocks(2, 5)).empty());
  EXPECT_EQ(queue.queued(), 10u);
  // Serving makes room again.
  ASSERT_TRUE(queue.next([](SessionId s) { return s == 1; }).has_value());
  ASSERT_TRUE(queue.next([](SessionId s) { return s == 1; }).has_value());
  const std::vector<Cid> more = blocks(1, 3, 100);
  EXPECT_EQ(queue.want(1, more), std::vector<Cid>{more[2]});
  EXPECT_EQ(queue.queued(), 10u);
}

TEST(ServeQueue, RemoveDropsTheSessionsQueue) {
  ServeQueue queue(100);
  queue.want(1, blocks(1, 4));
  queue.want(2, blocks(2, 3));
  queue.remove(1);
  EXPECT_EQ(queue.queued(), 3u);
  queue.remove(1);   // twice: nothing more
  queue.remove(42);  // never seen
  EXPECT_EQ(queue.queued(), 3u);
  const auto served = drain(queue);
  ASSERT_EQ(served.size(), 3u);
  for (const auto& [session, cid] : served) EXPECT_EQ(session, 2u);
  // A removed session that asks again starts from an empty queue.
  queue.want(1, blocks(1, 1, 50));
  const auto again = drain(queue);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0], std::make_pair(SessionId{1}, block(1, 50)));
}

TEST(ServeQueue, AnEmptyQueueServesNothingAndNeverAsksReadiness) {
  ServeQueue queue(10);
  int asked = 0;
  EXPECT_FALSE(queue
                   .next([&](SessionId) {
                     ++asked;
                     return true;
                   })
                   .has_value());
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(queue.queued(), 0u);
}

}  // namespace
}  // namespace synapse::exchange
