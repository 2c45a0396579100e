// http_target: request targets, paths and bearer tokens, parsed without a server.
#include "net/http_target.h"

#include <gtest/gtest.h>

namespace parley::net {
namespace {

TEST(http_target, path_segments_are_decoded_and_the_query_kept) {
  auto t = parse_target("/api/rooms/g%3Aab/messages?limit=5&after=3&limit=7");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/api/rooms/g:ab/messages");
  EXPECT_EQ(t->query.at("limit"), "7");  // the last one
  EXPECT_EQ(t->query.at("after"), "3");
  auto root = parse_target("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->path, "/");
  EXPECT_TRUE(root->query.empty());
}

TEST(http_target, malformed_targets_are_refused) {
  EXPECT_FALSE(parse_target("http://example.com/x"));  // not origin-form
  EXPECT_FALSE(parse_target("/a%zz"));
  EXPECT_FALSE(parse_target(""));
}

TEST(http_target, split_path_keeps_empty_segments) {
  EXPECT_EQ(split_path("/api/rooms/x"), (std::vector<std::string>{"api", "rooms", "x"}));
  EXPECT_EQ(split_path("/a//b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split_path("/api/rooms/"), (std::vector<std::string>{"api", "rooms", ""}));
}

TEST(http_target, bearer_tokens) {
  EXPECT_EQ(bearer_token("Bearer abc.def"), "abc.def");
  EXPECT_EQ(bearer_token("bEaReR x"), "x");
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token("Basic abc"));
  EXPECT_FALSE(bearer_token(""));
}

}  // namespace
}  // namespace parley::net
