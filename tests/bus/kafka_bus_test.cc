// kafka_bus against a real broker (scripts/kafka): one broker per test process, a unique
// topic per test, two buses (two node ids) talking through it. The option tests at the top
// need no broker.
#include "bus/kafka_bus.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "bus/kafka_broker.h"

namespace parley::bus {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Records seen by a subscriber, in arrival order.
class collector {
 public:
  bus::subscriber subscriber() {
    return [this](const record_ptr& r) {
      std::lock_guard lock(mu_);
      seen_.push_back(r);
      cv_.notify_all();
    };
  }
  // Waits until `pred(seen)` holds; false after `timeout`.
  bool wait(std::function<bool(const std::vector<record_ptr>&)> pred,
            std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(seen_); });
  }
  bool wait_count(std::size_t n, std::chrono::milliseconds timeout = 20s) {
    return wait([n](const auto& s) { return s.size() >= n; }, timeout);
  }
  std::vector<record_ptr> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::size_t count_if(std::function<bool(const record&)> pred) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& r : seen_) n += pred(*r) ? 1 : 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<record_ptr> seen_;
};

// Delivery reports.
class reports {
 public:
  bus::delivery_callback callback() {
    return [this](const record_ptr& r, bool ok) {
      std::lock_guard lock(mu_);
      (ok ? ok_ : failed_).push_back(r);
      cv_.notify_all();
    };
  }
  bool wait_ok(std::size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ok_.size() >= n; });
  }
  std::size_t ok() {
    std::lock_guard lock(mu_);
    return ok_.size();
  }
  std::size_t failed() {
    std::lock_guard lock(mu_);
    return failed_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<record_ptr> ok_, failed_;
};

template <class F>
bool eventually(F pred, std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (steady::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

record_ptr message(const std::string& room, std::int64_t seq, const std::string& node,
                   const std::string& text = "hi") {
  auto r = std::make_shared<record>();
  r->type = kind::message;
  r->room = room;
  r->seq = seq;
  r->id = "m" + std::to_string(seq);
  r->from = "alice";
  r->text = text;
  r->ts = 1000 + seq;
  r->cid = "c" + std::to_string(seq);
  r->node = node;
  return r;
}

// ------------------------------------------------------------------ options, no broker

TEST(kafka_options, bad_property_is_a_clear_error) {
  kafka_options o;
  o.brokers = "127.0.0.1:1";
  o.node_id = "n1";
  o.properties = {"no.such.property=1"};
  std::string why;
  auto b = make_kafka_bus(o, why);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::make_error_code(std::errc::invalid_argument));
  EXPECT_NE(why.find("no.such.property"), std::string::npos) << why;

  o.properties = {"socket.timeout.ms=banana"};
  EXPECT_FALSE(make_kafka_bus(o, why));
  EXPECT_NE(why.find("socket.timeout.ms"), std::string::npos) << why;

  o.properties = {"missing-equals"};
  EXPECT_FALSE(make_kafka_bus(o, why));
  EXPECT_NE(why.find("key=value"), std::string::npos) << why;

  o.properties = {"socket.keepalive.enable=true", "client.rack=r1"};
  EXPECT_TRUE(make_kafka_bus(o, why)) << why;
}

TEST(kafka_options, required_fields) {
  std::string why;
  kafka_options o;
  o.node_id = "n1";
  EXPECT_FALSE(make_kafka_bus(o, why));  // no brokers
  o.brokers = "127.0.0.1:1";
  o.node_id = "";
  EXPECT_FALSE(make_kafka_bus(o, why));
  o.node_id = "n1";
  o.partitions = 0;
  EXPECT_FALSE(make_kafka_bus(o, why));
}

TEST(kafka_options, start_without_broker_fails_after_timeout_and_publish_stays_local) {
  metrics m;
  kafka_options o;
  o.brokers = "127.0.0.1:1";  // nothing listens there
  o.node_id = "n1";
  o.start_timeout = 2s;
  o.metrics = &m;
  auto made = make_kafka_bus(o);
  ASSERT_TRUE(made);
  auto& b = *made.value();
  collector local;
  reports delivered;
  b.set_subscriber(local.subscriber());
  b.set_delivery_callback(delivered.callback());
  auto t0 = steady::now();
  auto r = b.start();
  EXPECT_FALSE(r);
  EXPECT_LT(steady::now() - t0, 10s);
  EXPECT_EQ(b.state(), "down");
  b.publish(message("g:x", 1, "n1"));
  EXPECT_EQ(local.seen().size(), 1u);  // synchronously
  b.stop();
  b.stop();
  EXPECT_EQ(delivered.failed(), 1u);  // so that the outbox relay tries again later
  EXPECT_EQ(delivered.ok(), 0u);
  EXPECT_EQ(m.kafka_produce_failed.load(), 1u);
}

// ------------------------------------------------------------------ against a broker

std::string unique_topic() {
  static std::atomic<int> n{0};
  std::random_device rd;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("t.") + info->name() + "." + std::to_string(::getpid()) + "." +
         std::to_string(rd() % 100000) + "." + std::to_string(n++);
}

// A raw librdkafka producer / admin client, to look at the topic from outside parley.
class raw_client {
 public:
  explicit raw_client(const std::string& brokers) {
    char err[512];
    rd_kafka_conf_t* c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers.c_str(), err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  }
  ~raw_client() {
    if (rk_) {
      rd_kafka_flush(rk_, 5000);
      rd_kafka_destroy(rk_);
    }
  }
  // Produces `value` to partition 0 with `key`.
  bool produce(const std::string& topic, const std::string& key, const std::string& value) {
    auto e = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                               RD_KAFKA_V_KEY(key.data(), key.size()),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  bool flush() { return rd_kafka_flush(rk_, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR; }
  // Partition count of `topic`, -1 when unknown.
  int partitions(const std::string& topic) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    int n = -1;
    if (rd_kafka_metadata(rk_, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// One node: a kafka_bus with its own metrics, subscriber and delivery reports.
struct node {
  std::string id;
  metrics m;
  collector got;
  reports delivered;
  std::unique_ptr<bus> b;
};

class kafka_bus_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(broker_.start(why)) << why;
    topic_ = unique_topic();
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->b) n->b->stop();
    }
    nodes_.clear();
    broker_.stop();
  }

  kafka_options options(const std::string& id) {
    kafka_options o;
    o.brokers = broker_.bootstrap();
    o.topic = topic_;
    o.partitions = 4;
    o.node_id = id;
    return o;
  }

  // Makes and starts a node; fails the test if it does not start.
  node& start_node(const std::string& id, std::function<void(kafka_options&)> tweak = {}) {
    auto n = std::make_unique<node>();
    n->id = id;
    kafka_options o = options(id);
    o.metrics = &n->m;
    if (tweak) tweak(o);
    std::string why;
    auto made = make_kafka_bus(o, why);
    EXPECT_TRUE(made) << why;
    if (made) {
      n->b = std::move(made).value();
      n->b->set_subscriber(n->got.subscriber());
      n->b->set_delivery_callback(n->delivered.callback());
      auto t0 = steady::now();
      auto r = n->b->start();
      EXPECT_TRUE(r) << "start of " << id << " failed";
      std::printf(
          "[ info ] %s started in %lld ms\n", id.c_str(),
          static_cast<long long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count()));
    }
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  test::kafka_broker broker_;
  std::string topic_;
  std::vector<std::unique_ptr<node>> nodes_;
};

TEST_F(kafka_bus_test, start_creates_the_topic_with_the_configured_partitions) {
  node& a = start_node("a", [](kafka_options& o) { o.partitions = 5; });
  ASSERT_TRUE(a.b);
  EXPECT_EQ(a.b->state(), "up");
  EXPECT_EQ(a.m.kafka_up.load(), 1);
  raw_client raw(broker_.bootstrap());
  EXPECT_EQ(raw.partitions(topic_), 5);
  // A second node finds the topic there (already exists is fine) and keeps its partitions.
  node& b = start_node("b", [](kafka_options& o) { o.partitions = 9; });
  ASSERT_TRUE(b.b);
  EXPECT_EQ(raw.partitions(topic_), 5);
}

TEST_F(kafka_bus_test, message_reaches_the_other_node_and_its_own_node_exactly_once) {
  node& a = start_node("a");
  node& b = start_node("b");
  ASSERT_TRUE(a.b && b.b);

  a.b->publish(message("g:room", 1, "a", "first"));
  // Local delivery is synchronous: it never waits for Kafka.
  ASSERT_EQ(a.got.seen().size(), 1u);
  EXPECT_EQ(a.got.seen()[0]->text, "first");

  ASSERT_TRUE(b.got.wait_count(1)) << "B never got A's record";
  auto r = b.got.seen()[0];
  EXPECT_EQ(r->type, kind::message);
  EXPECT_EQ(r->room, "g:room");
  EXPECT_EQ(r->seq, 1);
  EXPECT_EQ(r->text, "first");
  EXPECT_EQ(r->cid, "c1");
  EXPECT_EQ(r->node, "a");
  ASSERT_TRUE(a.delivered.wait_ok(1));
  EXPECT_EQ(a.delivered.failed(), 0u);

  // Barrier: B answers in the same room (same partition, later offset). Once A has read
  // B's record it has read past its own one, which it must have dropped.
  b.b->publish(message("g:room", 2, "b", "second"));
  ASSERT_TRUE(a.got.wait_count(2));
  EXPECT_EQ(a.got.count_if([](const record& r) { return r.seq == 1; }), 1u);
  EXPECT_EQ(a.got.seen()[1]->text, "second");
  EXPECT_GE(a.m.kafka_own_records_dropped.load(), 1u);
  EXPECT_TRUE(b.got.wait_count(2, 100ms));  // B's own one, locally
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b.got.seen().size(), 2u);  // and not again from Kafka
  EXPECT_EQ(a.got.seen().size(), 2u);
  EXPECT_EQ(a.m.kafka_bad_records.load(), 0u);
}

TEST_F(kafka_bus_test, a_burst_in_one_room_arrives_complete_and_in_order) {
  node& a = start_node("a");
  node& b = start_node("b");
  ASSERT_TRUE(a.b && b.b);
  constexpr int n = 500;
  for (int i = 1; i <= n; ++i) a.b->publish(message("g:burst", i, "a"));
  ASSERT_TRUE(b.got.wait_count(n));
  auto seen = b.got.seen();
  for (int i = 0; i < n; ++i) ASSERT_EQ(seen[i]->seq, i + 1);
  ASSERT_TRUE(a.delivered.wait_ok(n));
  EXPECT_TRUE(eventually([&] { return a.m.kafka_producer_queue.load() == 0; }, 5s));
  EXPECT_TRUE(eventually([&] { return b.m.kafka_consumer_lag.load() == 0; }, 5s));
  EXPECT_EQ(b.m.kafka_records_received.load(), static_cast<std::uint64_t>(n));
}

TEST_F(kafka_bus_test, typing_read_and_membership_records_cross) {
  node& a = start_node("a");
  node& b = start_node("b");
  ASSERT_TRUE(a.b && b.b);
  auto typing = std::make_shared<record>();
  typing->type = kind::typing;
  typing->room = "g:x";
  typing->user = "alice";
  typing->node = "a";
  typing->origin_session = "s1";
  auto read = std::make_shared<record>();
  read->type = kind::read;
  read->room = "g:x";
  read->user = "alice";
  read->seq = 17;
  read->node = "a";
  auto member = std::make_shared<record>();
  member->type = kind::membership;
  member->room = "g:x";
  member->user = "bob";
  member->op = "add";
  member->by = "alice";
  member->seq = 3;
  member->node = "a";
  a.b->publish(typing);
  a.b->publish(read);
  a.b->publish(member);
  EXPECT_EQ(a.got.seen().size(), 3u);
  ASSERT_TRUE(b.got.wait_count(3));
  auto s = b.got.seen();
  EXPECT_EQ(s[0]->type, kind::typing);
  EXPECT_EQ(s[0]->user, "alice");
  EXPECT_TRUE(s[0]->origin_session.empty());  // never on the wire
  EXPECT_EQ(s[1]->type, kind::read);
  EXPECT_EQ(s[1]->seq, 17);
  EXPECT_EQ(s[2]->type, kind::membership);
  EXPECT_EQ(s[2]->user, "bob");
  EXPECT_EQ(s[2]->op, "add");
  EXPECT_EQ(s[2]->by, "alice");
  EXPECT_EQ(s[2]->seq, 3);
  // Only `message` records are confirmed to the delivery callback.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a.delivered.ok(), 0u);
  EXPECT_GE(a.m.kafka_records_produced.load(), 3u);
}

TEST_F(kafka_bus_test, bad_records_are_skipped_and_counted) {
  node& b = start_node("b");
  ASSERT_TRUE(b.b);
  raw_client raw(broker_.bootstrap());
  const std::string bad[] = {
      "not json",
      "",
      R"({"v":2,"kind":"typing","room":"g:x","user":"u","node":"raw"})",
      R"({"v":1,"kind":"message","room":"g:x","seq":"7","id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"gossip","room":"g:x","user":"u"})",
      std::string("\xff\xfe\0garbage", 10),
  };
  for (const auto& v : bad) ASSERT_TRUE(raw.produce(topic_, "g:x", v));
  // A good one behind them, in the same partition: once it arrives, all were read.
  ASSERT_TRUE(raw.produce(topic_, "g:x", encode(*message("g:x", 5, "raw", "good"))));
  ASSERT_TRUE(raw.flush());
  ASSERT_TRUE(b.got.wait_count(1));
  std::this_thread::sleep_for(200ms);
  auto s = b.got.seen();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->text, "good");
  EXPECT_EQ(b.m.kafka_bad_records.load(), std::size(bad));
  EXPECT_EQ(b.m.kafka_records_received.load(), std::size(bad) + 1);
  EXPECT_EQ(b.b->state(), "up");
}

TEST_F(kafka_bus_test, stop_is_idempotent_and_publish_after_stop_stays_local) {
  node& a = start_node("a");
  ASSERT_TRUE(a.b);
  a.b->publish(message("g:s", 1, "a"));
  a.b->stop();
  a.b->stop();
  EXPECT_EQ(a.b->state(), "down");
  EXPECT_EQ(a.delivered.ok() + a.delivered.failed(), 1u);  // reported either way
  a.b->publish(message("g:s", 2, "a"));
  EXPECT_EQ(a.got.seen().size(), 2u);
  EXPECT_EQ(a.delivered.failed() + a.delivered.ok(), 2u);  // not ok, on this thread
}

TEST_F(kafka_bus_test, broker_outage_goes_down_stays_local_and_recovers) {
  node& a = start_node("a");
  node& b = start_node("b");
  ASSERT_TRUE(a.b && b.b);
  a.b->publish(message("g:o", 1, "a"));
  ASSERT_TRUE(b.got.wait_count(1));

  broker_.stop();
  auto t0 = steady::now();
  EXPECT_TRUE(eventually([&] { return a.b->state() == "down"; }, 15s));
  EXPECT_TRUE(eventually([&] { return b.b->state() == "down"; }, 15s));
  std::printf(
      "[ info ] down after %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count()));
  EXPECT_EQ(a.m.kafka_up.load(), 0);

  // Sends during the outage still reach this node's subscriber at once.
  a.b->publish(message("g:o", 2, "a", "during"));
  EXPECT_EQ(a.got.seen().size(), 2u);

  std::string why;
  ASSERT_TRUE(broker_.start(why)) << why;
  t0 = steady::now();
  EXPECT_TRUE(eventually([&] { return a.b->state() == "up"; }, 30s));
  EXPECT_TRUE(eventually([&] { return b.b->state() == "up"; }, 30s));
  std::printf(
      "[ info ] up again after %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count()));

  a.b->publish(message("g:o", 3, "a", "after"));
  // The record from the outage is retried by the idempotent producer (message.timeout.ms
  // is minutes) and arrives before the new one: same partition, same producer.
  ASSERT_TRUE(b.got.wait(
      [](const auto& s) {
        for (const auto& r : s) {
          if (r->seq == 3) return true;
        }
        return false;
      },
      30s));
  auto s = b.got.seen();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1]->text, "during");
  EXPECT_EQ(s[2]->text, "after");
  EXPECT_TRUE(a.delivered.wait_ok(3));
}

}  // namespace
}  // namespace parley::bus
