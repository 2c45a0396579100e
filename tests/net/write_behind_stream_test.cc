// write_behind_stream over Beast's in-memory test stream: every byte arrives once and in
// order, a batch of synchronous writes goes out in one socket write, back-pressure holds a write
// past the limit, errors stick, and a flush waits for what is pending.
#include "net/write_behind_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <string>
#include <vector>

namespace parley::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using test_stream = beast::test::stream;

struct fixture {
  asio::io_context ioc;
  test_stream remote{ioc};
  write_behind_stream<test_stream> s;

  explicit fixture(std::size_t limit) : s(limit, ioc) { s.next_layer().connect(remote); }
};

TEST(write_behind_stream, synchronous_writes_in_one_handler_leave_in_one_socket_write) {
  fixture f(1 << 16);
  std::string all;
  bool flushed = false;
  asio::post(f.ioc, [&] {
    // As a session hands over its queue: ten frames, then wait for the socket.
    for (int i = 0; i < 10; ++i) {
      std::string p = "frame-" + std::to_string(i) + ";";
      all += p;
      beast::error_code ec;
      EXPECT_EQ(f.s.write_some(asio::buffer(p), ec), p.size());
      EXPECT_FALSE(ec);
    }
    EXPECT_EQ(f.s.pending_bytes(), all.size());
    f.s.async_flush([&](beast::error_code ec) {
      EXPECT_FALSE(ec);
      flushed = true;
    });
  });
  f.ioc.run();
  EXPECT_TRUE(flushed);
  EXPECT_EQ(f.remote.str(), all);
  EXPECT_EQ(f.s.socket_writes(), 1u);
  EXPECT_EQ(f.s.pending_bytes(), 0u);
}

TEST(write_behind_stream, a_write_beyond_the_limit_waits_for_the_socket_write) {
  fixture f(4);
  std::string a = "aa", b = "bbbbbbbb", c = "c";
  std::vector<std::string> order;
  f.s.async_write_some(asio::buffer(a), [&](beast::error_code ec, std::size_t) {
    ASSERT_FALSE(ec);
    order.push_back("a");
    // Behind the write of "aa": 8 bytes > limit 4, so this completes only after it.
    f.s.async_write_some(asio::buffer(b), [&](beast::error_code ec, std::size_t n) {
      ASSERT_FALSE(ec);
      EXPECT_EQ(n, b.size());
      order.push_back("b");
      f.s.async_write_some(asio::buffer(c), [&](beast::error_code ec, std::size_t) {
        ASSERT_FALSE(ec);
        order.push_back("c");
      });
    });
  });
  f.ioc.run();
  EXPECT_EQ(f.remote.str(), a + b + c);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(write_behind_stream, large_writes_alone_go_straight_to_the_socket) {
  fixture f(4);
  std::string big(100, 'x');
  bool done = false;
  f.s.async_write_some(asio::buffer(big), [&](beast::error_code ec, std::size_t n) {
    ASSERT_FALSE(ec);
    EXPECT_EQ(n, big.size());
    done = true;
  });
  f.ioc.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(f.remote.str(), big);
  EXPECT_EQ(f.s.socket_writes(), 1u);
}

TEST(write_behind_stream, a_socket_error_fails_every_later_write) {
  asio::io_context ioc;
  beast::test::fail_count fc(1);  // the first socket write fails
  test_stream remote(ioc);
  write_behind_stream<test_stream> s(1 << 16, ioc, fc);
  s.next_layer().connect(remote);
  std::string a = "first", b = "second";
  beast::error_code second_ec;
  bool flushed = false;
  s.async_write_some(asio::buffer(a), [&](beast::error_code ec, std::size_t) {
    // Accepted into the buffer: the socket error shows on the next write and the flush.
    EXPECT_FALSE(ec);
  });
  ioc.run();
  ioc.restart();
  s.async_write_some(asio::buffer(b), [&](beast::error_code ec, std::size_t) { second_ec = ec; });
  s.async_flush([&](beast::error_code ec) {
    EXPECT_TRUE(ec);
    flushed = true;
  });
  ioc.run();
  EXPECT_TRUE(second_ec);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(remote.str(), "");
}

TEST(write_behind_stream, flush_completes_after_pending_bytes_are_written) {
  fixture f(1 << 16);
  std::string a = "hello";
  std::string seen_at_flush;
  f.s.async_write_some(asio::buffer(a), [&](beast::error_code ec, std::size_t) {
    ASSERT_FALSE(ec);
    f.s.async_flush([&](beast::error_code ec) {
      EXPECT_FALSE(ec);
      seen_at_flush = std::string(f.remote.str());
    });
  });
  f.ioc.run();
  EXPECT_EQ(seen_at_flush, "hello");
}

// The stream under a real WebSocket pair: messages both ways and a close handshake (whose
// teardown must flush the close frame first).
TEST(write_behind_stream, carries_a_websocket_session_and_its_close) {
  asio::io_context ioc;
  test_stream client_side(ioc);
  beast::websocket::stream<write_behind_stream<test_stream>, false> server(1 << 16, ioc);
  beast::websocket::stream<test_stream&> client(client_side);
  server.next_layer().next_layer().connect(client_side);
  server.async_accept([](beast::error_code ec) { ASSERT_FALSE(ec); });
  client.async_handshake("localhost", "/", [](beast::error_code ec) { ASSERT_FALSE(ec); });
  ioc.run();
  ioc.restart();

  std::vector<std::string> got;
  beast::flat_buffer buf;
  std::function<void()> read_loop = [&] {
    client.async_read(buf, [&](beast::error_code ec, std::size_t) {
      if (ec) return;
      got.push_back(beast::buffers_to_string(buf.data()));
      buf.consume(buf.size());
      read_loop();
    });
  };
  read_loop();
  std::vector<std::string> msgs = {"one", "two", "three"};
  std::function<void(std::size_t)> send = [&](std::size_t i) {
    if (i == msgs.size()) {
      server.async_close(beast::websocket::close_code::going_away,
                         [](beast::error_code ec) { EXPECT_FALSE(ec); });
      return;
    }
    server.async_write(asio::buffer(msgs[i]), [&, i](beast::error_code ec, std::size_t) {
      ASSERT_FALSE(ec);
      send(i + 1);
    });
  };
  send(0);
  ioc.run();
  EXPECT_EQ(got, msgs);
  EXPECT_EQ(client.reason().code, beast::websocket::close_code::going_away);
}

}  // namespace
}  // namespace parley::net
