// frame_reader: client input in any split becomes whole messages and control frames;
// fragments are joined, limits and protocol errors end the input with one failure.
#include "ws/frame_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parley::ws {
namespace {

std::string client_frame(opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  append_masked_frame(out, op, payload, 0x11223344);
  if (!fin) out[0] = static_cast<char>(out[0] & 0x7f);
  return out;
}

struct seen {
  event::kind type;
  opcode op;
  std::string payload;
  std::uint16_t code;
};

// Feeds `wire` in chunks of `chunk` bytes and records every event.
std::vector<seen> read_all(frame_reader& r, std::string wire, std::size_t chunk) {
  std::vector<seen> out;
  for (std::size_t at = 0; at < wire.size(); at += chunk) {
    std::string part = wire.substr(at, chunk);
    r.feed(reinterpret_cast<std::uint8_t*>(part.data()), part.size(), [&](const event& ev) {
      out.push_back({ev.type, ev.op, std::string(ev.payload), ev.close_code});
      return true;
    });
  }
  return out;
}

TEST(frame_reader, whole_messages_and_control_frames_in_any_split) {
  std::string wire = client_frame(opcode::text, "hello") + client_frame(opcode::ping, "p") +
                     client_frame(opcode::text, std::string(300, 'x')) +
                     client_frame(opcode::close, std::string("\x03\xe8", 2));
  for (std::size_t chunk : {1u, 2u, 7u, 64u, 4096u}) {
    frame_reader r(1 << 16);
    auto ev = read_all(r, wire, chunk);
    ASSERT_EQ(ev.size(), 4u) << chunk;
    EXPECT_EQ(ev[0].type, event::kind::message);
    EXPECT_EQ(ev[0].payload, "hello");
    EXPECT_EQ(ev[1].type, event::kind::ping);
    EXPECT_EQ(ev[1].payload, "p");
    EXPECT_EQ(ev[2].payload, std::string(300, 'x'));
    EXPECT_EQ(ev[3].type, event::kind::close);
  }
}

TEST(frame_reader, fragments_are_joined_with_control_frames_between) {
  std::string wire = client_frame(opcode::text, "ab", false) + client_frame(opcode::ping, "") +
                     client_frame(opcode::continuation, "cd", false) +
                     client_frame(opcode::continuation, "ef");
  frame_reader r(1 << 16);
  auto ev = read_all(r, wire, 3);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].type, event::kind::fragment);
  EXPECT_EQ(ev[1].type, event::kind::ping);
  EXPECT_EQ(ev[2].type, event::kind::fragment);
  EXPECT_EQ(ev[3].type, event::kind::message);
  EXPECT_EQ(ev[3].op, opcode::text);
  EXPECT_EQ(ev[3].payload, "abcdef");
}

TEST(frame_reader, protocol_errors_end_the_input_with_one_failure) {
  struct {
    std::string wire;
    std::uint16_t code;
  } cases[] = {
      {client_frame(opcode::continuation, "x"), 1002},  // no message
      {client_frame(opcode::text, "a", false) + client_frame(opcode::text, "b"), 1002},  // nested
      {client_frame(opcode::text, std::string(100, 'x')), 1009},                         // too big
      {client_frame(opcode::text, std::string(60, 'x'), false) +
           client_frame(opcode::continuation, std::string(60, 'y')),
       1009},  // the message, not a frame, over the limit
  };
  for (auto& c : cases) {
    frame_reader r(64);
    auto ev = read_all(r, c.wire + client_frame(opcode::text, "after"), 5);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().type, event::kind::failure);
    EXPECT_EQ(ev.back().code, c.code);
    EXPECT_TRUE(r.stopped());
  }
  std::string unmasked = "\x81\x01x";  // a client frame must be masked
  frame_reader r(64);
  auto ev = read_all(r, unmasked, 16);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].code, 1002);
}

TEST(frame_reader, stop_and_a_false_callback_take_nothing_more) {
  std::string wire = client_frame(opcode::text, "one") + client_frame(opcode::text, "two");
  frame_reader r(1 << 16);
  int n = 0;
  r.feed(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size(), [&](const event&) {
    ++n;
    r.stop();
    return true;
  });
  EXPECT_EQ(n, 1);
  std::string more = client_frame(opcode::text, "three");
  r.feed(reinterpret_cast<std::uint8_t*>(more.data()), more.size(), [&](const event&) {
    ++n;
    return true;
  });
  EXPECT_EQ(n, 1);

  frame_reader q(1 << 16);
  std::string again = client_frame(opcode::text, "one") + client_frame(opcode::text, "two");
  n = 0;
  q.feed(reinterpret_cast<std::uint8_t*>(again.data()), again.size(), [&](const event&) {
    ++n;
    return false;
  });
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace parley::ws
