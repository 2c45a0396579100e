#pragma once
// One client connection's chat state: its rooms, per-room delivery position, and the
// handling of every client frame. net owns the socket and gives the connection an
// `emitter`; the connection never sees a socket.
//
// Delivery rule (architecture.md): per joined room the connection keeps `last`, the
// highest seq it has delivered. A message record with seq <= last is dropped (duplicate),
// seq == last + 1 is delivered, a later one waits up to gap_wait for the missing ones and
// then the gap is filled with one range read from the store. While a join's snapshot is
// being read, live records are buffered and replayed through the same rule afterwards, so
// the seam between history and live has no gap and no repeat.
//
// Threads: every member function except post_*() runs on the connection's strand (the
// executor given at construction). post_*() may be called from any thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/container/devector.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "bus/bus.h"
#include "chat/frames.h"
#include "chat/rooms.h"

namespace parley::chat {

class service;

// Implemented by net's WebSocket session. Called on the strand only.
class emitter {
 public:
  virtual ~emitter() = default;
  // Queues one text frame; `is_message` marks a live `message` frame (metrics).
  virtual void emit(frame_ptr frame, bool is_message) = 0;
  // Sends an `error` frame for `ec` (net maps it to the wire code) and closes the
  // connection when the code says so (token_expired, unauthorized: 4001).
  virtual void emit_error(std::error_code ec, const std::string& message,
                          const std::optional<std::string>& ref,
                          const std::optional<std::string>& rid) = 0;
  // Closes the connection for `why` (e.g. errc::flooded); net chooses the close code.
  virtual void close(std::error_code why) = 0;
};

enum class delivery { message, notify, ephemeral, added, removed };

class connection : public std::enable_shared_from_this<connection> {
 public:
  // The connection's strand, typed: a post to it is per delivery, and through
  // any_io_executor every post would copy and query the type-erased executor.
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

  connection(service& svc, strand_type strand, std::weak_ptr<emitter> out, std::string user,
             std::string session, std::int64_t exp_ms);
  ~connection();

  const std::string& user() const { return user_; }
  const std::string& session() const { return session_; }

  // Registers with the router, arms the token-expiry timer and joins `default_room` (its
  // `joined` and `history` frames follow the caller's `hello`).
  void start(std::optional<std::string> default_room);
  void on_text(std::string_view text);
  // Unregisters and cancels timers. Idempotent.
  void stop();

  // From the router (any thread).
  void post_record(bus::record_ptr r, frame_ptr frame, delivery what);

 private:
  // A `message` frame waiting for its turn, and what the ack-first rule needs of it: the
  // cid when the message is this user's own (else nothing).
  struct waiting {
    frame_ptr frame;
    std::optional<std::string> own_cid;
  };
  struct subscription {
    enum class state { replaying, live } st = state::replaying;
    std::int64_t last = 0;
    std::uint64_t generation = 0;
    std::map<std::int64_t, waiting> pending;  // by seq, beyond last + 1
    std::unique_ptr<boost::asio::steady_timer> gap_timer;
    bool gap_fill_in_flight = false;
    bool gap_armed = false;
  };

  void handle(client_frame f);
  void do_send(client_frame f);
  void do_join(std::string room, std::optional<std::int64_t> since, std::optional<std::string> rid);
  void finish_join(const std::string& room, std::uint64_t generation,
                   std::optional<std::int64_t> since, result<join_snapshot> snap,
                   const std::optional<std::string>& rid);
  void do_leave(const std::string& room, const std::optional<std::string>& rid);
  void do_history(client_frame f);
  void do_read(client_frame f);
  void do_typing(client_frame f);
  void do_auth(client_frame f);

  using subscriptions = std::unordered_map<std::string, subscription>;
  // Forgets a joined room: its gap timer, what it buffered, the router's subscription.
  void drop_subscription(subscriptions::iterator it);
  void on_record(const bus::record_ptr& r, const frame_ptr& frame, delivery what);
  void deliver_message(const bus::record& r, subscription& s, const frame_ptr& frame);
  void drain_pending(subscription& s);
  // The cid by which the ack-first rule may hold a message (see unacked_): its cid when
  // `sender` is this connection's user.
  std::optional<std::string> own_cid(const std::string& sender,
                                     const std::optional<std::string>& cid) const;
  // Whether the ack-first rule holds the message now: a send of this connection with its
  // cid is waiting for its answer.
  bool held(const std::string& sender, const std::optional<std::string>& cid) const;
  bool held(const waiting& w) const;
  void send_answered(const std::optional<std::string>& cid);
  void arm_gap_timer(const std::string& room, subscription& s);
  void fill_gap(const std::string& room);
  void emit(std::string frame, bool is_message = false);
  void error(std::error_code ec, std::string message, std::optional<std::string> ref,
             std::optional<std::string> rid);
  void arm_expiry();
  // Runs `work` on the store pool and `then(result)` back on the strand; a full pool is
  // `then(errc::overloaded)`.
  template <class Work, class Then>
  void blocking(Work work, Then then);

  service& svc_;
  strand_type strand_;
  std::weak_ptr<emitter> out_;
  std::string user_;
  std::string session_;
  std::int64_t exp_ms_;
  std::optional<std::string> default_room_;
  subscriptions subs_;
  boost::asio::steady_timer expiry_timer_;
  // ms of recent errors (flood control); a devector allocates nothing until used.
  boost::container::devector<std::int64_t> error_times_;
  bool stopped_ = false;
  // Sends of this connection waiting for their answer, by cid (a count: the same cid may be
  // sent again before the first answer). A live copy of the user's own message carrying
  // such a cid is held back (with everything after it in that room) until the answer is
  // out, so that `ack` precedes the sender's own copy even for a repeated send whose
  // original was published before (protocol.md, ack). For a new message the ack is always
  // first anyway (it is posted before the publish).
  std::unordered_map<std::string, int> unacked_;
};

}  // namespace parley::chat
