// RFC 6455 at the byte level, from a raw TCP client: parleyd frames WebSocket itself
// (src/ws/codec.h), so what a library client would hide is checked here: the opening
// handshake, fragmentation with control frames between fragments, frames split across
// reads or several in one write, ping/pong, the close handshake and protocol errors.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <random>
#include <thread>

#include "harness.h"

namespace parley::itest {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct frame {
  int op = -1;  // -1: the stream ended, -2: nothing arrived in time
  bool fin = true;
  std::string payload;
  int close_code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1])
                               : 1005;
  }
};

// A masked client frame.
std::string client_frame(int op, std::string_view payload, bool fin = true, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | op));
  const std::size_t n = payload.size();
  const char m = masked ? char(0x80) : char(0);
  if (n < 126) {
    f.push_back(static_cast<char>(m | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i)
      f.push_back(static_cast<char>((std::uint64_t{n} >> (8 * i)) & 0xff));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < n; ++i)
    f.push_back(masked ? char(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

std::string close_payload(int code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason);
  return p;
}

class raw_ws {
 public:
  explicit raw_ws(int port) : sock_(ioc_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  }

  // Sends the upgrade request; returns the response head (status line and headers).
  std::string handshake(const std::string& target,
                        const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==",
                        const std::string& version = "13", bool host = true) {
    std::string req = "GET " + target + " HTTP/1.1\r\n" + (host ? "Host: localhost\r\n" : "") +
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                      key + "\r\nSec-WebSocket-Version: " + version + "\r\n\r\n";
    asio::write(sock_, asio::buffer(req));
    boost::system::error_code ec;
    auto n = asio::read_until(sock_, asio::dynamic_buffer(in_), "\r\n\r\n", ec);
    if (ec) return {};
    std::string head = in_.substr(0, n);
    in_.erase(0, n);
    return head;
  }

  void write(const std::string& bytes) { asio::write(sock_, asio::buffer(bytes)); }

  // Writes `bytes` one byte per write, with a pause so that the server reads them apart.
  void write_slowly(const std::string& bytes) {
    sock_.set_option(tcp::no_delay(true));
    for (char c : bytes) {
      asio::write(sock_, asio::buffer(&c, 1));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  // The next server frame (a server frame is never masked). op -1 when the stream ended,
  // -2 when nothing (more) arrived within k_wait.
  frame read_frame() {
    frame f;
    if (!fill(2)) return fail(f);
    auto b0 = static_cast<unsigned char>(in_[0]), b1 = static_cast<unsigned char>(in_[1]);
    EXPECT_EQ(b1 & 0x80, 0) << "server frames are not masked";
    EXPECT_EQ(b0 & 0x70, 0) << "no RSV bits";
    std::uint64_t len = b1 & 0x7f;
    std::size_t hs = 2;
    if (len == 126) {
      if (!fill(4)) return fail(f);
      len = (static_cast<unsigned char>(in_[2]) << 8) | static_cast<unsigned char>(in_[3]);
      hs = 4;
    } else if (len == 127) {
      if (!fill(10)) return fail(f);
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in_[2 + i]);
      hs = 10;
    }
    if (!fill(hs + len)) return fail(f);
    f.op = b0 & 0x0f;
    f.fin = (b0 & 0x80) != 0;
    f.payload = in_.substr(hs, len);
    in_.erase(0, hs + len);
    return f;
  }

  // The next frame with opcode `op` (text frames before it are skipped).
  frame read_until_op(int op) {
    for (;;) {
      auto f = read_frame();
      if (f.op == op || f.op < 0) return f;
    }
  }

  // The next text frame parsed as JSON whose "type" is `type`.
  json::object read_type(std::string_view type) {
    for (;;) {
      auto f = read_frame();
      if (f.op < 0) return {};
      if (f.op != 1) continue;
      auto v = json::parse(f.payload);
      if (v.as_object().at("type").as_string() == type) return v.as_object();
    }
  }

  // True when the server ended the stream (end of file) within k_wait; frames before it are
  // skipped. False when the stream stays open.
  bool ended() {
    for (;;) {
      auto f = read_frame();
      if (f.op == -1) return true;
      if (f.op == -2) return false;
    }
  }

  tcp::socket& socket() { return sock_; }

 private:
  frame fail(frame f) {
    f.op = timed_out_ ? -2 : -1;
    return f;
  }

  bool fill(std::size_t n) {
    while (in_.size() < n) {
      char buf[4096];
      boost::system::error_code ec;
      // A bounded wait: the tests never hang on a server that stays silent.
      sock_.non_blocking(true);
      auto deadline = std::chrono::steady_clock::now() + k_wait;
      std::size_t got = 0;
      for (;;) {
        got = sock_.read_some(asio::buffer(buf), ec);
        if (ec != asio::error::would_block) break;
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out_ = true;
          return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      sock_.non_blocking(false);
      timed_out_ = false;
      if (ec) return false;  // end of stream (or reset)
      in_.append(buf, got);
    }
    return true;
  }

  asio::io_context ioc_;
  tcp::socket sock_;
  std::string in_;
  bool timed_out_ = false;
};

class websocket_test : public itest {
 protected:
  std::string target(std::string_view user) {
    return "/ws?token=" + token(user) + "&receiverId=bob";
  }

  // alice's raw connection, upgraded, past its hello and the join of dm:alice:bob; nullptr
  // (failure recorded) if not.
  std::unique_ptr<raw_ws> open() {
    auto c = std::make_unique<raw_ws>(server().port());
    auto head = c->handshake(target("alice"));
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
      ADD_FAILURE() << "upgrade refused: " << head;
      return nullptr;
    }
    // receiverId=bob joins the DM at connect: wait for it, so that a message sent next
    // arrives live (not in the join's history replay).
    if (c->read_type("hello").empty() || c->read_type("joined").empty()) {
      ADD_FAILURE() << "no hello or joined";
      return nullptr;
    }
    return c;
  }
};

TEST_F(websocket_test, handshake_answers101_with_the_accept_key_then_hello) {
  ASSERT_TRUE(start());
  raw_ws c(server().port());
  auto head = c.handshake(target("alice"));
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  // RFC 6455 section 1.3's example key and answer.
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("Upgrade: websocket"), std::string::npos) << head;
  auto hello = c.read_type("hello");
  EXPECT_EQ(str(hello, "user"), "alice");
}

TEST_F(websocket_test, wrong_version_is426_and_bad_key_is400) {
  ASSERT_TRUE(start());
  {
    raw_ws c(server().port());
    auto head = c.handshake(target("alice"), "dGhlIHNhbXBsZSBub25jZQ==", "8");
    EXPECT_EQ(head.rfind("HTTP/1.1 426", 0), 0u) << head;
    EXPECT_NE(head.find("Sec-WebSocket-Version: 13"), std::string::npos) << head;
  }
  {
    raw_ws c(server().port());
    auto head = c.handshake(target("alice"), "not-a-key");
    EXPECT_EQ(head.rfind("HTTP/1.1 400", 0), 0u) << head;
  }
  {
    raw_ws c(server().port());
    auto head = c.handshake(target("alice"), "dGhlIHNhbXBsZSBub25jZQ==", "13", false);
    EXPECT_EQ(head.rfind("HTTP/1.1 400", 0), 0u) << "no Host header: " << head;
  }
}

TEST_F(websocket_test, fragmented_send_with_a_ping_between_fragments) {
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  std::string body = R"({"type":"send","text":"in three pieces","cid":"frag-1"})";
  std::string bytes = client_frame(1, body.substr(0, 10), false);
  bytes += client_frame(9, "are you there");  // a control frame between fragments
  bytes += client_frame(0, body.substr(10, 20), false);
  bytes += client_frame(0, body.substr(30), true);
  c.write(bytes);
  auto pong = c.read_until_op(10);
  EXPECT_EQ(pong.payload, "are you there");
  auto ack = c.read_type("ack");
  EXPECT_EQ(str(ack, "cid"), "frag-1");
  auto msg = c.read_type("message");
  EXPECT_EQ(str(msg, "text"), "in three pieces");
}

TEST_F(websocket_test, frames_split_across_reads_and_several_in_one_write) {
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  // A 300-byte text (16-bit length) one byte per write, then two frames in one write.
  std::string text(300, 'x');
  c.write_slowly(client_frame(1, R"({"type":"send","text":")" + text + R"(","cid":"slow"})"));
  EXPECT_EQ(str(c.read_type("ack"), "cid"), "slow");
  c.write(client_frame(1, R"({"type":"send","text":"a","cid":"two-1"})") +
          client_frame(1, R"({"type":"send","text":"b","cid":"two-2"})"));
  EXPECT_EQ(str(c.read_type("ack"), "cid"), "two-1");
  EXPECT_EQ(str(c.read_type("ack"), "cid"), "two-2");
}

TEST_F(websocket_test, client_close_is_echoed_then_the_stream_ends) {
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  c.write(client_frame(8, close_payload(1000, "bye")));
  auto f = c.read_until_op(8);
  EXPECT_EQ(f.close_code(), 1000);
  EXPECT_TRUE(c.ended());
}

TEST_F(websocket_test, close_without_a_code_is_answered_with1000) {
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  c.write(client_frame(8, ""));
  auto f = c.read_until_op(8);
  EXPECT_EQ(f.close_code(), 1000);
  EXPECT_TRUE(c.ended());
}

TEST_F(websocket_test, the_stream_stays_open_without_a_close) {
  // The check the close tests rely on: ended() is false for a live connection.
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  EXPECT_FALSE(c.ended());
}

TEST_F(websocket_test, a_server_close_waits_for_the_echo_then_ends_the_stream) {
  ASSERT_TRUE(start());
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  c.write(client_frame(1, "bad \xFF utf-8"));
  auto f = c.read_until_op(8);
  EXPECT_EQ(f.close_code(), 1007);
  EXPECT_FALSE(c.ended()) << "the server waits for the client's close frame";
  c.write(client_frame(8, close_payload(1007)));
  EXPECT_TRUE(c.ended());
}

TEST_F(websocket_test, an_oversized_frame_closes1009_without_reading_it) {
  ASSERT_TRUE(start({"--max-frame-bytes", "1000"}));
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  // A header that declares 2^40 bytes, and a little of it.
  std::string h = {char(0x81), char(0x80 | 127), 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  c.write(h + std::string(100, 'x'));
  auto f = c.read_until_op(8);
  EXPECT_EQ(f.close_code(), 1009);
  EXPECT_TRUE(c.ended()) << "no close frame can be read after it: the server ends the stream";
}

TEST_F(websocket_test, protocol_errors_close1002) {
  ASSERT_TRUE(start());
  auto expect_1002 = [&](const std::string& bytes, const char* what) {
    auto conn = open();
    ASSERT_TRUE(conn);
    auto& c = *conn;
    c.write(bytes);
    auto f = c.read_until_op(8);
    EXPECT_EQ(f.close_code(), 1002) << what;
    EXPECT_TRUE(c.ended()) << what;
  };
  expect_1002(client_frame(1, R"({"type":"ping"})", true, false), "an unmasked frame");
  expect_1002(client_frame(0, "orphan"), "a continuation without a message");
  expect_1002(client_frame(1, "a", false) + client_frame(1, "b"), "a new message mid-message");
  expect_1002(client_frame(9, std::string(126, 'p')), "a control frame over 125 bytes");
  expect_1002(client_frame(9, "x", false), "a fragmented control frame");
  expect_1002(client_frame(3, "x"), "a reserved opcode");
  std::string rsv = client_frame(1, "x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  expect_1002(rsv, "an RSV bit without an extension");
  expect_1002(client_frame(8, close_payload(1005)), "a close code that may not be sent");
}

TEST_F(websocket_test, server_pings_and_the_server_still_answers_after_a_pong) {
  ASSERT_TRUE(start({"--ping-interval", "1"}));
  auto conn = open();
  ASSERT_TRUE(conn);
  auto& c = *conn;
  auto ping = c.read_until_op(9);
  ASSERT_EQ(ping.op, 9);
  c.write(client_frame(10, ping.payload));
  c.write(client_frame(1, R"({"type":"send","text":"after pong","cid":"p1"})"));
  EXPECT_EQ(str(c.read_type("ack"), "cid"), "p1");
}

}  // namespace
}  // namespace parley::itest
