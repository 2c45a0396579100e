#pragma once
// Internal to net: the listening socket. Accepts connections, each on a strand of its own,
// and hands them to an HTTP session.
//
// Threads: listen() before the io_context runs; start() once; stop() from any thread (it
// posts the close to the listener's strand, where every accept completes). An accept error other
// than a closed acceptor is logged; out of descriptors, the next accept waits k_accept_backoff on a
// timer (never a sleep on an I/O thread).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"

namespace parley::net {

struct shared_state;

class listener {
 public:
  listener(boost::asio::io_context& ioc, std::shared_ptr<shared_state> state);
  // Binds and listens on host:port; returns the bound port (useful with port 0).
  result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  void start();
  void stop();

 private:
  void do_accept();

  boost::asio::io_context& ioc_;
  std::shared_ptr<shared_state> state_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
};

}  // namespace parley::net
