// protocol.md section 1: authentication before the upgrade and on a live connection.
#include <cstdio>

#include "auth/jwt.h"
#include "harness.h"
#include "raw_jwt.h"

namespace parley::itest {
namespace {

constexpr std::string_view k_hs_header = R"({"alg":"HS256","typ":"JWT"})";

class auth_test : public itest {
 protected:
  // Connecting with `url` must be refused with 401 and the JSON body of section 1.
  void expect_401(const std::string& url, const client::connect_options& opts = {}) {
    client::connect_error err;
    auto ws = raw_connect(url, opts, &err);
    ASSERT_EQ(ws, nullptr) << "upgrade accepted: " << url;
    EXPECT_EQ(err.http_status, 401) << err.body;
    boost::system::error_code ec;
    auto v = json::parse(err.body, ec);
    ASSERT_FALSE(ec) << "body is not JSON: " << err.body;
    ASSERT_TRUE(v.is_object()) << err.body;
    EXPECT_EQ(str(v.as_object(), "error"), "unauthorized") << err.body;
    EXPECT_TRUE(v.as_object().contains("message")) << err.body;
  }
  std::string payload(std::string_view sub_json, std::int64_t exp_s) {
    return std::string(R"({"sub":)") + std::string(sub_json) + R"(,"exp":)" +
           std::to_string(exp_s) + "}";
  }
};

TEST_F(auth_test, missing_token_is401_json) {
  ASSERT_TRUE(start());
  expect_401(server().ws_base() + "/ws");
}

TEST_F(auth_test, garbage_token_is401) {
  ASSERT_TRUE(start());
  expect_401(ws_url("not-a-jwt"));
}

TEST_F(auth_test, expired_token_is401) {
  ASSERT_TRUE(start());
  // Well beyond the default 30 s skew.
  expect_401(ws_url(auth::mint_hs256(server().secret(), "alice", unix_s(-3600))));
}

TEST_F(auth_test, alg_none_is401) {
  ASSERT_TRUE(start());
  expect_401(ws_url(jwt_alg_none(payload(R"("alice")", unix_s(3600)))));
}

TEST_F(auth_test, wrong_key_is401) {
  ASSERT_TRUE(start());
  expect_401(ws_url(auth::mint_hs256("some-other-secret", "alice", unix_s(3600))));
}

TEST_F(auth_test, missing_exp_is401) {
  ASSERT_TRUE(start());
  expect_401(ws_url(jwt_hs256(k_hs_header, R"({"sub":"alice"})", server().secret())));
}

TEST_F(auth_test, missing_sub_is401) {
  ASSERT_TRUE(start());
  std::string p = R"({"exp":)" + std::to_string(unix_s(3600)) + "}";
  expect_401(ws_url(jwt_hs256(k_hs_header, p, server().secret())));
}

TEST_F(auth_test, bad_sub_is401) {
  ASSERT_TRUE(start());
  const std::string too_long = "\"" + std::string(129, 'a') + "\"";
  for (std::string sub : {std::string(R"("a:b")"), std::string(R"("has space")"),
                          std::string(R"("")"), too_long, std::string("true"), std::string("1.5"),
                          std::string("9007199254740992"), std::string(R"({"x":1})")}) {
    SCOPED_TRACE("sub = " + sub);
    expect_401(ws_url(jwt_hs256(k_hs_header, payload(sub, unix_s(3600)), server().secret())));
  }
}

TEST_F(auth_test, nbf_in_future_is401) {
  ASSERT_TRUE(start());
  std::string p = R"({"sub":"alice","exp":)" + std::to_string(unix_s(7200)) + R"(,"nbf":)" +
                  std::to_string(unix_s(3600)) + "}";
  expect_401(ws_url(jwt_hs256(k_hs_header, p, server().secret())));
}

TEST_F(auth_test, token_in_query_works) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  EXPECT_EQ(str(c->hello, "user"), "alice");
}

TEST_F(auth_test, token_in_header_works) {
  ASSERT_TRUE(start());
  client::connect_options opts;
  opts.bearer = token("alice");
  client::connect_error err;
  auto ws = raw_connect(server().ws_base() + "/ws", opts, &err);
  ASSERT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  conn c{std::move(ws), "alice"};
  auto hello = expect_next(c, "hello");
  EXPECT_EQ(str(hello, "user"), "alice");
}

TEST_F(auth_test, bad_token_in_header_is401) {
  ASSERT_TRUE(start());
  client::connect_options opts;
  opts.bearer = auth::mint_hs256("some-other-secret", "alice", unix_s(3600));
  expect_401(server().ws_base() + "/ws", opts);
}

TEST_F(auth_test, integer_sub_is_its_decimal_string) {
  ASSERT_TRUE(start());
  std::string tok = jwt_hs256(k_hs_header, payload("42", unix_s(3600)), server().secret());
  client::connect_error err;
  auto ws = raw_connect(ws_url(tok), {}, &err);
  ASSERT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  conn c{std::move(ws), "42"};
  auto hello = expect_next(c, "hello");
  EXPECT_EQ(str(hello, "user"), "42");
}

TEST_F(auth_test, issuer_and_audience_are_checked_when_configured) {
  ASSERT_TRUE(start({"--jwt-issuer", "https://issuer.example", "--jwt-audience", "parley"}));
  const auto exp = unix_s(3600);
  const auto& key = server().secret();
  // Right issuer and audience: accepted.
  {
    client::connect_error err;
    auto ws = raw_connect(
        ws_url(auth::mint_hs256(key, "alice", exp, "https://issuer.example", "parley")), {}, &err);
    EXPECT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  }
  // aud as an array containing ours: accepted.
  {
    std::string p = R"({"sub":"alice","exp":)" + std::to_string(exp) +
                    R"(,"iss":"https://issuer.example","aud":["other","parley"]})";
    client::connect_error err;
    auto ws = raw_connect(ws_url(jwt_hs256(k_hs_header, p, key)), {}, &err);
    EXPECT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  }
  expect_401(ws_url(auth::mint_hs256(key, "alice", exp)));
  expect_401(ws_url(auth::mint_hs256(key, "alice", exp, "https://evil.example", "parley")));
  expect_401(ws_url(auth::mint_hs256(key, "alice", exp, "https://issuer.example", "other")));
}

TEST_F(auth_test, rs256_with_public_key_and_no_algorithm_confusion) {
  const rsa_key_pair kp = make_rsa_key();
  ASSERT_FALSE(kp.public_pem.empty());
  server_ = std::make_unique<server_process>(
      std::vector<std::string>{"--jwt-public-key", "{dir}/jwt.pub.pem"});
  {
    std::FILE* f = std::fopen((server_->dir() + "/jwt.pub.pem").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fwrite(kp.public_pem.data(), 1, kp.public_pem.size(), f);
    std::fclose(f);
  }
  ASSERT_TRUE(server_->start()) << server_->error();
  const std::string p = payload(R"("alice")", unix_s(3600));
  const std::string rs = jwt_rs256(R"({"alg":"RS256","typ":"JWT"})", p, kp.private_pem);
  ASSERT_FALSE(rs.empty());
  client::connect_error err;
  auto ws = raw_connect(ws_url(rs), {}, &err);
  ASSERT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  conn c{std::move(ws), "alice"};
  EXPECT_EQ(str(expect_next(c, "hello"), "user"), "alice");
  // The public key used as an HMAC secret must not verify (RS/HS confusion).
  expect_401(ws_url(jwt_hs256(k_hs_header, p, kp.public_pem)));
  // A tampered RS256 signature fails.
  std::string tampered = rs;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  expect_401(ws_url(tampered));
}

TEST_F(auth_test, tokens_never_appear_in_logs) {
  ASSERT_TRUE(start({"--log-level", "debug"}));
  std::vector<std::string> tokens;
  // Accepted in the query and in the header, refreshed, refused.
  tokens.push_back(token("alice"));
  {
    client::connect_error err;
    auto ws = raw_connect(ws_url(tokens.back(), "receiverId=bob"), {}, &err);
    ASSERT_NE(ws, nullptr) << err.body;
    conn c{std::move(ws), "alice"};
    expect_next(c, "hello");
    tokens.push_back(auth::mint_hs256(server().secret(), "alice", unix_s(7200)));
    c.send({{"type", "auth"}, {"token", tokens.back()}});
    expect_frame(c, "auth_ok");
    tokens.push_back(token("mallory"));
    c.send({{"type", "auth"}, {"token", tokens.back()}});
    expect_closed(c, 4001);
  }
  {
    client::connect_options opts;
    tokens.push_back(token("bob"));
    opts.bearer = tokens.back();
    client::connect_error err;
    auto ws = raw_connect(server().ws_base() + "/ws", opts, &err);
    ASSERT_NE(ws, nullptr) << err.body;
  }
  tokens.push_back(auth::mint_hs256("some-other-secret", "carol", unix_s(3600)));
  expect_401(ws_url(tokens.back()));
  tokens.push_back(auth::mint_hs256(server().secret(), "dave", unix_s(-3600)));
  expect_401(ws_url(tokens.back()));
  EXPECT_EQ(http("erin", "GET", "/api/rooms").status, 200);
  // Give the server a moment to flush its log lines for the above.
  client::http_request(server().http_base(), "GET", "/healthz");
  const std::string log = server().log();
  for (const auto& t : tokens) {
    // The signature alone is enough to leak a token.
    const std::string sig = t.substr(t.rfind('.') + 1);
    EXPECT_EQ(log.find(sig), std::string::npos) << "token signature in the log";
  }
  EXPECT_EQ(log.find(server().secret()), std::string::npos) << "secret in the log";
}

TEST_F(auth_test, refresh_with_new_token_is_auth_ok) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  const std::int64_t exp_s = unix_s(7200);
  c->send({{"type", "auth"},
           {"token", auth::mint_hs256(server().secret(), "alice", exp_s)},
           {"rid", "r-auth"}});
  auto ok = expect_next(*c, "auth_ok");
  EXPECT_EQ(str(ok, "rid"), "r-auth");
  EXPECT_EQ(num(ok, "exp"), exp_s * 1000);
  // Still usable.
  c->send({{"type", "ping"}});
  expect_next(*c, "pong");
}

TEST_F(auth_test, refresh_with_other_sub_is_unauthorized_and_closes4001) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  c->send({{"type", "auth"}, {"token", token("mallory")}, {"rid", "r-auth"}});
  auto err = expect_next(*c, "error");
  EXPECT_EQ(str(err, "code"), "unauthorized");
  EXPECT_EQ(str(err, "rid"), "r-auth");
  expect_closed(*c, 4001);
}

TEST_F(auth_test, refresh_with_invalid_token_is_unauthorized_and_closes4001) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  c->send(
      {{"type", "auth"}, {"token", auth::mint_hs256("some-other-secret", "alice", unix_s(3600))}});
  auto err = expect_next(*c, "error");
  EXPECT_EQ(str(err, "code"), "unauthorized");
  expect_closed(*c, 4001);
}

// Token expiry needs a small skew; `--jwt-skew-ms` is config.h's jwt_skew_ms. If parleyd
// refuses the flag (exit 2) these tests are skipped rather than waiting 30 s.
class expiry_test : public auth_test {
 protected:
  bool start_with_small_skew() {
    server_ = std::make_unique<server_process>(std::vector<std::string>{"--jwt-skew-ms", "0"});
    if (server_->start()) return true;
    if (server_->exit_status() == 2) {
      skipped_ = true;
      return false;
    }
    ADD_FAILURE() << "parleyd did not start: " << server_->error();
    return false;
  }
  bool skipped_ = false;
};

TEST_F(expiry_test, token_expiry_on_live_connection_closes4001) {
  if (!start_with_small_skew()) {
    if (skipped_) GTEST_SKIP() << "parleyd does not accept --jwt-skew-ms";
    FAIL();
  }
  // exp has second resolution: 2 s ahead expires within (1, 2] s.
  const std::string tok = auth::mint_hs256(server().secret(), "alice", unix_s(2));
  client::connect_error cerr;
  auto ws = raw_connect(ws_url(tok), {}, &cerr);
  ASSERT_NE(ws, nullptr) << "HTTP " << cerr.http_status << " " << cerr.body;
  conn c{std::move(ws), "alice"};
  expect_next(c, "hello");
  auto err = expect_frame(c, "error", 6s);
  EXPECT_EQ(str(err, "code"), "token_expired");
  expect_closed(c, 4001);
}

TEST_F(expiry_test, refresh_before_expiry_keeps_connection) {
  if (!start_with_small_skew()) {
    if (skipped_) GTEST_SKIP() << "parleyd does not accept --jwt-skew-ms";
    FAIL();
  }
  const std::string tok = auth::mint_hs256(server().secret(), "alice", unix_s(2));
  client::connect_error cerr;
  auto ws = raw_connect(ws_url(tok), {}, &cerr);
  ASSERT_NE(ws, nullptr) << "HTTP " << cerr.http_status << " " << cerr.body;
  conn c{std::move(ws), "alice"};
  expect_next(c, "hello");
  const std::int64_t exp_s = unix_s(3600);
  c.send({{"type", "auth"}, {"token", auth::mint_hs256(server().secret(), "alice", exp_s)}});
  auto ok = expect_next(c, "auth_ok");
  EXPECT_EQ(num(ok, "exp"), exp_s * 1000);
  // Past the old expiry: no token_expired, still open.
  assert_no_frame(c, "error", 3s);
  c.send({{"type", "ping"}});
  expect_frame(c, "pong");
  EXPECT_TRUE(c.ws->is_open());
}

}  // namespace
}  // namespace parley::itest
