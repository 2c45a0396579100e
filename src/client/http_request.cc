// http_request(): one blocking HTTP/1.1 exchange over Boost.Beast. The async operations
// run on a private io_context on the calling thread so that beast::tcp_stream's expiry
// bounds connect, write and read together.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

#include "client/client.h"

namespace parley::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Answers larger than this are refused (the API never sends anything close to it).
constexpr std::uint64_t k_body_limit = 64 * 1024 * 1024;

http_response network_error(const std::string& what) {
  http_response r;
  r.body = what;
  return r;
}

http::verb to_verb(const std::string& method) {
  std::string upper = method;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return http::string_to_verb(upper);
}

http_response run_request(const url_parts& base, http::verb verb, const std::string& target,
                          const std::string& body, const std::optional<std::string>& bearer,
                          std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{verb, target.empty() ? base.target : target, 11};
  http::response_parser<http::string_body> parser;
  parser.body_limit(k_body_limit);
  error_code result;
  std::string stage;

  req.set(http::field::host, base.host.find(':') != std::string::npos
                                 ? "[" + base.host + "]:" + base.port
                                 : base.host + ":" + base.port);
  req.set(http::field::user_agent, "parley-client");
  req.set(http::field::connection, "close");
  if (bearer) req.set(http::field::authorization, "Bearer " + *bearer);
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }

  auto fail = [&](const char* what, error_code ec) {
    stage = what;
    result = ec;
  };
  // The resolver has no timeout of its own; a timer cancels it with the same deadline.
  asio::steady_timer resolve_timer(ioc, timeout);
  resolve_timer.async_wait([&](error_code ec) {
    if (!ec) resolver.cancel();
  });
  resolver.async_resolve(base.host, base.port, [&](error_code ec, tcp::resolver::results_type rs) {
    resolve_timer.cancel();
    if (ec) return fail("resolve", ec);
    stream.expires_after(timeout);
    stream.async_connect(rs, [&](error_code ec, const tcp::endpoint&) {
      if (ec) return fail("connect", ec);
      error_code ignored;
      stream.socket().set_option(tcp::no_delay(true), ignored);
      http::async_write(stream, req, [&](error_code ec, std::size_t) {
        if (ec) return fail("write", ec);
        http::async_read(stream, buffer, parser, [&](error_code ec, std::size_t) {
          if (ec) return fail("read", ec);
          error_code ignored;
          stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    });
  });
  ioc.run();

  if (result) {
    if (result == beast::error::timeout || result == asio::error::operation_aborted)
      return network_error(stage + ": timed out");
    return network_error(stage + ": " + result.message());
  }
  http_response out;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = out.headers.emplace(std::move(name), std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());  // RFC 9110 5.3
  }
  return out;
}

}  // namespace

http_response http_request(const std::string& base, const std::string& method,
                           const std::string& target, const std::string& body,
                           const std::optional<std::string>& bearer,
                           std::chrono::milliseconds timeout) {
  auto parts = parse_url(base);
  if (!parts) return network_error("malformed url: " + base);
  http::verb verb = to_verb(method);
  if (verb == http::verb::unknown) return network_error("unknown method: " + method);
  try {
    return run_request(*parts, verb, target, body, bearer, timeout);
  } catch (const std::exception& e) {
    return network_error(e.what());
  }
}

}  // namespace parley::client
