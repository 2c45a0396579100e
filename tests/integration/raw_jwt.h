#pragma once
// Hand-made JWTs for the negative authentication cases of protocol.md section 1 (alg none,
// missing claims, bad subjects) that auth::mint_hs256 deliberately cannot produce.
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::itest {

std::string base64url(std::string_view bytes);
// header.payload.signature with the given JSON texts, signed HS256 with `secret`.
std::string jwt_hs256(std::string_view header_json, std::string_view payload_json,
                      std::string_view secret);
// header.payload. with `{"alg":"none"}` and an empty signature.
std::string jwt_alg_none(std::string_view payload_json);
// A fresh RSA-2048 key pair as PEM texts (SubjectPublicKeyInfo / PKCS#8).
struct rsa_key_pair {
  std::string public_pem;
  std::string private_pem;
};
rsa_key_pair make_rsa_key();
// header.payload.signature signed RS256 with `private_pem`; "" on failure.
std::string jwt_rs256(std::string_view header_json, std::string_view payload_json,
                      const std::string& private_pem);
// Unix seconds now + `delta_s`.
std::int64_t unix_s(std::int64_t delta_s = 0);
std::int64_t unix_ms();

}  // namespace parley::itest
