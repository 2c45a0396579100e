#pragma once
// The network front: one listening port for HTTP (API, web page, health, metrics) and
// WebSocket (/ws). One io_context run by N threads; every connection has its own strand.
//
// Threads: construct, listen() and run() from the main thread; shutdown() from any thread
// (e.g. a signal handler's strand). Blocking work (store) goes to the chat service's pool.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace parley::chat {
class service;
}

namespace parley::net {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  int threads = 2;
  std::size_t max_frame_bytes = 64 * 1024;
  std::size_t send_queue_bytes = 4 * 1024 * 1024;
  std::size_t send_queue_messages = 8192;
  int ping_interval_s = 30;
  int idle_timeout_s = 75;
  bool dev = false;
  std::string dev_secret;  // HS256 secret used to mint dev tokens (dev mode only)
  std::string web_root;    // directory served at /
  // Socket writes of one round of the event loop in one io_uring submit (send_batch.h);
  // false, or no io_uring here: one send() each.
  bool io_uring = true;
};

class server {
 public:
  explicit server(server_options opts);
  ~server();
  // Binds and listens; returns the bound port (useful with port 0).
  result<std::uint16_t> listen();
  // What /readyz reports for the bus ("local", "up", "down"). Call before run().
  void set_bus_state(std::function<std::string()> state);
  // Starts the network threads serving `svc` (returns at once). listen() first; `svc` must
  // outlive shutdown().
  void run(chat::service& svc);
  // Graceful drain: stop accepting, close every WebSocket with 1001, wait (bounded) for
  // them to finish, then stop the threads. Idempotent; blocks.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::net
