// work_pool: the bounded queue refuses at once, tasks run once in order, stop() drops what
// waits and bounds its wait for what runs.
#include "base/work_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

namespace parley {
namespace {

using namespace std::chrono_literals;

// A task that blocks until the gate opens (and says when it started).
struct gate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

TEST(work_pool, runs_every_task_once_in_order) {
  work_pool pool(1, 100, "test-pool");
  std::mutex mu;
  std::vector<int> seen;
  std::promise<void> done;
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(pool.try_post([&, i] {
      std::lock_guard lk(mu);
      seen.push_back(i);
      if (i == 49) done.set_value();
    }));
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen[i], i);
}

TEST(work_pool, full_queue_refuses_at_once_and_leaves_the_task_untouched) {
  std::atomic<std::int64_t> gauge{0};
  gate g;  // outlives the pool, whose threads wait on it
  work_pool pool(2, 3, "test-pool", &gauge);
  std::atomic<int> started{0};
  auto blocker = [&] {
    started.fetch_add(1);
    g.opened.wait();
  };
  ASSERT_TRUE(pool.try_post(blocker));
  ASSERT_TRUE(pool.try_post(blocker));
  while (started.load() < 2) std::this_thread::sleep_for(1ms);  // both threads busy
  EXPECT_EQ(pool.running(), 2u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.try_post([] {}));
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_EQ(gauge.load(), 3);

  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.try_post([] {}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(pool.queued(), 3u);
  g.open.set_value();
  EXPECT_TRUE(pool.stop(5s));
  EXPECT_EQ(gauge.load(), 0);
}

TEST(work_pool, refused_task_keeps_its_state) {
  gate g;
  work_pool pool(1, 1, "test-pool");
  std::promise<void> started;
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    g.opened.wait();
  }));
  started.get_future().wait();
  ASSERT_TRUE(pool.try_post([] {}));  // the one queue slot
  struct holder {
    std::unique_ptr<int> v = std::make_unique<int>(42);
    void operator()() {}
  } h;
  EXPECT_FALSE(pool.try_post(std::move(h)));
  ASSERT_TRUE(h.v);  // still there for the caller's refusal answer
  EXPECT_EQ(*h.v, 42);
  g.open.set_value();
}

TEST(work_pool, stop_drops_waiting_tasks_and_waits_for_running_ones) {
  gate g;
  work_pool pool(1, 10, "test-pool");
  std::promise<void> started;
  std::atomic<bool> first_finished{false};
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    g.opened.wait();
    first_finished = true;
  }));
  started.get_future().wait();
  auto dropped_ran = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.try_post([d = dropped_ran] { d->fetch_add(1); }));
  auto counter = dropped_ran;
  dropped_ran.reset();
  // The running task still runs: a bounded stop reports it.
  EXPECT_FALSE(pool.stop(50ms));
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_FALSE(pool.try_post([] {}));  // stopping: refused
  g.open.set_value();
  EXPECT_TRUE(pool.stop(5s));
  EXPECT_TRUE(first_finished.load());
  EXPECT_EQ(counter->load(), 0);  // the waiting tasks were destroyed unrun
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(work_pool, stop_is_idempotent_and_destructor_joins) {
  auto pool = std::make_unique<work_pool>(3, 10, "test-pool");
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) pool->try_post([&] { ran.fetch_add(1); });
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(pool->stop(5s));
  EXPECT_TRUE(pool->stop(5s));
  pool.reset();
  EXPECT_LE(ran.load(), 5);
}

}  // namespace
}  // namespace parley
