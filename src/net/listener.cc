#include "net/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>

#include "net/http_session.h"
#include "net/shared_state.h"

namespace parley::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Out of file descriptors: how long to wait before accepting again (instead of spinning).
constexpr auto k_accept_backoff = std::chrono::milliseconds(50);
}  // namespace

listener::listener(asio::io_context& ioc, std::shared_ptr<shared_state> state)
    : ioc_(ioc),
      state_(std::move(state)),
      acceptor_(asio::make_strand(ioc)),
      backoff_(acceptor_.get_executor()) {}

result<std::uint16_t> listener::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return ec;
  tcp::endpoint ep(addr, port);
  if (acceptor_.open(ep.protocol(), ec); ec) return ec;
  if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec); ec) return ec;
  if (acceptor_.bind(ep, ec); ec) return ec;
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return ec;
  return acceptor_.local_endpoint().port();
}

void listener::start() { do_accept(); }

void listener::stop() {
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    backoff_.cancel();
  });
}

void listener::do_accept() {
  acceptor_.async_accept(asio::make_strand(ioc_),
                         [this](boost::system::error_code ec, tcp::socket socket) {
                           if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
                           if (!ec) {
                             boost::system::error_code ignored;
                             socket.set_option(tcp::no_delay(true), ignored);
                             start_http_session(state_, std::move(socket));
                             return do_accept();
                           }
                           spdlog::warn("accept failed: {}", ec.message());
                           if (ec != asio::error::no_descriptors) return do_accept();
                           backoff_.expires_after(k_accept_backoff);
                           backoff_.async_wait([this](boost::system::error_code e) {
                             if (!e && acceptor_.is_open()) do_accept();
                           });
                         });
}

}  // namespace parley::net
