#pragma once
// JWT verification (HS256, RS256, ES256) per protocol.md section 1, and HS256 minting for
// dev mode and the `parley` tools. A verifier is immutable after construction: verify()
// is thread-safe and never blocks (no I/O).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace parley::auth {

enum class errc {
  malformed = 1,  // not three base64url parts, bad JSON, ...
  bad_algorithm,  // alg none, or not the configured algorithm (HS/RS/ES confusion)
  bad_signature,
  expired,        // exp + skew <= now
  not_yet_valid,  // nbf - skew > now
  missing_claim,  // exp or sub absent
  bad_issuer,
  bad_audience,
  bad_subject,  // sub not a valid user id (see ids::valid_user; integers accepted)
  bad_key,      // verifier construction: unreadable/unsupported key
};
PARLEY_ERRC_CATEGORY(parley::auth, errc)

struct claims {
  std::string sub;          // normalised user id (integer sub -> decimal string)
  std::int64_t exp_ms = 0;  // expiry, Unix ms
};

struct verifier_options {
  std::optional<std::string> hs256_secret;    // shared secret (HS256)
  std::optional<std::string> public_key_pem;  // PEM public key: RSA -> RS256, EC P-256 -> ES256
  std::optional<std::string> issuer;          // required `iss` when set
  std::optional<std::string> audience;        // required in `aud` (string or array) when set
  std::int64_t skew_ms = 30'000;
};

class verifier {
 public:
  // bad_key if neither key is given or the PEM cannot be parsed / is not RSA or P-256.
  static result<std::shared_ptr<const verifier>> make(const verifier_options& opts);
  virtual ~verifier() = default;
  // Verifies `token` at time `now_ms`. The error's message() says why, without the token.
  virtual result<claims> verify(std::string_view token, std::int64_t now_ms) const = 0;
};

// An HS256 token for `sub` expiring at `exp_s` (Unix seconds), with optional iss/aud.
std::string mint_hs256(std::string_view secret, std::string_view sub, std::int64_t exp_s,
                       std::optional<std::string_view> issuer = std::nullopt,
                       std::optional<std::string_view> audience = std::nullopt);

// A random secret for dev mode: 32 random bytes, base64url.
std::string random_secret();

}  // namespace parley::auth

PARLEY_ERRC_TRAIT(parley::auth::errc)
