#pragma once
// Pure parsing of what an HTTP request names: its target (path and query) and its bearer
// token. No I/O, no allocation beyond the results: the fuzz targets call these directly.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::net {

struct http_target {
  std::string path;                          // percent-decoded segments joined by '/'; "/" at least
  std::map<std::string, std::string> query;  // decoded; a repeated key keeps its last value
};

// An origin-form request target ("/api/rooms/g%3Ax?limit=5"); nullopt when malformed.
std::optional<http_target> parse_target(std::string_view target);

// "/api/rooms/x" -> {"api", "rooms", "x"}; an empty segment stays ("/a//b" -> {"a","","b"}).
std::vector<std::string> split_path(std::string_view path);

// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
std::optional<std::string> bearer_token(std::string_view authorization);

}  // namespace parley::net
