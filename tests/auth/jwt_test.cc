#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "auth/base64url.h"

namespace parley::auth {
namespace {

// A fixed "now" so that every expiry below is exact.
constexpr std::int64_t k_now_s = 1'700'000'000;
constexpr std::int64_t k_now = k_now_s * 1000;
constexpr std::int64_t k_skew = 30'000;
const std::string k_secret = "test-secret-0123456789abcdef";

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  static const unsigned char empty = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.empty() ? &empty : u8(key),
                      key.size(), u8(data), data.size(), out, sizeof out, &len),
            nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// DER signature (RSA PKCS#1 v1.5 or ECDSA) over SHA-256.
std::string sign_der(EVP_PKEY* key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, u8(data), data.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, u8(data),
                           data.size()),
            1);
  sig.resize(len);
  return sig;
}

// The JWS form of an ES256 signature: R || S, 32 bytes each.
std::string sign_es256_raw(EVP_PKEY* key, std::string_view data) {
  std::string der = sign_der(key, data);
  const unsigned char* p = u8(der);
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), &ECDSA_SIG_free);
  EXPECT_TRUE(sig);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32), 32);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32), 32);
  return raw;
}

using signer = std::function<std::string(std::string_view signing_input)>;

std::string make_token(std::string_view header, std::string_view payload, const signer& sign) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign(input));
}

std::string payload(std::string_view sub = "alice", std::int64_t exp_s = k_now_s + 3600) {
  return R"({"sub":")" + std::string(sub) + R"(","exp":)" + std::to_string(exp_s) + "}";
}

const std::string k_hs_header = R"({"alg":"HS256","typ":"JWT"})";
const std::string k_rs_header = R"({"alg":"RS256","typ":"JWT"})";
const std::string k_es_header = R"({"alg":"ES256","typ":"JWT"})";

class jwt_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
    ec_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ASSERT_NE(rsa_, nullptr);
    ASSERT_NE(ec_, nullptr);
    rsa_pem_ = public_pem(rsa_);
    ec_pem_ = public_pem(ec_);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
  }

  static std::shared_ptr<const verifier> make(verifier_options o) {
    auto v = verifier::make(o);
    EXPECT_TRUE(v) << v.error().message();
    return v ? v.value() : nullptr;
  }
  static std::shared_ptr<const verifier> hs(verifier_options o = {}) {
    o.hs256_secret = k_secret;
    return make(o);
  }
  static std::shared_ptr<const verifier> rs() {
    verifier_options o;
    o.public_key_pem = rsa_pem_;
    return make(o);
  }
  static std::shared_ptr<const verifier> es() {
    verifier_options o;
    o.public_key_pem = ec_pem_;
    return make(o);
  }

  static signer hs_signer(std::string key = k_secret) {
    return [key](std::string_view in) { return hmac(key, in); };
  }
  static signer rs_signer() {
    return [](std::string_view in) { return sign_der(rsa_, in); };
  }
  static signer es_signer() {
    return [](std::string_view in) { return sign_es256_raw(ec_, in); };
  }

  // The error of verifying `token` (std::error_code{} when it verifies).
  static std::error_code error(const verifier& v, std::string_view token,
                               std::int64_t now = k_now) {
    auto r = v.verify(token, now);
    return r ? std::error_code{} : r.error();
  }

  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* ec_ = nullptr;
  static inline std::string rsa_pem_;
  static inline std::string ec_pem_;
};

// ---- the error category ----

TEST(auth_errc, category_name_and_messages) {
  std::error_code ec = errc::expired;
  EXPECT_STREQ(ec.category().name(), "parley.auth");
  EXPECT_EQ(ec.message(), "token expired");
  EXPECT_NE(std::error_code(errc::bad_algorithm).message().find("alg none is not accepted"),
            std::string::npos);
  for (int i = 1; i <= static_cast<int>(errc::bad_key); ++i) {
    std::error_code e(i, errc_category());
    EXPECT_FALSE(e.message().empty());
    EXPECT_NE(e.message(), "unknown auth error") << i;
  }
  EXPECT_EQ(std::error_code(99, errc_category()).message(), "unknown auth error");
  EXPECT_EQ(&errc_category(), &std::error_code(errc::malformed).category());
}

// ---- construction ----

TEST_F(jwt_test, make_refuses_missing_or_unusable_keys) {
  EXPECT_EQ(verifier::make({}).error(), errc::bad_key);
  verifier_options empty_secret;
  empty_secret.hs256_secret = "";
  EXPECT_EQ(verifier::make(empty_secret).error(), errc::bad_key);

  auto with_pem = [](std::string pem) {
    verifier_options o;
    o.public_key_pem = std::move(pem);
    return verifier::make(o);
  };
  EXPECT_EQ(with_pem("").error(), errc::bad_key);
  EXPECT_EQ(with_pem("not a pem").error(), errc::bad_key);
  EXPECT_EQ(with_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").error(),
            errc::bad_key);
  std::string truncated = rsa_pem_.substr(0, rsa_pem_.size() / 2);
  EXPECT_EQ(with_pem(truncated).error(), errc::bad_key);

  pkey_ptr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  pkey_ptr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  pkey_ptr small_rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
  ASSERT_TRUE(p384 && ed && small_rsa);
  EXPECT_EQ(with_pem(public_pem(p384.get())).error(), errc::bad_key);
  EXPECT_EQ(with_pem(public_pem(ed.get())).error(), errc::bad_key);
  EXPECT_EQ(with_pem(public_pem(small_rsa.get())).error(), errc::bad_key);

  EXPECT_TRUE(with_pem(rsa_pem_));
  EXPECT_TRUE(with_pem(ec_pem_));
}

// ---- HS256 ----

TEST_F(jwt_test, hs256_accepts) {
  auto v = hs();
  auto r = v->verify(make_token(k_hs_header, payload(), hs_signer()), k_now);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().sub, "alice");
  EXPECT_EQ(r.value().exp_ms, (k_now_s + 3600) * 1000);
}

TEST_F(jwt_test, minted_token_verifies) {
  auto token = mint_hs256(k_secret, "bob@example.com", k_now_s + 60);
  auto r = hs()->verify(token, k_now);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().sub, "bob@example.com");
  EXPECT_EQ(r.value().exp_ms, (k_now_s + 60) * 1000);

  verifier_options o;
  o.issuer = "parley";
  o.audience = "chat";
  auto strict = hs(o);
  EXPECT_EQ(error(*strict, token), errc::bad_issuer);
  EXPECT_FALSE(error(*strict, mint_hs256(k_secret, "bob", k_now_s + 60, "parley", "chat")));
  EXPECT_EQ(error(*strict, mint_hs256(k_secret, "bob", k_now_s + 60, "parley", "other")),
            errc::bad_audience);
  EXPECT_EQ(error(*hs(), mint_hs256("other-secret", "bob", k_now_s + 60)), errc::bad_signature);
}

TEST_F(jwt_test, random_secret_is32_bytes_of_base64url) {
  auto a = random_secret();
  auto b = random_secret();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  auto raw = base64url_decode(a);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 32u);
  // Usable as a secret straight away.
  verifier_options o;
  o.hs256_secret = a;
  auto v = make(o);
  EXPECT_TRUE(v->verify(mint_hs256(a, "u", k_now_s + 10), k_now));
}

TEST_F(jwt_test, wrong_key_or_tampering_is_bad_signature) {
  auto v = hs();
  EXPECT_EQ(error(*v, make_token(k_hs_header, payload(), hs_signer("wrong"))), errc::bad_signature);

  auto good = make_token(k_hs_header, payload("alice"), hs_signer());
  // Swap in another payload, keep the signature.
  auto dot1 = good.find('.');
  auto dot2 = good.rfind('.');
  auto forged = good.substr(0, dot1 + 1) + base64url_encode(payload("mallory")) + good.substr(dot2);
  EXPECT_EQ(error(*v, forged), errc::bad_signature);
  // Truncated, extended and empty signatures.
  auto sig = *base64url_decode(good.substr(dot2 + 1));
  auto with_sig = [&](std::string_view s) {
    return good.substr(0, dot2 + 1) + base64url_encode(s);
  };
  EXPECT_EQ(error(*v, with_sig(sig.substr(0, 31))), errc::bad_signature);
  EXPECT_EQ(error(*v, with_sig(sig + '\0')), errc::bad_signature);
  EXPECT_EQ(error(*v, with_sig(sig + sig)), errc::bad_signature);
  EXPECT_EQ(error(*v, with_sig("")), errc::bad_signature);
  // A flipped bit in the signature.
  sig[5] ^= 1;
  EXPECT_EQ(error(*v, good.substr(0, dot2 + 1) + base64url_encode(sig)), errc::bad_signature);
}

// ---- algorithms ----

TEST_F(jwt_test, alg_none_is_refused) {
  for (auto* alg : {"none", "None", "NONE", "nOnE"}) {
    std::string header = std::string(R"({"alg":")") + alg + R"("})";
    auto unsigned_token = base64url_encode(header) + "." + base64url_encode(payload()) + ".";
    EXPECT_EQ(error(*hs(), unsigned_token), errc::bad_algorithm) << alg;
    EXPECT_EQ(error(*rs(), unsigned_token), errc::bad_algorithm) << alg;
    // Even with a (meaningless) signature attached.
    EXPECT_EQ(error(*hs(), make_token(header, payload(), hs_signer())), errc::bad_algorithm);
  }
  EXPECT_NE(std::error_code(errc::bad_algorithm).message().find("none"), std::string::npos);
}

TEST_F(jwt_test, unknown_or_unconfigured_algorithms_are_refused) {
  for (auto* alg : {"HS384", "HS512", "RS512", "PS256", "ES384", "EdDSA", "hs256", ""}) {
    std::string header = std::string(R"({"alg":")") + alg + R"("})";
    EXPECT_EQ(error(*hs(), make_token(header, payload(), hs_signer())), errc::bad_algorithm) << alg;
  }
  // An HS secret never verifies RS or ES tokens, whatever they are signed with.
  EXPECT_EQ(error(*hs(), make_token(k_rs_header, payload(), rs_signer())), errc::bad_algorithm);
  EXPECT_EQ(error(*hs(), make_token(k_rs_header, payload(), hs_signer())), errc::bad_algorithm);
  EXPECT_EQ(error(*hs(), make_token(k_es_header, payload(), es_signer())), errc::bad_algorithm);
  // An RSA key never verifies ES256 and an EC key never RS256.
  EXPECT_EQ(error(*rs(), make_token(k_es_header, payload(), es_signer())), errc::bad_algorithm);
  EXPECT_EQ(error(*es(), make_token(k_rs_header, payload(), rs_signer())), errc::bad_algorithm);
}

TEST_F(jwt_test, hs_rs_key_confusion_is_refused) {
  // The classic attack: an HS256 token whose HMAC key is the server's public key PEM.
  auto forged = make_token(k_hs_header, payload("admin"), hs_signer(rsa_pem_));
  EXPECT_EQ(error(*rs(), forged), errc::bad_algorithm);
  auto forged_ec = make_token(k_hs_header, payload("admin"), hs_signer(ec_pem_));
  EXPECT_EQ(error(*es(), forged_ec), errc::bad_algorithm);

  // With both keys configured HS256 is accepted, but only with the secret.
  verifier_options both;
  both.hs256_secret = k_secret;
  both.public_key_pem = rsa_pem_;
  auto v = make(both);
  EXPECT_EQ(error(*v, forged), errc::bad_signature);
  EXPECT_FALSE(error(*v, make_token(k_hs_header, payload(), hs_signer())));
  EXPECT_FALSE(error(*v, make_token(k_rs_header, payload(), rs_signer())));
  // An RS256 token signed with the secret (as HMAC) is no RSA signature.
  EXPECT_EQ(error(*v, make_token(k_rs_header, payload(), hs_signer())), errc::bad_signature);
  EXPECT_EQ(error(*v, make_token(k_es_header, payload(), es_signer())), errc::bad_algorithm);
}

TEST_F(jwt_test, rs256) {
  auto v = rs();
  auto r = v->verify(make_token(k_rs_header, payload("carol"), rs_signer()), k_now);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().sub, "carol");

  pkey_ptr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  auto by_other = make_token(k_rs_header, payload(),
                             [&](std::string_view in) { return sign_der(other.get(), in); });
  EXPECT_EQ(error(*v, by_other), errc::bad_signature);
  EXPECT_EQ(error(*v, make_token(k_rs_header, payload(), [](auto) { return std::string(); })),
            errc::bad_signature);
  EXPECT_EQ(
      error(*v, make_token(k_rs_header, payload(), [](auto) { return std::string(256, 'x'); })),
      errc::bad_signature);
  // Claims are still checked after a good signature.
  EXPECT_EQ(error(*v, make_token(k_rs_header, payload("alice", k_now_s - 3600), rs_signer())),
            errc::expired);
}

TEST_F(jwt_test, es256) {
  auto v = es();
  auto r = v->verify(make_token(k_es_header, payload("dave"), es_signer()), k_now);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().sub, "dave");

  // A DER signature is not the JWS form.
  auto der =
      make_token(k_es_header, payload(), [](std::string_view in) { return sign_der(ec_, in); });
  EXPECT_EQ(error(*v, der), errc::bad_signature);
  // Wrong lengths, zero R/S, a flipped bit, another key.
  for (std::size_t n : {0, 32, 63, 65, 96}) {
    EXPECT_EQ(
        error(*v, make_token(k_es_header, payload(), [n](auto) { return std::string(n, '\1'); })),
        errc::bad_signature)
        << n;
  }
  EXPECT_EQ(
      error(*v, make_token(k_es_header, payload(), [](auto) { return std::string(64, '\0'); })),
      errc::bad_signature);
  auto flipped = make_token(k_es_header, payload(), [](std::string_view in) {
    auto s = sign_es256_raw(ec_, in);
    s[40] ^= 0x10;
    return s;
  });
  EXPECT_EQ(error(*v, flipped), errc::bad_signature);
  pkey_ptr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  auto by_other = make_token(k_es_header, payload(),
                             [&](std::string_view in) { return sign_es256_raw(other.get(), in); });
  EXPECT_EQ(error(*v, by_other), errc::bad_signature);
}

// ---- time claims ----

TEST_F(jwt_test, expiry_with_skew_on_both_sides) {
  auto v = hs();
  auto at = [&](std::string exp) {
    return make_token(k_hs_header, R"({"sub":"alice","exp":)" + exp + "}", hs_signer());
  };
  // Expired iff exp + skew <= now.
  EXPECT_EQ(error(*v, at(std::to_string(k_now_s - 31))), errc::expired);
  EXPECT_EQ(error(*v, at(std::to_string(k_now_s - 30))), errc::expired);
  EXPECT_FALSE(error(*v, at(std::to_string(k_now_s - 29))));
  EXPECT_FALSE(error(*v, at(std::to_string(k_now_s))));
  // Fractional NumericDates, at millisecond resolution.
  EXPECT_FALSE(error(*v, at(std::to_string(k_now_s - 30) + ".001")));
  EXPECT_EQ(error(*v, at(std::to_string(k_now_s - 30) + ".0")), errc::expired);
  auto r = v->verify(at(std::to_string(k_now_s) + ".5"), k_now);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().exp_ms, k_now + 500);
  // A zero skew is exact.
  verifier_options strict;
  strict.skew_ms = 0;
  auto v0 = hs(strict);
  EXPECT_EQ(error(*v0, at(std::to_string(k_now_s))), errc::expired);
  EXPECT_FALSE(error(*v0, at(std::to_string(k_now_s) + ".001")));
  // The caller's clock, not ours, decides.
  EXPECT_EQ(error(*v, at(std::to_string(k_now_s)), k_now + 31'000), errc::expired);
  // Extreme values neither overflow nor wrap around.
  EXPECT_EQ(error(*v, at("-9223372036854775808")), errc::expired);
  EXPECT_EQ(error(*v, at("-1e300")), errc::expired);
  EXPECT_FALSE(error(*v, at("9223372036854775807")));
  EXPECT_FALSE(error(*v, at("18446744073709551615")));
  auto far = v->verify(at("1e300"), k_now);
  ASSERT_TRUE(far);
  EXPECT_LT(far.value().exp_ms, std::int64_t{9'223'372'036'854});  // fits system_clock in ns
}

TEST_F(jwt_test, exp_must_be_present_and_numeric) {
  auto v = hs();
  EXPECT_EQ(error(*v, make_token(k_hs_header, R"({"sub":"alice"})", hs_signer())),
            errc::missing_claim);
  for (auto* exp : {R"("1700003600")", "null", "true", "[1700003600]", "{}"}) {
    auto t =
        make_token(k_hs_header, std::string(R"({"sub":"alice","exp":)") + exp + "}", hs_signer());
    EXPECT_EQ(error(*v, t), errc::malformed) << exp;
  }
}

TEST_F(jwt_test, not_before_with_skew) {
  auto v = hs();
  auto with_nbf = [&](std::string nbf) {
    return make_token(
        k_hs_header,
        R"({"sub":"alice","exp":)" + std::to_string(k_now_s + 3600) + R"(,"nbf":)" + nbf + "}",
        hs_signer());
  };
  // Not yet valid iff nbf - skew > now.
  EXPECT_FALSE(error(*v, with_nbf(std::to_string(k_now_s - 100))));
  EXPECT_FALSE(error(*v, with_nbf(std::to_string(k_now_s + 30))));
  EXPECT_EQ(error(*v, with_nbf(std::to_string(k_now_s + 31))), errc::not_yet_valid);
  EXPECT_EQ(error(*v, with_nbf(std::to_string(k_now_s + 30) + ".001")), errc::not_yet_valid);
  EXPECT_FALSE(error(*v, with_nbf(std::to_string(k_now_s + 31)), k_now + 1000));
  EXPECT_EQ(error(*v, with_nbf("1e300")), errc::not_yet_valid);
  EXPECT_EQ(error(*v, with_nbf(R"("soon")")), errc::malformed);
  EXPECT_EQ(error(*v, with_nbf("null")), errc::malformed);
}

// ---- iss, aud ----

TEST_F(jwt_test, issuer_when_configured) {
  verifier_options o;
  o.issuer = "https://id.example";
  auto v = hs(o);
  auto with = [&](std::string extra) {
    return make_token(k_hs_header,
                      R"({"sub":"alice","exp":)" + std::to_string(k_now_s + 60) + extra + "}",
                      hs_signer());
  };
  EXPECT_FALSE(error(*v, with(R"(,"iss":"https://id.example")")));
  EXPECT_EQ(error(*v, with("")), errc::bad_issuer);
  EXPECT_EQ(error(*v, with(R"(,"iss":"https://evil.example")")), errc::bad_issuer);
  EXPECT_EQ(error(*v, with(R"(,"iss":"https://id.example/")")), errc::bad_issuer);
  EXPECT_EQ(error(*v, with(R"(,"iss":["https://id.example"])")), errc::bad_issuer);
  EXPECT_EQ(error(*v, with(R"(,"iss":null)")), errc::bad_issuer);
  // Not configured: any iss is fine.
  EXPECT_FALSE(error(*hs(), with(R"(,"iss":"whoever")")));
}

TEST_F(jwt_test, audience_when_configured) {
  verifier_options o;
  o.audience = "parley";
  auto v = hs(o);
  auto with = [&](std::string extra) {
    return make_token(k_hs_header,
                      R"({"sub":"alice","exp":)" + std::to_string(k_now_s + 60) + extra + "}",
                      hs_signer());
  };
  EXPECT_FALSE(error(*v, with(R"(,"aud":"parley")")));
  EXPECT_FALSE(error(*v, with(R"(,"aud":["other","parley"])")));
  EXPECT_EQ(error(*v, with("")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":"other")")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":["other"])")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":[])")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":[["parley"]])")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":1)")), errc::bad_audience);
  EXPECT_EQ(error(*v, with(R"(,"aud":{"parley":true})")), errc::bad_audience);
  EXPECT_FALSE(error(*hs(), with(R"(,"aud":"anything")")));
}

// ---- sub ----

TEST_F(jwt_test, subject_rules) {
  auto v = hs();
  auto with_sub = [&](std::string sub) {
    return v->verify(
        make_token(k_hs_header,
                   R"({"exp":)" + std::to_string(k_now_s + 60) + R"(,"sub":)" + sub + "}",
                   hs_signer()),
        k_now);
  };
  auto sub_of = [&](std::string sub) {
    auto r = with_sub(sub);
    return r ? r.value().sub : "error: " + r.error().message();
  };
  EXPECT_EQ(sub_of(R"("a.b-c_d@e")"), "a.b-c_d@e");
  EXPECT_EQ(sub_of('"' + std::string(128, 'x') + '"'), std::string(128, 'x'));
  // Integers become their decimal string.
  EXPECT_EQ(sub_of("42"), "42");
  EXPECT_EQ(sub_of("0"), "0");
  EXPECT_EQ(sub_of("-7"), "-7");
  EXPECT_EQ(sub_of("9007199254740991"), "9007199254740991");
  EXPECT_EQ(sub_of("-9007199254740991"), "-9007199254740991");

  for (auto* bad : {R"("")", R"("a:b")", R"("dm:a:b")", R"("with space")", R"("é")", R"("tab\t")",
                    "9007199254740992", "-9007199254740992", "18446744073709551615", "42.0",
                    "4.2e1", "1e3", "true", "null", "[]", R"(["alice"])", R"({"id":"alice"})"}) {
    auto r = with_sub(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), errc::bad_subject) << bad;
  }
  EXPECT_EQ(with_sub('"' + std::string(129, 'x') + '"').error(), errc::bad_subject);

  auto no_sub =
      make_token(k_hs_header, R"({"exp":)" + std::to_string(k_now_s + 60) + "}", hs_signer());
  EXPECT_EQ(error(*v, no_sub), errc::missing_claim);
}

// ---- malformed tokens ----

TEST_F(jwt_test, malformed_shapes) {
  auto v = hs();
  const std::string good = make_token(k_hs_header, payload(), hs_signer());
  const std::string h = base64url_encode(k_hs_header);
  const std::string p = base64url_encode(payload());
  std::vector<std::string> shapes = {
      "",
      ".",
      "..",
      "...",
      "abc",
      "a.b",
      h + "." + p,
      good + ".",
      good + "." + good,
      "." + p + ".sig",
      h + "..sig",
      " " + good,
      good + " ",
      good + "\n",
      "Bearer " + good,
      h + "=." + p + "." + good.substr(good.rfind('.') + 1),
      h + "." + p + "=." + good.substr(good.rfind('.') + 1),
      good + "=",
      good + "*",
      std::string(20000, 'a') + "." + p + ".sig",
      base64url_encode("not json") + "." + p + ".sig",
      base64url_encode("[]") + "." + p + ".sig",
      base64url_encode("\"HS256\"") + "." + p + ".sig",
      base64url_encode(R"({"alg":"HS256")") + "." + p + ".sig",
      base64url_encode(R"({"typ":"JWT"})") + "." + p + ".sig",
      base64url_encode(R"({"alg":256})") + "." + p + ".sig",
      base64url_encode(R"({"alg":null})") + "." + p + ".sig",
      base64url_encode(R"({"alg":["HS256"]})") + "." + p + ".sig",
      base64url_encode(std::string(R"({"alg":"HS256","x":")") + "\xff\xfe" + "\"}") + "." + p +
          ".sig",
      std::string(good.size(), '.'),
  };
  for (const auto& t : shapes) EXPECT_EQ(error(*v, t), errc::malformed) << '"' << t << '"';

  // Well signed, but the payload is not a JSON object.
  for (std::string bad_payload :
       {"", "not json", "[]", "null", "42", R"("alice")", R"({"sub":"alice","exp":1)",
        R"({"sub":"alice","exp":1700003600} trailing)", "{\"sub\":\"alice\", /* c */ \"exp\":1}"}) {
    auto t = base64url_encode(k_hs_header) + "." + base64url_encode(bad_payload);
    t += "." + base64url_encode(hmac(k_secret, t));
    if (bad_payload.empty()) {
      EXPECT_EQ(error(*v, t), errc::malformed);  // empty payload part
      continue;
    }
    EXPECT_EQ(error(*v, t), errc::malformed) << bad_payload;
  }
  // An unsupported critical header extension.
  EXPECT_EQ(error(*v, make_token(R"({"alg":"HS256","crit":["b64"],"b64":false})", payload(),
                                 hs_signer())),
            errc::malformed);
  // Unknown header fields and claims are ignored.
  EXPECT_FALSE(error(
      *v, make_token(R"({"alg":"HS256","kid":"k1","x":[1,{}]})",
                     R"({"sub":"alice","exp":1700003600,"iat":1,"extra":{"a":[]}})", hs_signer())));
}

TEST_F(jwt_test, verify_is_thread_safe) {
  auto h = hs();
  auto r = rs();
  auto e = es();
  const auto hs_token = make_token(k_hs_header, payload("h"), hs_signer());
  const auto rs_token = make_token(k_rs_header, payload("r"), rs_signer());
  const auto es_token = make_token(k_es_header, payload("e"), es_signer());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!h->verify(hs_token, k_now) || !r->verify(rs_token, k_now) ||
            !e->verify(es_token, k_now) || r->verify(es_token, k_now))
          ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace parley::auth
