// commit_queue: the hand-over between append() and a store's writer thread, and the pacing
// of group commits. Times are lower bounds from the steady clock, or generous upper bounds
// that only a wrong wait (a whole long interval) would exceed.
#include "store/commit_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace parley::store {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

void push_all(commit_queue<int>& q, std::initializer_list<int> items) {
  for (int i : items) {
    int v = i;
    ASSERT_TRUE(q.push(v));
  }
}

TEST(commit_queue, takes_up_to_max_batch_in_queue_order) {
  commit_queue<int> q(3, 0us);
  push_all(q, {1, 2, 3, 4, 5});
  std::vector<int> out;
  ASSERT_TRUE(q.take(out));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  ASSERT_TRUE(q.take(out));
  EXPECT_EQ(out, (std::vector<int>{4, 5}));
}

TEST(commit_queue, without_interval_the_next_batch_is_taken_at_once) {
  commit_queue<int> q(8, 0us);
  std::vector<int> out;
  auto t0 = clock::now();
  for (int i = 0; i < 100; ++i) {
    push_all(q, {i});
    ASSERT_TRUE(q.take(out));
    ASSERT_EQ(out, std::vector<int>{i});
  }
  EXPECT_LT(clock::now() - t0, 5s);
}

TEST(commit_queue, append_after_a_quiet_interval_is_taken_at_once) {
  // A lone append never waits: the previous batch was taken longer than an interval ago
  // (here: never).
  commit_queue<int> q(8, 30s);
  push_all(q, {7});
  std::vector<int> out;
  auto t0 = clock::now();
  ASSERT_TRUE(q.take(out));
  EXPECT_LT(clock::now() - t0, 10s);
  EXPECT_EQ(out, std::vector<int>{7});
}

TEST(commit_queue, work_within_the_interval_waits_for_its_end_and_is_taken_together) {
  constexpr auto interval = 300ms;
  commit_queue<int> q(8, interval);
  std::vector<int> out;
  push_all(q, {1});
  auto first = clock::now();  // the first batch is taken after this
  ASSERT_TRUE(q.take(out));
  // Arrives during the interval: waits for its end, and what arrives meanwhile joins it.
  push_all(q, {2});
  auto late = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(50ms);
    push_all(q, {3});
  });
  ASSERT_TRUE(q.take(out));
  EXPECT_GE(clock::now() - first, interval);  // the batch start is at most 1 per interval
  late.get();
  EXPECT_EQ(out, (std::vector<int>{2, 3}));
}

TEST(commit_queue, a_full_batch_ends_the_wait) {
  commit_queue<int> q(3, 60s);
  std::vector<int> out;
  push_all(q, {1});
  ASSERT_TRUE(q.take(out));
  auto t0 = clock::now();
  auto producer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(20ms);
    push_all(q, {2, 3, 4, 5});
  });
  ASSERT_TRUE(q.take(out));
  EXPECT_LT(clock::now() - t0, 30s);  // not the 60 s interval
  producer.get();
  EXPECT_GE(out.size(), 1u);
  EXPECT_LE(out.size(), 3u);
  EXPECT_EQ(out.front(), 2);
}

TEST(commit_queue, stop_ends_the_wait_hands_over_the_rest_then_ends) {
  commit_queue<int> q(8, 60s);
  std::vector<int> out;
  push_all(q, {1});
  ASSERT_TRUE(q.take(out));
  push_all(q, {2, 3});
  auto t0 = clock::now();
  auto stopper = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(20ms);
    q.stop();
  });
  ASSERT_TRUE(q.take(out));  // queued before stop(): still committed
  EXPECT_LT(clock::now() - t0, 30s);
  stopper.get();
  EXPECT_EQ(out, (std::vector<int>{2, 3}));
  EXPECT_FALSE(q.take(out));

  int refused = 42;
  EXPECT_FALSE(q.push(refused));
  EXPECT_EQ(refused, 42);  // handed back untouched, for the caller to answer
}

TEST(commit_queue, stop_wakes_an_idle_writer) {
  commit_queue<int> q(8, 0us);
  auto writer = std::async(std::launch::async, [&] {
    std::vector<int> out;
    return q.take(out);
  });
  std::this_thread::sleep_for(20ms);
  q.stop();
  EXPECT_FALSE(writer.get());
}

}  // namespace
}  // namespace parley::store
