#pragma once
// send_batch: the socket writes that sessions start in one round of the event loop, handed
// to the kernel in ONE system call instead of one sendmsg each.
//
// On the hosts this project is measured on a system call costs more than the work in it
// (docs/benchmarks.md): a message fanned out to 1,000 connections made 1,000 sendmsg calls.
// A session that starts a write calls send(); the first send of a round posts one flush to
// the io_context, which submits every queued send to an io_uring as a non-blocking
// IORING_OP_SEND (MSG_DONTWAIT: each completes during the submit, with the bytes the socket
// took or -EAGAIN, never waiting for a slow reader) and posts each result to its session's
// executor. The session writes what the socket did not take with an ordinary async write.
//
// Fallback: where io_uring is not there or does not behave as above (an older kernel, a
// seccomp profile that refuses it, io_uring_disabled, or `enabled` false), the flush makes
// one non-blocking send() per entry: the same system calls as an asio write. Each I/O
// thread checks its own ring once, when it first flushes (a self-test on a full socket).
//
// Ownership: the caller keeps the bytes and the descriptor valid (open, not reused) until
// its completion ran; websocket_session holds itself in the completion and never closes a
// socket with a send in a batch.
// Threads: send() from any thread; a flush runs on an io_context thread, with that thread's
// ring (thread_local); completions run on the executor given with each send.
#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <functional>
#include <mutex>
#include <vector>

namespace parley::net {

class send_batch {
 public:
  // Bytes the socket took (possibly fewer than asked), or -errno (-EAGAIN: none).
  using completion = std::function<void(ssize_t)>;

  send_batch(boost::asio::io_context& ioc, bool use_io_uring);

  void send(int fd, const char* data, std::size_t size, boost::asio::any_io_executor ex,
            completion done);

  // Whether this thread's flushes go through io_uring (checks, and sets up, its ring).
  bool io_uring_active();

  // Drops what is queued, unsent and unanswered: for a server whose threads have stopped.
  void drop();

 private:
  struct entry {
    int fd;
    const char* data;
    std::size_t size;
    boost::asio::any_io_executor ex;
    completion done;
  };
  void flush();

  boost::asio::io_context& ioc_;
  const bool use_io_uring_;
  std::mutex mu_;
  std::vector<entry> queue_;  // under mu_
  bool posted_ = false;       // under mu_: a flush is posted and has not taken the queue
};

}  // namespace parley::net
