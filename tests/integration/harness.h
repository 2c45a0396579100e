#pragma once
// The integration tests' fixture and frame helpers. Every test starts its own parleyd
// (port 0, own temporary directory), so ctest may run them all in parallel.
//
// Frame helpers never drop a frame silently: frames read while looking for another type are
// kept in the connection's stash (later helpers see them first), and every failure message
// lists the frames the connection received. Helpers record failures with ADD_FAILURE and
// return an empty object / nullptr, so a test can ASSERT on the result to stop early.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"
#include "server_process.h"

namespace parley::itest {

namespace json = boost::json;
using namespace std::chrono_literals;

// How long to wait for a frame that must come.
inline constexpr std::chrono::milliseconds k_wait{3000};

// One WebSocket connection of a test user.
struct conn {
  conn() = default;
  conn(std::unique_ptr<client::ws_client> w, std::string u)
      : ws(std::move(w)), user(std::move(u)) {}

  std::unique_ptr<client::ws_client> ws;
  std::string user;
  json::object hello;
  std::deque<json::object> stash;  // read but not consumed, oldest first
  std::vector<std::string> seen;   // every frame read, for failure messages (capped)

  bool send(const json::object& o);
  bool send_text(std::string text);
  // The frames seen so far, one per line (for failure messages).
  std::string transcript() const;
};

// Field accessors: "" / `absent` when the field is missing or of another type.
std::string str(const json::object& o, std::string_view key);
std::int64_t num(const json::object& o, std::string_view key, std::int64_t absent = -1);
bool boolean(const json::object& o, std::string_view key, bool absent = false);
bool is_null(const json::object& o, std::string_view key);
const json::array& arr(const json::object& o, std::string_view key);
std::string dump(const json::value& v, std::size_t max = 400);

// The next frame: the stash first, then the wire. nullopt on timeout or close.
std::optional<json::object> next_frame(conn& c, std::chrono::milliseconds timeout = k_wait);
// Strict: the next frame must be of `type`.
json::object expect_next(conn& c, std::string_view type,
                         std::chrono::milliseconds timeout = k_wait);
// Lenient: the first frame of `type` (stash included); other frames stay stashed.
json::object expect_frame(conn& c, std::string_view type,
                          std::chrono::milliseconds timeout = k_wait);
// No frame of `type` arrives within `d` (other frames are stashed).
void assert_no_frame(conn& c, std::string_view type, std::chrono::milliseconds d = 300ms);
// The server closes the connection with `code` within `timeout` (frames before the close are
// stashed).
void expect_closed(conn& c, int code, std::chrono::milliseconds timeout = k_wait);
// Reads frames until `n` `message` frames of `room` arrived (other frames are stashed) and
// returns them in arrival order; fewer on timeout (failure recorded).
std::vector<json::object> collect_messages(conn& c, std::string_view room, std::size_t n,
                                           std::chrono::milliseconds per_frame = k_wait);

std::string dm_room(std::string_view a, std::string_view b);
// Percent-encodes a query value (keeps unreserved characters and ':' '@').
std::string enc(std::string_view s);

// The sum of a metric's samples in Prometheus text (labels ignored); nullopt if absent.
std::optional<double> metric(const std::string& text, std::string_view name);

class itest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts this test's parleyd with extra `flags`. False (failure recorded) if it did not
  // come up.
  bool start(std::vector<std::string> flags = {});
  server_process& server() { return *server_; }

  // An HS256 token for `user` with the server's secret, expiring in `ttl_s` seconds.
  std::string token(std::string_view user, std::int64_t ttl_s = 3600) const;
  // ws://.../ws?token=T[&query]
  std::string ws_url(std::string_view tok, std::string_view query = {}) const;
  // Connects `user` (token in the query) with extra `query` ("receiverId=bob"), reads
  // `hello`. nullptr (failure recorded) if refused.
  std::unique_ptr<conn> connect(std::string_view user, std::string_view query = {});
  // Connects with an explicit URL tail and options; fills `err` on refusal.
  std::unique_ptr<client::ws_client> raw_connect(const std::string& url,
                                                 const client::connect_options& opts,
                                                 client::connect_error* err);
  // An HTTP request with `user`'s bearer token ("" = no Authorization header).
  client::http_response http(std::string_view user, const std::string& method,
                             const std::string& target, const std::string& body = {});
  // POST /api/rooms; the new room id, "" on failure (recorded).
  std::string create_room(std::string_view owner, std::string_view name,
                          const std::vector<std::string>& members);
  // Sends `n` messages to `room` from `c` (cids `<prefix>-<i>`, texts `<prefix> <i>`) and
  // waits for their acks, returned in order. Frames other than ack/error are dropped: use
  // a connection whose other frames do not matter.
  std::vector<json::object> seed(conn& c, std::string_view room, int n,
                                 std::string_view prefix = "seed");

  std::unique_ptr<server_process> server_;
};

}  // namespace parley::itest
