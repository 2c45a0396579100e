#pragma once
// base64url without padding (RFC 4648 section 5), the encoding of every JWT part. The
// decoder is strict so that a token has exactly one spelling: it refuses padding, any
// character outside the alphabet, an impossible length and non-zero trailing bits.
// Pure functions, any thread.
#include <optional>
#include <string>
#include <string_view>

namespace parley::auth {

std::string base64url_encode(std::string_view bytes);
// std::nullopt when `text` is not canonical unpadded base64url.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace parley::auth
