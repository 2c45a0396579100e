#include "net/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "base/thread_name.h"
#include "net/listener.h"
#include "net/shared_state.h"

namespace parley::net {

namespace asio = boost::asio;

struct server::impl {
  asio::io_context ioc;
  std::shared_ptr<shared_state> state;
  listener front;
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  bool stopped = false;

  explicit impl(server_options opts)
      : ioc(std::max(1, opts.threads)),
        state(std::make_shared<shared_state>(std::move(opts))),
        front(ioc, state) {
    state->sends = std::make_unique<send_batch>(ioc, state->opts.io_uring);
  }
};

server::server(server_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

server::~server() { shutdown(); }

result<std::uint16_t> server::listen() {
  return impl_->front.listen(impl_->state->opts.host, impl_->state->opts.port);
}

void server::set_bus_state(std::function<std::string()> state) {
  impl_->state->bus_state = std::move(state);
}

void server::run(chat::service& svc) {
  impl_->state->svc = &svc;
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->front.start();
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
  impl_->front.stop();
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
