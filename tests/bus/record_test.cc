// The bus record codec (protocol.md section 7): round trips and every malformed input.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "bus/bus.h"

namespace parley::bus {
namespace {

record message_record() {
  record r;
  r.type = kind::message;
  r.room = "g:team";
  r.node = "node-a";
  r.seq = 42;
  r.id = "m-1";
  r.from = "alice";
  r.text = "hello \"world\" \xc3\xa9\n";
  r.ts = 1'700'000'000'123;
  r.cid = "c-9";
  return r;
}

TEST(record_codec, message_round_trip) {
  record in = message_record();
  in.origin_session = "s-1";  // in-process only
  auto out = decode(encode(in));
  ASSERT_TRUE(out) << out.error().message();
  const record& r = out.value();
  EXPECT_EQ(r.type, kind::message);
  EXPECT_EQ(r.room, in.room);
  EXPECT_EQ(r.node, in.node);
  EXPECT_EQ(r.seq, in.seq);
  EXPECT_EQ(r.id, in.id);
  EXPECT_EQ(r.from, in.from);
  EXPECT_EQ(r.text, in.text);
  EXPECT_EQ(r.ts, in.ts);
  EXPECT_EQ(r.cid, in.cid);
  EXPECT_TRUE(r.origin_session.empty());
}

TEST(record_codec, message_without_cid_encodes_null) {
  record in = message_record();
  in.cid.reset();
  std::string text = encode(in);
  auto v = boost::json::parse(text).as_object();
  EXPECT_TRUE(v.at("cid").is_null());
  EXPECT_EQ(v.at("v").as_int64(), 1);
  EXPECT_EQ(v.at("kind").as_string(), "message");
  auto out = decode(text);
  ASSERT_TRUE(out);
  EXPECT_FALSE(out.value().cid.has_value());
}

TEST(record_codec, other_kinds_round_trip) {
  record rd;
  rd.type = kind::read;
  rd.room = "d:alice:bob";
  rd.user = "bob";
  rd.seq = 7;
  rd.node = "n";
  auto a = decode(encode(rd));
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value().type, kind::read);
  EXPECT_EQ(a.value().user, "bob");
  EXPECT_EQ(a.value().seq, 7);

  record ty;
  ty.type = kind::typing;
  ty.room = "g:x";
  ty.user = "carol";
  ty.node = "n";
  auto b = decode(encode(ty));
  ASSERT_TRUE(b);
  EXPECT_EQ(b.value().type, kind::typing);
  EXPECT_EQ(b.value().user, "carol");
  EXPECT_EQ(b.value().room, "g:x");

  record mb;
  mb.type = kind::membership;
  mb.room = "g:x";
  mb.user = "dave";
  mb.op = "remove";
  mb.by = "alice";
  mb.seq = 12;
  mb.node = "n";
  auto c = decode(encode(mb));
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().type, kind::membership);
  EXPECT_EQ(c.value().op, "remove");
  EXPECT_EQ(c.value().by, "alice");
  EXPECT_EQ(c.value().seq, 12);
  EXPECT_EQ(c.value().node, "n");
}

TEST(record_codec, accepts_unknown_fields_and_missing_node) {
  auto r = decode(R"({"v":1,"kind":"typing","room":"g:x","user":"u","extra":[1,2]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().node, "");
}

TEST(record_codec, rejects_every_bad_record) {
  const char* bad[] = {
      "",
      "not json",
      "{\"v\":1,",
      "[1,2,3]",
      "\"a string\"",
      "null",
      "{}",
      // version
      R"({"kind":"typing","room":"g:x","user":"u"})",
      R"({"v":2,"kind":"typing","room":"g:x","user":"u"})",
      R"({"v":"1","kind":"typing","room":"g:x","user":"u"})",
      R"({"v":1.0,"kind":"typing","room":"g:x","user":"u"})",
      // kind / room
      R"({"v":1,"room":"g:x","user":"u"})",
      R"({"v":1,"kind":"shout","room":"g:x","user":"u"})",
      R"({"v":1,"kind":7,"room":"g:x","user":"u"})",
      R"({"v":1,"kind":"typing","user":"u"})",
      R"({"v":1,"kind":"typing","room":5,"user":"u"})",
      // message fields
      R"({"v":1,"kind":"message","room":"r","id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":"1","id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":0,"id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":-3,"id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1.5,"id":"i","from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"from":"f","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"id":"i","text":"t","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"id":"i","from":"f","ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"id":"i","from":"f","text":3,"ts":1})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"id":"i","from":"f","text":"t"})",
      R"({"v":1,"kind":"message","room":"r","seq":1,"id":"i","from":"f","text":"t","ts":"1"})",
      // read / typing / membership fields
      R"({"v":1,"kind":"read","room":"r","user":"u"})",
      R"({"v":1,"kind":"read","room":"r","user":"u","seq":"3"})",
      R"({"v":1,"kind":"read","room":"r","seq":3})",
      R"({"v":1,"kind":"typing","room":"r"})",
      R"({"v":1,"kind":"typing","room":"r","user":null})",
      R"({"v":1,"kind":"membership","room":"r","user":"u"})",
      R"({"v":1,"kind":"membership","room":"r","user":"u","op":"ban"})",
      R"({"v":1,"kind":"membership","room":"r","user":"u","op":1})",
      R"({"v":1,"kind":"membership","room":"r","op":"add"})",
  };
  for (const char* text : bad) {
    auto r = decode(text);
    EXPECT_FALSE(r) << "accepted: " << text;
    if (!r) {
      EXPECT_EQ(r.error(), make_error_code(errc::bad_record)) << text;
    }
  }
}

TEST(record_codec, survives_binary_garbage) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919) & 0xff));
  EXPECT_FALSE(decode(junk));
  EXPECT_FALSE(decode(std::string_view("\0\0\0", 3)));
  std::string deep(100'000, '[');
  EXPECT_FALSE(decode(deep));
}

}  // namespace
}  // namespace parley::bus
