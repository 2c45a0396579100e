#include <string>

#include "auth/jwt.h"

namespace parley::auth {
namespace {

// The messages reach clients in 401 bodies and logs: they say why, never echo the token.
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.auth"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::malformed:
        return "malformed token";
      case errc::bad_algorithm:
        return "alg not accepted (alg none is not accepted; alg must match the configured key)";
      case errc::bad_signature:
        return "bad signature";
      case errc::expired:
        return "token expired";
      case errc::not_yet_valid:
        return "token not yet valid (nbf)";
      case errc::missing_claim:
        return "missing claim (exp and sub are required)";
      case errc::bad_issuer:
        return "wrong issuer (iss)";
      case errc::bad_audience:
        return "wrong audience (aud)";
      case errc::bad_subject:
        return "sub is not a valid user id";
      case errc::bad_key:
        return "unusable JWT key (none given, or not an RSA or EC P-256 public key)";
    }
    return "unknown auth error";
  }
};

}  // namespace

const std::error_category& errc_category() noexcept {
  static const category c;
  return c;
}

}  // namespace parley::auth
