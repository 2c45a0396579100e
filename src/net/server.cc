#include "net/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "base/thread_name.h"
#include "net/sessions.h"

namespace parley::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct server::impl {
  asio::io_context ioc;
  std::shared_ptr<shared_state> state;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  bool stopped = false;

  explicit impl(server_options opts)
      : ioc(std::max(1, opts.threads)), state(std::make_shared<shared_state>(std::move(opts))) {
    state->sends = std::make_unique<send_batch>(ioc, state->opts.io_uring);
  }

  void do_accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
                            if (!ec) {
                              boost::system::error_code ignored;
                              socket.set_option(tcp::no_delay(true), ignored);
                              start_http_session(state, std::move(socket));
                            } else {
                              spdlog::warn("accept failed: {}", ec.message());
                              if (ec == asio::error::no_descriptors) {
                                // Out of file descriptors: back off briefly instead of spinning.
                                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                              }
                            }
                            do_accept();
                          });
  }
};

server::server(server_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

server::~server() { shutdown(); }

result<std::uint16_t> server::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(impl_->state->opts.host, ec);
  if (ec) return ec;
  tcp::endpoint ep(addr, impl_->state->opts.port);
  auto& a = impl_->acceptor;
  if (a.open(ep.protocol(), ec); ec) return ec;
  if (a.set_option(asio::socket_base::reuse_address(true), ec); ec) return ec;
  if (a.bind(ep, ec); ec) return ec;
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec) return ec;
  return a.local_endpoint().port();
}

void server::set_node_id(std::string id) { impl_->state->opts.node_id = std::move(id); }

void server::set_bus_state(std::function<std::string()> state) {
  impl_->state->bus_state = std::move(state);
}

void server::run(chat::service& svc) {
  impl_->state->svc = &svc;
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->do_accept();
  int n = std::max(1, impl_->state->opts.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
    name_thread(impl_->threads.back(), "parley-io");
  }
}

void server::shutdown() {
  if (impl_->stopped || !impl_->work) return;
  impl_->stopped = true;
  auto& st = *impl_->state;
  st.draining = true;
  asio::post(impl_->ioc, [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  auto open = st.close_all();
  if (open) spdlog::info("closing {} connection(s) with 1001", open);
  // Wait (bounded) for the close handshakes; sessions that do not answer are cut off by
  // their own close timers.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (st.open_sessions() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
  // A flush the stopped threads did not run holds sessions (which hold the state).
  st.sends->drop();
}

}  // namespace parley::net
