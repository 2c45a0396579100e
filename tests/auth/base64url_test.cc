#include "auth/base64url.h"

#include <gtest/gtest.h>

namespace parley::auth {
namespace {

TEST(base64url, round_trips_every_length) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    auto encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes += static_cast<char>(i * 37 + 250);
  }
}

TEST(base64url, known_vectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(base64url_decode("eyJhbGciOiJIUzI1NiJ9"), std::string(R"({"alg":"HS256"})"));
}

TEST(base64url, refuses_non_canonical_input) {
  EXPECT_FALSE(base64url_decode("Zg=="));   // padding
  EXPECT_FALSE(base64url_decode("Zm9v+"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Z"));   // 1 mod 4
  EXPECT_FALSE(base64url_decode("Zh"));  // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Zm9 "));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

}  // namespace
}  // namespace parley::auth
