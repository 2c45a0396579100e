// rate_limiter: token buckets of protocol.md section 5 (burst 2x the rate, refill, refund).
#include "chat/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace parley::chat {
namespace {

using bucket = rate_limiter::bucket;

int drain(rate_limiter& rl, const std::string& user, bucket b, int max = 10000) {
  int n = 0;
  while (n < max && rl.try_take(user, b)) ++n;
  return n;
}

TEST(rate_limiter, burst_is_twice_the_rate) {
  rate_limiter rl(5, 20);
  EXPECT_EQ(drain(rl, "alice", bucket::send), 10);
  EXPECT_FALSE(rl.try_take("alice", bucket::send));
  EXPECT_EQ(drain(rl, "alice", bucket::other), 40);
  EXPECT_FALSE(rl.try_take("alice", bucket::other));
}

TEST(rate_limiter, refills_over_time) {
  rate_limiter rl(20, 20);  // one token every 50 ms
  EXPECT_EQ(drain(rl, "alice", bucket::send), 40);
  EXPECT_FALSE(rl.try_take("alice", bucket::send));
  std::this_thread::sleep_for(std::chrono::milliseconds(160));  // ~3 tokens
  int got = drain(rl, "alice", bucket::send);
  EXPECT_GE(got, 2);
  EXPECT_LE(got, 8);  // generous upper bound for slow (sanitized) runs
}

TEST(rate_limiter, refill_never_exceeds_the_burst) {
  rate_limiter rl(100, 100);
  EXPECT_TRUE(rl.try_take("alice", bucket::send));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // would be +10, capped at 200
  EXPECT_EQ(drain(rl, "alice", bucket::send), 200);
}

TEST(rate_limiter, refund_gives_one_token_back) {
  rate_limiter rl(1, 1);  // slow refill: the test sees only the refund
  EXPECT_EQ(drain(rl, "alice", bucket::send), 2);
  rl.refund("alice", bucket::send);
  EXPECT_TRUE(rl.try_take("alice", bucket::send));
  EXPECT_FALSE(rl.try_take("alice", bucket::send));
}

TEST(rate_limiter, refund_is_capped_at_the_burst) {
  rate_limiter rl(1, 1);
  EXPECT_TRUE(rl.try_take("alice", bucket::send));
  for (int i = 0; i < 10; ++i) rl.refund("alice", bucket::send);
  EXPECT_EQ(drain(rl, "alice", bucket::send), 2);
}

TEST(rate_limiter, refund_of_unknown_user_is_harmless) {
  rate_limiter rl(1, 1);
  rl.refund("nobody", bucket::send);
  EXPECT_EQ(drain(rl, "nobody", bucket::send), 2);
}

TEST(rate_limiter, buckets_and_users_are_independent) {
  rate_limiter rl(1, 2);
  EXPECT_EQ(drain(rl, "alice", bucket::send), 2);
  // alice's other bucket and bob's buckets are untouched.
  EXPECT_EQ(drain(rl, "alice", bucket::other), 4);
  EXPECT_EQ(drain(rl, "bob", bucket::send), 2);
  EXPECT_EQ(drain(rl, "bob", bucket::other), 4);
  rl.refund("alice", bucket::other);
  EXPECT_FALSE(rl.try_take("alice", bucket::send));
  EXPECT_TRUE(rl.try_take("alice", bucket::other));
}

TEST(rate_limiter, concurrent_takes_never_exceed_the_burst) {
  rate_limiter big(500, 500);  // burst 1000
  std::atomic<int> taken{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 400; ++i)
        if (big.try_take("alice", bucket::send)) taken.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  // 1000 burst + at most a few refilled during the run.
  EXPECT_GE(taken.load(), 1000);
  EXPECT_LE(taken.load(), 1000 + 200);
}

TEST(rate_limiter, burst_below_one_token_takes_nothing) {
  rate_limiter rl(0.25, 0.25);  // burst 0.5 tokens
  EXPECT_FALSE(rl.try_take("alice", bucket::send));
  EXPECT_FALSE(rl.try_take("alice", bucket::other));
}

}  // namespace
}  // namespace parley::chat
