// parse_url and the JSON conveniences of ws_client: the parts of client.h without Beast.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <cctype>

#include "client/client.h"

namespace parley::client {

std::optional<url_parts> parse_url(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  url_parts out;
  out.scheme = u.scheme();
  for (char& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.scheme != "ws" && out.scheme != "http") return std::nullopt;
  if (!u.has_authority() || u.has_userinfo()) return std::nullopt;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv6:
      out.host = u.host_ipv6_address().to_string();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::name:
      out.host = u.host();  // percent-decoded
      break;
    default:  // none or IPvFuture
      return std::nullopt;
  }
  if (out.host.empty()) return std::nullopt;
  if (u.has_port() && !u.port().empty()) {
    out.port = u.port();
    // Boost.URL accepts any digit string; a usable port is 1..65535.
    if (out.port.size() > 5 || std::stoul(out.port) == 0 || std::stoul(out.port) > 65535)
      return std::nullopt;
  } else {
    out.port = "80";
  }
  out.target = u.encoded_path();
  if (out.target.empty()) out.target = "/";
  if (out.target.front() != '/') return std::nullopt;
  if (u.has_query()) {
    out.target += '?';
    out.target += u.encoded_query();
  }
  return out;
}

bool ws_client::send_json(const boost::json::object& o) {
  return send_text(boost::json::serialize(o));
}

std::optional<boost::json::object> ws_client::recv_json(std::chrono::milliseconds timeout) {
  auto text = recv(timeout);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace parley::client
