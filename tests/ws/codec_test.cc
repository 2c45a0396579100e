// ws codec: client frame headers (every length form and every refusal), unmasking, server
// frames, close bodies, UTF-8 and the handshake's accept key; the client side (server frame
// headers, masked frames, a fresh key) that parley bench uses.
#include "ws/codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace parley::ws {
namespace {

std::vector<std::uint8_t> header(std::uint8_t b0, std::uint64_t len, bool masked = true) {
  std::vector<std::uint8_t> h{b0};
  std::uint8_t m = masked ? 0x80 : 0;
  if (len < 126) {
    h.push_back(static_cast<std::uint8_t>(m | len));
  } else if (len < 65536) {
    h.push_back(m | 126);
    h.push_back(static_cast<std::uint8_t>(len >> 8));
    h.push_back(static_cast<std::uint8_t>(len));
  } else {
    h.push_back(m | 127);
    for (int i = 7; i >= 0; --i) h.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
  }
  if (masked) h.insert(h.end(), {1, 2, 3, 4});
  return h;
}

parse_status parse(const std::vector<std::uint8_t>& d, frame_header& h,
                   std::uint64_t max = 1 << 20) {
  return parse_client_header(d, max, h);
}

TEST(ws_codec, parses_every_length_form) {
  for (std::uint64_t len : {0ull, 125ull, 126ull, 65535ull, 65536ull, 1000000ull}) {
    frame_header h;
    auto d = header(0x81, len);
    ASSERT_EQ(parse(d, h, 1 << 21), parse_status::ok) << len;
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(h.op, opcode::text);
    EXPECT_EQ(h.length, len);
    EXPECT_EQ(h.size, d.size());
    std::uint8_t key[4];
    std::memcpy(key, &h.mask, 4);
    EXPECT_EQ(key[0], 1);
    EXPECT_EQ(key[3], 4);
  }
}

TEST(ws_codec, a_header_cut_anywhere_is_incomplete) {
  for (std::uint64_t len : {5ull, 300ull, 70000ull}) {
    auto d = header(0x82, len);
    for (std::size_t n = 0; n < d.size(); ++n) {
      frame_header h;
      std::vector<std::uint8_t> cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_EQ(parse(cut, h), parse_status::incomplete) << len << " cut at " << n;
    }
  }
}

TEST(ws_codec, refuses_what_rfc6455_forbids) {
  frame_header h;
  EXPECT_EQ(parse(header(0x81, 5, false), h), parse_status::protocol_error);  // unmasked
  EXPECT_EQ(parse(header(0xC1, 5), h), parse_status::protocol_error);         // RSV1
  EXPECT_EQ(parse(header(0x83, 5), h), parse_status::protocol_error);         // opcode 3
  EXPECT_EQ(parse(header(0x8B, 5), h), parse_status::protocol_error);         // opcode 11
  EXPECT_EQ(parse(header(0x09, 5), h), parse_status::protocol_error);         // fragmented ping
  EXPECT_EQ(parse(header(0x89, 126), h), parse_status::protocol_error);       // ping > 125
  // Lengths not in their shortest form.
  std::vector<std::uint8_t> d16{0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4};
  EXPECT_EQ(parse(d16, h), parse_status::protocol_error);
  std::vector<std::uint8_t> d64{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
  EXPECT_EQ(parse(d64, h), parse_status::protocol_error);
  std::vector<std::uint8_t> top{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  EXPECT_EQ(parse(top, h), parse_status::protocol_error);  // the most significant bit
}

TEST(ws_codec, a_data_frame_over_the_limit_is_too_big_with_its_length) {
  frame_header h;
  EXPECT_EQ(parse(header(0x81, 1001), h, 1000), parse_status::too_big);
  EXPECT_EQ(h.length, 1001u);
  EXPECT_EQ(parse(header(0x81, 1000), h, 1000), parse_status::ok);
  EXPECT_EQ(parse(header(0x8A, 100), h, 10), parse_status::ok);  // control: its own bound
}

TEST(ws_codec, unmask_is_its_own_inverse_at_every_length) {
  for (std::size_t n : {0u, 1u, 3u, 7u, 8u, 9u, 17u, 1000u}) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + 1);
    std::string orig = s;
    std::uint32_t mask;
    const std::uint8_t key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    std::memcpy(&mask, key, 4);
    auto* p = reinterpret_cast<std::uint8_t*>(s.data());
    unmask(p, n, mask);
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_EQ(static_cast<std::uint8_t>(s[i]), static_cast<std::uint8_t>(orig[i]) ^ key[i % 4])
          << n << " at " << i;
    unmask(p, n, mask);
    EXPECT_EQ(s, orig);
  }
}

TEST(ws_codec, server_frames_use_the_shortest_length_form) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    std::string out = "x";  // appends, keeps what was there
    append_frame(out, opcode::text, std::string(n, 'a'));
    std::size_t hs = n < 126 ? 2 : n < 65536 ? 4 : 10;
    ASSERT_EQ(out.size(), 1 + hs + n) << n;
    EXPECT_EQ(static_cast<std::uint8_t>(out[1]), 0x81);
    auto b1 = static_cast<std::uint8_t>(out[2]);
    EXPECT_EQ(b1 & 0x80, 0);  // never masked
    EXPECT_EQ(b1, n < 126 ? n : n < 65536 ? 126 : 127);
  }
}

TEST(ws_codec, close_frames_and_bodies) {
  std::string out;
  append_close(out, 1009, std::string(200, 'r'));
  ASSERT_EQ(out.size(), 2u + 125u);  // reason cut so that the body is 125 bytes
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x88);
  auto ci = parse_close(out.substr(2));
  EXPECT_EQ(ci.code, 1009);
  EXPECT_EQ(ci.error, 0);
  out.clear();
  append_close(out, 0, "ignored");
  EXPECT_EQ(out, std::string("\x88\x00", 2));

  // A reason cut to fit is cut between characters (each of these is 3 bytes).
  out.clear();
  std::string korean = "a";  // so that byte 123 falls inside a character
  for (int i = 0; i < 60; ++i) korean += "\xec\x95\x88";
  append_close(out, 1000, korean);
  EXPECT_EQ(out.size(), 2u + 2u + 121u);
  EXPECT_EQ(parse_close(out.substr(2)).error, 0);

  EXPECT_EQ(parse_close("").code, 1005);
  EXPECT_EQ(parse_close("").error, 0);
  EXPECT_EQ(parse_close("x").error, 1002);
  EXPECT_EQ(parse_close(std::string("\x03\xed", 2)).error, 1002);  // 1005 may not be sent
  EXPECT_EQ(parse_close(std::string("\x03\xe7", 2)).error, 1002);  // 999
  EXPECT_EQ(parse_close(std::string("\x0f\xa1", 2)).error, 0);     // 4001: application code
  EXPECT_EQ(parse_close(std::string("\x03\xe8\xff", 3)).error, 1007);
}

TEST(ws_codec, utf8) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xec\x95\x88\xeb\x85\x95"));  // Korean
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x98\x80"));          // an emoji
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xe2\x82"));      // cut short
}

TEST(ws_codec, accept_key_and_client_key) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(valid_client_key(""));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25j!Q=="));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQAA"));
}

TEST(ws_codec, the_client_side_reads_server_frames_and_refuses_masked_ones) {
  for (std::size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    std::string out;
    append_frame(out, opcode::text, std::string(n, 'z'));
    const auto* d = reinterpret_cast<const std::uint8_t*>(out.data());
    frame_header h;
    ASSERT_EQ(parse_server_header({d, out.size()}, 1 << 20, h), parse_status::ok) << n;
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(h.op, opcode::text);
    EXPECT_EQ(h.length, n);
    EXPECT_EQ(h.mask, 0u);
    EXPECT_EQ(h.size + n, out.size());
    // Cut anywhere inside the header: incomplete.
    for (std::size_t k = 0; k < h.size; ++k)
      EXPECT_EQ(parse_server_header({d, k}, 1 << 20, h), parse_status::incomplete) << n << " " << k;
    // parleyd's parser refuses it (unmasked), as the client side refuses a masked frame.
    EXPECT_EQ(parse_client_header({d, out.size()}, 1 << 20, h), parse_status::protocol_error);
  }
  frame_header h;
  auto masked = header(0x81, 5, true);
  EXPECT_EQ(parse_server_header(masked, 1 << 20, h), parse_status::protocol_error);
  auto big = header(0x81, 2000, false);
  EXPECT_EQ(parse_server_header(big, 1000, h), parse_status::too_big);
  EXPECT_EQ(parse_server_header(header(0xC1, 5, false), 1 << 20, h), parse_status::protocol_error);
}

TEST(ws_codec, a_masked_client_frame_reads_back_through_the_server_parser) {
  std::uint32_t mask;
  const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  std::memcpy(&mask, key, 4);
  for (std::size_t n : {0u, 1u, 125u, 126u, 70000u}) {
    std::string payload(n, '\0');
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string out = "x";  // appends, keeps what was there
    append_masked_frame(out, opcode::text, payload, mask);
    auto* d = reinterpret_cast<std::uint8_t*>(out.data() + 1);
    frame_header h;
    ASSERT_EQ(parse_client_header({d, out.size() - 1}, 1 << 20, h), parse_status::ok) << n;
    EXPECT_EQ(h.length, n);
    EXPECT_EQ(h.mask, mask);
    ASSERT_EQ(h.size + n, out.size() - 1);
    if (n > 0) {
      EXPECT_NE(out.substr(1 + h.size), payload);  // masked on the wire
    }
    unmask(d + h.size, n, h.mask);
    EXPECT_EQ(out.substr(1 + h.size), payload) << n;
  }
  // A close frame's body: the code big-endian, then the reason; none for code 0.
  EXPECT_EQ(close_body(1000, "bye"), std::string("\x03\xe8"
                                                 "bye",
                                                 5));
  EXPECT_EQ(close_body(0, "ignored"), "");
  EXPECT_EQ(close_body(4001, std::string(200, 'r')).size(), 125u);
}

TEST(ws_codec, make_client_key_is_a_valid_fresh_key) {
  auto a = make_client_key(), b = make_client_key();
  EXPECT_TRUE(valid_client_key(a)) << a;
  EXPECT_TRUE(valid_client_key(b)) << b;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace parley::ws
