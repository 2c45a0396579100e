#pragma once
// A real chat service for connection tests: SQLite store in a temporary directory, local
// bus, HS256 verifier, an io_context run on its own threads, and a recording emitter.
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "auth/jwt.h"
#include "bus/bus.h"
#include "chat/connection.h"
#include "chat/service.h"
#include "store/store.h"

namespace parley::chat::testing {

inline constexpr const char* k_secret = "chat-test-secret";

// Records every frame, error and close, thread-safely, in order.
class recorder final : public emitter {
 public:
  struct entry {
    std::string frame;  // errors are recorded as an error frame with code = ec.message()
    bool is_message = false;
  };
  struct error_entry {
    std::error_code ec;
    std::string message;
    std::optional<std::string> ref, rid;
  };

  void emit(frame_ptr frame, bool is_message) override;
  void emit_error(std::error_code ec, const std::string& message,
                  const std::optional<std::string>& ref,
                  const std::optional<std::string>& rid) override;
  void close(std::error_code why) override;

  std::vector<entry> frames() const;
  std::vector<error_entry> errors() const;
  std::vector<int> closes() const;
  // Waits until `pred(frames)` holds; false on timeout.
  bool wait(const std::function<bool(const std::vector<entry>&)>& pred,
            std::chrono::milliseconds timeout = std::chrono::seconds(4)) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<entry> frames_;
  std::vector<error_entry> errors_;
  std::vector<int> closes_;
};

// Parsed frames, and the helpers the tests use on them.
std::vector<boost::json::object> parse_all(const std::vector<recorder::entry>& es);
std::string type_of(const boost::json::object& o);
// Seqs of live `message` frames (is_message) of `room`, in emission order.
std::vector<std::int64_t> live_seqs(const std::vector<recorder::entry>& es,
                                    const std::string& room);
std::size_t count_type(const std::vector<recorder::entry>& es, const std::string& type);

struct client {
  std::shared_ptr<recorder> rec;
  std::shared_ptr<connection> conn;
  boost::asio::any_io_executor strand;
};

class env {
 public:
  static service_options default_options();
  explicit env(service_options opts = default_options(), int io_threads = 2);
  ~env();

  service& svc() { return *svc_; }
  store::store& st() { return *store_; }
  bus::bus& bus() { return *bus_; }

  client connect(const std::string& user, const std::string& session,
                 std::optional<std::string> default_room = std::nullopt,
                 std::int64_t exp_ms = far_future());
  static std::int64_t far_future();

  // Runs `fn` on the client's strand and waits for it.
  void on_strand(const client& c, std::function<void()> fn);
  // Delivers one client frame (on the strand) and waits until on_text returned.
  void text(const client& c, const std::string& frame);
  // join and wait for its `joined` frame (and the history after it).
  void join(const client& c, const std::string& room, std::optional<std::int64_t> since = {});

  // Appends straight to the store (no bus record) and returns the stored row.
  store::message append(const std::string& room, const std::string& from, const std::string& text,
                        std::optional<std::string> cid = {});
  static bus::record_ptr record_of(const store::message& m);
  void dispatch(const store::message& m) { svc_->router().dispatch(record_of(m)); }

 private:
  std::string dir_;
  boost::asio::io_context ioc_;
  std::unique_ptr<store::store> store_;
  std::unique_ptr<bus::bus> bus_;
  std::unique_ptr<service> svc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::vector<std::thread> threads_;
  std::vector<client> clients_;
};

inline const std::string R = "dm:alice:bob";  // the room most tests use

// boost::json::value compares with json values and literals, not std::string.
boost::json::value js(std::string_view s);
std::vector<std::int64_t> iota_seqs(std::int64_t first, std::int64_t last);
bool has_live(const recorder& rec, const std::string& room, std::size_t n);
std::vector<boost::json::object> of_type(const client& c, const std::string& type);
// Sends through the service (as the HTTP API or another connection would) and waits.
store::message send_sync(env& e, const std::string& user, const std::string& room,
                         const std::string& text, std::optional<std::string> cid = {});
// Two barriers: the first runs after any handler in flight on the strand, the second
// after whatever that handler posted to the strand.
void settle(env& e, const client& c);

}  // namespace parley::chat::testing
