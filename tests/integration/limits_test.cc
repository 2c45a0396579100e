// protocol.md section 5: frame size limit (1009) and the slow reader (1008).
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace parley::itest {
namespace {

class limits_test : public itest {
 protected:
  void slow_reader_is_closed_1008(std::vector<std::string> extra);
};

TEST_F(limits_test, frame_over_max_frame_bytes_closes1009) {
  ASSERT_TRUE(start({"--max-frame-bytes", "1024"}));
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  expect_next(*c, "joined");
  expect_next(*c, "history");
  // Under the limit: fine.
  c->send({{"type", "send"}, {"text", std::string(900, 'a')}, {"cid", "ok"}});
  expect_next(*c, "ack");
  expect_next(*c, "message");
  c->send({{"type", "send"}, {"text", std::string(2000, 'b')}, {"cid", "big"}});
  expect_closed(*c, 1009);
}

// The slow reader's frames leave through partial socket writes: the rest of a batched send
// (net/send_batch.h) follows as an ordinary write. `extra`: more server flags.
void limits_test::slow_reader_is_closed_1008(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--send-queue-bytes", "262144", "--send-rate", "100000"};
  args.insert(args.end(), extra.begin(), extra.end());
  ASSERT_TRUE(start(args));
  std::string g = create_room("alice", "firehose", {"bob", "carol"});
  ASSERT_FALSE(g.empty());
  auto slow = connect("bob", "room=" + enc(g));
  auto fast = connect("carol", "room=" + enc(g));
  auto writer = connect("alice");
  ASSERT_TRUE(slow && fast && writer);
  for (auto* c : {slow.get(), fast.get()}) {
    expect_next(*c, "joined");
    expect_next(*c, "history");
  }
  slow->ws->pause_reading(true);

  // Kernel socket buffers absorb a few MB before the server's queue fills, so send 15 KB
  // messages until parleyd reports the slow connection gone (or a cap). Small batches (60 KB,
  // well under the 256 KB queue) so that a reader that keeps up never overflows.
  const std::string text(15000, 'x');
  constexpr int k_batch = 4;
  constexpr int k_max = 1000;  // 15 MB
  int sent = 0;
  bool slow_dropped = false;
  while (sent < k_max && !slow_dropped) {
    for (int i = 0; i < k_batch; ++i, ++sent) {
      writer->send({{"type", "send"}, {"room", g}, {"text", text}, {"cid", std::to_string(sent)}});
    }
    for (int i = 0; i < k_batch; ++i) {
      auto ack = expect_frame(*writer, "ack", 5s);
      ASSERT_FALSE(ack.empty());
    }
    writer->stash.clear();  // notify frames, if any
    if (sent % 40 == 0) {
      auto m = http("", "GET", "/metrics");
      if (auto n = metric(m.body, "parley_connections")) slow_dropped = *n < 3;
    }
  }
  // The fast reader got everything, in order.
  auto got = collect_messages(*fast, g, static_cast<std::size_t>(sent), 5s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(sent));
  for (int i = 0; i < sent; ++i) ASSERT_EQ(num(got[i], "seq"), i + 1);
  EXPECT_TRUE(fast->ws->is_open());
  // The slow reader, once it reads again, finds a 1008 close after what was queued.
  slow->ws->pause_reading(false);
  expect_closed(*slow, 1008, 10s);
  // Frames before the close are a gap-free prefix.
  std::int64_t last = 0;
  for (const auto& f : slow->stash) {
    if (str(f, "type") != "message") continue;
    EXPECT_EQ(num(f, "seq"), last + 1);
    last = num(f, "seq");
  }
  EXPECT_LT(last, sent);
  // Others still work.
  writer->send({{"type", "ping"}});
  expect_frame(*writer, "pong");
}

TEST_F(limits_test, slow_reader_is_closed1008_while_others_are_unaffected) {
  slow_reader_is_closed_1008({});
}

// The same with one send() per socket write (where io_uring is missing or refused).
TEST_F(limits_test, slow_reader_is_closed1008_without_io_uring) {
  slow_reader_is_closed_1008({"--no-io-uring"});
}

TEST_F(limits_test, silent_connection_is_closed4002_after_idle_timeout) {
  ASSERT_TRUE(start({"--ping-interval", "1", "--idle-timeout", "2"}));
  auto silent = connect("alice");
  auto chatty = connect("bob");
  ASSERT_TRUE(silent && chatty);
  // Not reading means not answering the server's WebSocket pings either.
  silent->ws->pause_reading(true);
  // ws_client's read already in flight stays pending (and would answer pings) until a data
  // frame completes it: provoke one.
  silent->send({{"type", "ping"}});
  const auto t0 = std::chrono::steady_clock::now();
  // bob keeps talking and must survive.
  while (std::chrono::steady_clock::now() - t0 < 3500ms) {
    chatty->send({{"type", "ping"}});
    expect_next(*chatty, "pong");
    std::this_thread::sleep_for(250ms);
  }
  silent->ws->pause_reading(false);
  expect_closed(*silent, 4002, 5s);
  EXPECT_TRUE(chatty->ws->is_open());
}

}  // namespace
}  // namespace parley::itest
