#pragma once
// write_behind_stream: the layer under a WebSocket stream that coalesces its writes.
//
// Beast writes each WebSocket frame with its own write on the next layer, so a connection
// that has ten frames queued makes ten sendmsg() calls (on loopback each one also runs the
// receiver's TCP input path). This layer copies each write into a pending buffer and
// completes it at once; one socket write is in flight at a time, and when it completes,
// everything that accumulated meanwhile goes out in ONE write. Byte order is preserved for
// every writer (our frames, and Beast's own pongs and close frames), because they all pass
// through here.
//
// Back-pressure is kept: when more than `limit` bytes wait behind the write in flight, a
// write completes only after that socket write finished, so the WebSocket write stays in
// flight and the session's bounded queue fills (and overflows with 1008) as before. A write
// that finds nothing pending and no write in flight and is at least `limit` bytes goes
// straight to the socket from the caller's buffers (no copy).
//
// After a socket write failed, every later write fails with the same error. Teardown
// (websocket close) waits until what is pending went out, then tears down the next layer.
//
// Threads: like any Asio stream, one strand: every call and completion on the executor.
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace parley::net {

template <class NextLayer>
class write_behind_stream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;
  using write_handler =
      boost::asio::any_completion_handler<void(boost::beast::error_code, std::size_t)>;
  using flush_handler = boost::asio::any_completion_handler<void(boost::beast::error_code)>;

  template <class... Args>
  explicit write_behind_stream(std::size_t limit, Args&&... args)
      : next_(std::forward<Args>(args)...), limit_(limit) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  // Socket writes made (for tests and metrics).
  std::size_t socket_writes() const noexcept { return socket_writes_; }

  // The object that owns this stream: kept alive while a socket write is in flight, since
  // that write completes after the WebSocket write that caused it.
  void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return next_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  // Synchronous writes never block: they append to the pending buffer (whatever its size;
  // the caller bounds it with pending_bytes()) and start a socket write if none is in
  // flight. This is how a session hands over all its queued frames at once (Beast frames
  // each one with a synchronous write into this buffer) and then waits with async_flush.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& b, boost::beast::error_code& ec) {
    ec = error_;
    if (ec) return 0;
    const std::size_t n = append(b);
    if (!writing_) schedule_write();
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& b) {
    boost::beast::error_code ec;
    auto n = write_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& b, boost::beast::error_code& ec) {
    return next_.read_some(b, ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& b) {
    return next_.read_some(b);
  }

  // Bytes accepted and not yet handed to a socket write.
  std::size_t pending_bytes() const noexcept { return pending_.size(); }
  // At least `limit` bytes wait: a writer that bounds itself should wait with async_flush.
  bool full() const noexcept { return pending_.size() >= limit_; }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) { initiate_write(std::move(h), b); }, handler,
        buffers);
  }

  // Completes when everything written so far went to the socket (or failed).
  template <class Handler>
  void async_flush(Handler&& handler) {
    if (!writing_ && pending_.empty()) {
      return post(boost::beast::bind_front_handler(std::forward<Handler>(handler), error_));
    }
    flush_waiters_.emplace_back(std::forward<Handler>(handler));
  }

 private:
  // Copies `b` to the end of the pending bytes; returns its size.
  template <class ConstBufferSequence>
  std::size_t append(const ConstBufferSequence& b) {
    const std::size_t n = boost::asio::buffer_size(b);
    const std::size_t old = pending_.size();
    pending_.resize(old + n);
    boost::asio::buffer_copy(boost::asio::buffer(pending_.data() + old, n), b);
    return n;
  }

  template <class Handler>
  void post(Handler&& h) {
    boost::asio::post(get_executor(), std::forward<Handler>(h));
  }

  template <class Handler, class ConstBufferSequence>
  void initiate_write(Handler h, const ConstBufferSequence& b) {
    const std::size_t n = boost::asio::buffer_size(b);
    if (error_) return post(boost::beast::bind_front_handler(std::move(h), error_, 0));
    if (!writing_ && pending_.empty() && n >= limit_) {
      // Large and alone: straight from the caller's buffers.
      writing_ = true;
      ++socket_writes_;
      boost::asio::async_write(next_, b,
                               [this, keep = owner_.lock(), h = std::move(h)](
                                   boost::beast::error_code ec, std::size_t written) mutable {
                                 after_socket_write(ec);
                                 std::move(h)(ec, written);
                               });
      return;
    }
    append(b);
    if (!writing_) start_write();
    if (!writing_ || pending_.size() <= limit_) {
      return post(boost::beast::bind_front_handler(std::move(h), boost::beast::error_code{}, n));
    }
    // Over the limit behind a write in flight: complete when that write is done.
    parked_ = write_handler(std::move(h));
    parked_bytes_ = n;
  }

  // The socket write of what synchronous writes appended, started after the current
  // handler returns (so that everything it appends goes in the same write).
  void schedule_write() {
    writing_ = true;
    boost::asio::post(get_executor(), [this, keep = owner_.lock()] {
      writing_ = false;
      if (error_) return after_socket_write({});
      if (!pending_.empty())
        start_write();
      else
        after_socket_write({});
    });
  }

  void start_write() {
    writing_ = true;
    ++socket_writes_;
    inflight_.swap(pending_);
    pending_.clear();
    boost::asio::async_write(
        next_, boost::asio::buffer(inflight_),
        [this, keep = owner_.lock()](boost::beast::error_code ec, std::size_t) {
          inflight_.clear();
          after_socket_write(ec);
        });
  }

  // Runs in a completion handler: may invoke the parked and flush handlers directly.
  void after_socket_write(boost::beast::error_code ec) {
    writing_ = false;
    if (ec && !error_) error_ = ec;
    if (!error_ && !pending_.empty()) start_write();
    if (parked_ && (error_ || pending_.size() <= limit_)) {
      auto h = std::move(*parked_);
      parked_.reset();
      std::move(h)(error_, error_ ? 0 : parked_bytes_);
    }
    if (!flush_waiters_.empty() && (error_ || !writing_)) {
      // Several may wait (the session's batch and a close's teardown): all complete.
      auto waiters = std::move(flush_waiters_);
      flush_waiters_.clear();
      for (auto& h : waiters) std::move(h)(error_);
    }
  }

  NextLayer next_;
  std::size_t limit_;
  std::string pending_;   // written by the caller, not yet on the socket
  std::string inflight_;  // the socket write in flight
  bool writing_ = false;
  boost::beast::error_code error_;
  std::optional<write_handler> parked_;
  std::size_t parked_bytes_ = 0;
  std::vector<flush_handler> flush_waiters_;
  std::size_t socket_writes_ = 0;
  std::weak_ptr<void> owner_;
};

// WebSocket teardown (close handshake done): flush what is pending, then the next layer's.
template <class NextLayer>
void teardown(boost::beast::role_type role, write_behind_stream<NextLayer>& s,
              boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, write_behind_stream<NextLayer>& s,
                    TeardownHandler&& handler) {
  s.async_flush([role, &s, handler = std::forward<TeardownHandler>(handler)](
                    boost::beast::error_code) mutable {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, s.next_layer(), std::move(handler));
  });
}

}  // namespace parley::net
