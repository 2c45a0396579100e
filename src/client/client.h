#pragma once
// Client pieces shared by the `parley` tool and the integration tests: a WebSocket
// client with a background reader, and a blocking HTTP request helper. Both speak only
// the public protocol (docs/protocol.md).
//
// Threads: a ws_client owns one I/O thread. send_text()/close() may be called from any
// thread; recv() from one consumer thread at a time. Start-up and tests only: errors are
// values, no exceptions escape.
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace parley::client {

struct url_parts {
  std::string scheme;  // "ws" or "http"
  std::string host;
  std::string port;
  std::string target;  // path + query, "/" if empty
};
// Parses ws://host:port/path?q or http://...; nullopt if malformed.
std::optional<url_parts> parse_url(const std::string& url);

struct connect_options {
  std::optional<std::string> bearer;  // sent as Authorization: Bearer
  std::chrono::milliseconds timeout{5000};
  std::string local_address;  // bind to this source address ("" = any)
};

struct connect_error {
  int http_status = 0;  // the HTTP status when the upgrade was refused, 0 on network errors
  std::string body;     // the refusal's body (JSON per protocol.md), or the network error
};

class ws_client {
 public:
  // `url`: ws://host:port/ws?token=...&receiverId=... (the whole target is sent as is).
  // On refusal returns nullptr and fills `err`.
  static std::unique_ptr<ws_client> connect(const std::string& url, const connect_options& opts,
                                            connect_error* err = nullptr);
  virtual ~ws_client() = default;

  // Queues one text frame. Returns false if the connection is closed.
  virtual bool send_text(std::string text) = 0;
  bool send_json(const boost::json::object& o);
  // The next text frame received, waiting at most `timeout`; nullopt on timeout or close.
  virtual std::optional<std::string> recv(std::chrono::milliseconds timeout) = 0;
  // recv() parsed as a JSON object; nullopt on timeout, close or non-object.
  std::optional<boost::json::object> recv_json(std::chrono::milliseconds timeout);
  // Waits until the server closes the connection; returns its close code (or nullopt on
  // timeout). Frames still arriving meanwhile are kept for recv(). A connection that ended
  // without a close frame (reset, EOF, destructor) reports 1006.
  virtual std::optional<int> wait_closed(std::chrono::milliseconds timeout) = 0;
  virtual bool is_open() const = 0;
  // Sends a close frame with `code` and waits briefly for the server's.
  virtual void close(int code = 1000) = 0;
  // Stops reading from the socket (simulates a slow reader); frames pile up server-side.
  // The read already in flight when pausing still completes: at most one more frame.
  virtual void pause_reading(bool paused) = 0;
};

struct http_response {
  int status = 0;  // 0: network error (body says which)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// One blocking HTTP/1.1 request. `base` is http://host:port (ws:// is accepted too).
http_response http_request(const std::string& base, const std::string& method,
                           const std::string& target, const std::string& body = {},
                           const std::optional<std::string>& bearer = std::nullopt,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace parley::client
