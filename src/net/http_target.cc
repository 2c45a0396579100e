#include "net/http_target.h"

#include <boost/url/parse.hpp>

namespace parley::net {

std::optional<http_target> parse_target(std::string_view target) {
  auto u = boost::urls::parse_origin_form(target);
  if (!u) return std::nullopt;
  http_target t;
  for (auto seg : u->segments()) t.path += "/" + seg;  // decoded
  if (t.path.empty()) t.path = "/";
  for (auto param : u->params()) t.query[param.key] = param.value;
  return t;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path.substr(path.empty() ? 0 : 1)) {
    if (c == '/') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

std::optional<std::string> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  return std::string(authorization.substr(scheme.size()));
}

}  // namespace parley::net
