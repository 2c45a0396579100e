#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "auth/base64url.h"
#include "base/ids.h"

namespace parley::auth {
namespace {

namespace json = boost::json;

// Tokens travel in a header or a query string; anything this large is not a token we
// issued and would only cost us base64 and JSON work.
constexpr std::size_t k_max_token_bytes = 16 * 1024;

// NumericDates are saturated to +-2^62 ms so that adding the skew cannot overflow.
constexpr std::int64_t k_date_limit_ms = std::int64_t{1} << 62;
// claims::exp_ms is clamped below the range of std::chrono::system_clock (int64
// nanoseconds, year 2262) so callers can turn it into a time_point or a timer safely; a
// token valid past 2255 is, for the server, valid for ever.
constexpr std::int64_t k_max_exp_ms = 9'000'000'000'000;

constexpr std::int64_t k_max_skew_ms = std::int64_t{1} << 40;
constexpr std::int64_t k_max_integer_sub = std::int64_t{1} << 53;  // exclusive, per protocol.md

enum class algorithm { hs256, rs256, es256 };

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct decoder_ctx_free {
  void operator()(OSSL_DECODER_CTX* p) const noexcept { OSSL_DECODER_CTX_free(p); }
};

const unsigned char* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::optional<algorithm> parse_algorithm(std::string_view alg) noexcept {
  if (alg == "HS256") return algorithm::hs256;
  if (alg == "RS256") return algorithm::rs256;
  if (alg == "ES256") return algorithm::es256;
  return std::nullopt;
}

// The HMAC-SHA256 of `input`; an empty string only if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  // A non-null key pointer even for an empty key: EVP_Q_mac treats null as "no key".
  static const unsigned char empty = 0;
  const unsigned char* key_bytes = key.empty() ? &empty : bytes(key);
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_bytes, key.size(), bytes(input),
                input.size(), mac, sizeof mac, &mac_len) == nullptr) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

// Decodes a PEM public key (SubjectPublicKeyInfo, or PKCS#1 for RSA).
pkey_ptr decode_public_key(std::string_view pem) {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, decoder_ctx_free> ctx(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  if (!ctx) return nullptr;
  const unsigned char* data = bytes(pem);
  std::size_t len = pem.size();
  if (OSSL_DECODER_from_data(ctx.get(), &data, &len) != 1) {
    ERR_clear_error();
    EVP_PKEY_free(raw);
    return nullptr;
  }
  return pkey_ptr(raw);
}

// Which JWS algorithm a key verifies: RSA (>= 2048 bits) -> RS256, EC P-256 -> ES256.
std::optional<algorithm> key_algorithm(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    // RFC 7518 3.3: a key of at least 2048 bits MUST be used with RS256.
    if (EVP_PKEY_get_bits(key) < 2048) return std::nullopt;
    return algorithm::rs256;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
      ERR_clear_error();
      return std::nullopt;
    }
    std::string_view name(group, len);
    if (name == "prime256v1" || name == "P-256" || name == "secp256r1") return algorithm::es256;
  }
  return std::nullopt;
}

bool digest_verify(EVP_PKEY* key, std::string_view input, std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input),
                             input.size()) == 1;
  // A failed verification leaves entries on this thread's OpenSSL error queue; they are
  // expected here and must not surface in somebody else's error report.
  ERR_clear_error();
  return ok;
}

// JWS ES256 signatures are the raw 32-byte R and S concatenated (RFC 7518 3.4); EVP
// verifies the DER ECDSA-Sig-Value, so re-encode.
std::optional<std::string> es256_raw_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> sig(ECDSA_SIG_new());
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(bytes(raw), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes(raw) + 32, 32, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ERR_clear_error();
    return std::nullopt;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) {
    ERR_clear_error();
    return std::nullopt;
  }
  return der;
}

// A NumericDate (seconds, integer or fractional) as saturated Unix ms; std::nullopt when
// the value is not a number. `round_up` picks the conservative rounding for the claim.
std::optional<std::int64_t> numeric_date_ms(const json::value& v, bool round_up) {
  if (v.is_int64()) {
    std::int64_t s = v.get_int64();
    if (s > k_date_limit_ms / 1000) return k_date_limit_ms;
    if (s < -k_date_limit_ms / 1000) return -k_date_limit_ms;
    return s * 1000;
  }
  if (v.is_uint64()) return k_date_limit_ms;  // Boost.JSON uses uint64 only above INT64_MAX
  if (v.is_double()) {
    double ms = v.get_double() * 1000.0;
    ms = round_up ? std::ceil(ms) : std::floor(ms);
    if (!(ms < static_cast<double>(k_date_limit_ms))) return k_date_limit_ms;
    if (!(ms > -static_cast<double>(k_date_limit_ms))) return -k_date_limit_ms;
    return static_cast<std::int64_t>(ms);
  }
  return std::nullopt;
}

std::optional<json::object> parse_object(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

class jwt_verifier final : public verifier {
 public:
  jwt_verifier(const verifier_options& opts, pkey_ptr key, algorithm key_alg)
      : secret_(opts.hs256_secret),
        key_(std::move(key)),
        key_alg_(key_alg),
        issuer_(opts.issuer),
        audience_(opts.audience),
        skew_ms_(std::clamp<std::int64_t>(opts.skew_ms, 0, k_max_skew_ms)) {}

  result<claims> verify(std::string_view token, std::int64_t now_ms) const override {
    if (token.size() > k_max_token_bytes) return errc::malformed;
    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return errc::malformed;
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
      return errc::malformed;
    const auto header_b64 = token.substr(0, dot1);
    const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty()) return errc::malformed;

    // The header first: the algorithm decides which key, if any, may check the signature.
    auto header_text = base64url_decode(header_b64);
    if (!header_text) return errc::malformed;
    auto header = parse_object(*header_text);
    if (!header) return errc::malformed;
    const json::value* alg_value = header->if_contains("alg");
    if (alg_value == nullptr || !alg_value->is_string()) return errc::malformed;
    // RFC 7515 4.1.11: extensions listed in `crit` must be understood; we understand none.
    if (header->contains("crit")) return errc::malformed;
    auto alg = parse_algorithm(alg_value->get_string());
    if (!alg) return errc::bad_algorithm;  // `none`, in any case, ends here
    if (!accepts(*alg)) return errc::bad_algorithm;

    auto payload_text = base64url_decode(payload_b64);
    auto signature = base64url_decode(signature_b64);
    if (!payload_text || !signature) return errc::malformed;
    if (!signature_ok(*alg, token.substr(0, dot2), *signature)) return errc::bad_signature;

    // Only authenticated bytes reach the JSON parser.
    auto payload = parse_object(*payload_text);
    if (!payload) return errc::malformed;
    return check_claims(*payload, now_ms);
  }

 private:
  bool accepts(algorithm alg) const noexcept {
    if (alg == algorithm::hs256) return secret_.has_value();
    return key_ != nullptr && key_alg_ == alg;
  }

  bool signature_ok(algorithm alg, std::string_view input, std::string_view signature) const {
    switch (alg) {
      case algorithm::hs256: {
        std::string mac = hmac_sha256(*secret_, input);
        return mac.size() == 32 && signature.size() == 32 &&
               CRYPTO_memcmp(mac.data(), signature.data(), 32) == 0;
      }
      case algorithm::rs256:
        return digest_verify(key_.get(), input, signature);
      case algorithm::es256: {
        auto der = es256_raw_to_der(signature);
        return der && digest_verify(key_.get(), input, *der);
      }
    }
    return false;
  }

  result<claims> check_claims(const json::object& payload, std::int64_t now_ms) const {
    claims out;
    const json::value* exp = payload.if_contains("exp");
    if (exp == nullptr) return errc::missing_claim;
    auto exp_ms = numeric_date_ms(*exp, false);
    if (!exp_ms) return errc::malformed;
    if (*exp_ms + skew_ms_ <= now_ms) return errc::expired;
    out.exp_ms = std::min(*exp_ms, k_max_exp_ms);

    if (const json::value* nbf = payload.if_contains("nbf")) {
      auto nbf_ms = numeric_date_ms(*nbf, true);
      if (!nbf_ms) return errc::malformed;
      if (*nbf_ms - skew_ms_ > now_ms) return errc::not_yet_valid;
    }

    if (issuer_) {
      const json::value* iss = payload.if_contains("iss");
      if (iss == nullptr || !iss->is_string() || iss->get_string() != *issuer_)
        return errc::bad_issuer;
    }

    if (audience_ && !audience_ok(payload.if_contains("aud"))) return errc::bad_audience;

    const json::value* sub = payload.if_contains("sub");
    if (sub == nullptr) return errc::missing_claim;
    if (sub->is_string()) {
      if (!ids::valid_user(sub->get_string())) return errc::bad_subject;
      out.sub = std::string(sub->get_string());
    } else if (sub->is_int64() && sub->get_int64() > -k_max_integer_sub &&
               sub->get_int64() < k_max_integer_sub) {
      out.sub = std::to_string(sub->get_int64());
    } else {
      return errc::bad_subject;
    }
    return out;
  }

  bool audience_ok(const json::value* aud) const {
    if (aud == nullptr) return false;
    if (aud->is_string()) return aud->get_string() == *audience_;
    if (aud->is_array()) {
      const auto& items = aud->get_array();
      return std::any_of(items.begin(), items.end(), [&](const json::value& v) {
        return v.is_string() && v.get_string() == *audience_;
      });
    }
    return false;
  }

  std::optional<std::string> secret_;
  pkey_ptr key_;  // read-only after construction: EVP_PKEY is safe to share across threads
  algorithm key_alg_;
  std::optional<std::string> issuer_;
  std::optional<std::string> audience_;
  std::int64_t skew_ms_;
};

}  // namespace

result<std::shared_ptr<const verifier>> verifier::make(const verifier_options& opts) {
  if (!opts.hs256_secret && !opts.public_key_pem) return errc::bad_key;
  // An empty secret would make every HS256 token forgeable by anyone.
  if (opts.hs256_secret && opts.hs256_secret->empty()) return errc::bad_key;
  pkey_ptr key;
  algorithm key_alg = algorithm::hs256;
  if (opts.public_key_pem) {
    key = decode_public_key(*opts.public_key_pem);
    if (!key) return errc::bad_key;
    auto alg = key_algorithm(key.get());
    if (!alg) return errc::bad_key;
    key_alg = *alg;
  }
  return std::shared_ptr<const verifier>(
      std::make_shared<const jwt_verifier>(opts, std::move(key), key_alg));
}

std::string mint_hs256(std::string_view secret, std::string_view sub, std::int64_t exp_s,
                       std::optional<std::string_view> issuer,
                       std::optional<std::string_view> audience) {
  json::object header;
  header["alg"] = "HS256";
  header["typ"] = "JWT";
  json::object payload;
  payload["sub"] = sub;
  payload["exp"] = exp_s;
  if (issuer) payload["iss"] = *issuer;
  if (audience) payload["aud"] = *audience;
  std::string token = base64url_encode(json::serialize(header));
  token += '.';
  token += base64url_encode(json::serialize(payload));
  std::string mac = hmac_sha256(secret, token);
  if (mac.empty()) throw std::runtime_error("mint_hs256: HMAC-SHA256 failed");
  token += '.';
  token += base64url_encode(mac);
  return token;
}

std::string random_secret() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) {
    ERR_clear_error();
    throw std::runtime_error("random_secret: RAND_bytes failed");
  }
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(buf), sizeof buf));
}

}  // namespace parley::auth
