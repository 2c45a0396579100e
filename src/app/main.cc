// parleyd: wiring (config -> store -> bus -> chat service -> network), signals and
// graceful shutdown. Exceptions are allowed here, at start-up only.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "app/options.h"
#include "auth/jwt.h"
#include "bus/bus.h"
#include "bus/kafka_bus.h"
#include "chat/service.h"
#include "config/config.h"
#include "net/server.h"
#include "relay/outbox_relay.h"
#include "store/store.h"

#ifndef PARLEY_DEFAULT_WEB_ROOT
#define PARLEY_DEFAULT_WEB_ROOT "web"
#endif

namespace {

// How long SIGTERM waits for store calls that are running when it comes (joins, history,
// HTTP reads): after the network's drain (at most 6 s) and the store's last commit.
constexpr std::chrono::milliseconds k_store_drain{5000};

int fail(const std::string& what) {
  std::fprintf(stderr, "parleyd: %s\n", what.c_str());
  return 2;
}

// A server holds one descriptor per connection: use every descriptor the hard limit allows
// (the soft limit is often 1024). Returns the limit in effect.
rlim_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "parleyd";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  std::optional<config::config> cfg;
  try {
    cfg = config::load(argc, argv);
  } catch (const config::config_error& e) {
    return fail(e.what());
  }
  if (!cfg) return 0;  // --help

  // Catch SIGTERM/SIGINT before anything is announced: a signal that arrives at any point
  // after the port line is printed must drain, not kill.
  boost::asio::io_context sig_ioc;
  boost::asio::signal_set signals(sig_ioc, SIGINT, SIGTERM);
  std::signal(SIGPIPE, SIG_IGN);
  int got = 0;
  signals.async_wait([&](const boost::system::error_code&, int s) { got = s; });

  auto logger = spdlog::stderr_color_mt("parleyd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  rlim_t fds = raise_fd_limit();
  if (fds != RLIM_INFINITY && fds < 4096) {
    spdlog::warn("open file limit is {}: at most about that many connections (ulimit -Hn)",
                 static_cast<unsigned long long>(fds));
  }

  // Dev mode mints tokens with the configured HS256 secret, or a random one.
  std::string dev_secret;
  if (cfg->dev) dev_secret = cfg->jwt_secret ? *cfg->jwt_secret : auth::random_secret();
  auto o = app::options_from(*cfg, dev_secret, PARLEY_DEFAULT_WEB_ROOT);
  auto verifier = auth::verifier::make(o.verifier);
  if (!verifier) return fail("--jwt-public-key/--jwt-secret: " + verifier.error().message());

  if (o.cluster && cfg->db.rfind("sqlite:", 0) == 0)
    return fail("--kafka: cluster mode needs a shared store: give --db postgresql://...");

  std::string why;
  auto st = store::make_store(o.store, why);
  if (!st) return fail("--db: " + (why.empty() ? st.error().message() : why));

  // Bind first: the default node id is the host name and the bound port (known only now
  // with port 0), and the bus needs the node id.
  auto srv = std::make_unique<net::server>(o.net);
  auto port = srv->listen();
  if (!port)
    return fail("--listen " + cfg->listen_host + ":" + std::to_string(cfg->listen_port) + ": " +
                port.error().message());
  if (cfg->node_id.empty()) app::set_node_id(o, host_name() + ":" + std::to_string(port.value()));

  std::unique_ptr<bus::bus> b;
  if (o.cluster) {
    auto kb = bus::make_kafka_bus(o.kafka, why);
    if (!kb) return fail("--kafka: " + (why.empty() ? kb.error().message() : why));
    b = std::move(kb).value();
  } else {
    b = bus::make_local_bus();
  }

  auto svc = std::make_unique<chat::service>(*st.value(), *b, verifier.value(), o.chat);
  std::unique_ptr<relay::outbox_relay> outbox;
  if (o.cluster) outbox = std::make_unique<relay::outbox_relay>(*st.value(), *b, o.relay);
  // In cluster mode this creates the topic if missing and positions the consumer at the end
  // of every partition: the node is not ready before that.
  if (auto r = b->start(); !r) {
    std::fprintf(stderr, "parleyd: --kafka: the bus did not start: %s\n",
                 r.error().message().c_str());
    st.value()->close();
    return 1;
  }
  if (outbox) outbox->start();
  srv->set_bus_state([bp = b.get()] { return bp->state(); });
  svc->start_membership_refresh();
  srv->run(*svc);

  std::printf("parleyd listening on %s:%u\n", cfg->listen_host.c_str(), port.value());
  std::fflush(stdout);
  spdlog::info("node {} listening on http://{}:{} (db {}, {} threads)", o.chat.node_id,
               cfg->listen_host, port.value(), cfg->db, o.net.threads);
  if (cfg->dev) {
    spdlog::info(
        "dev mode: web chat at http://{}:{}/ ; get a token with: curl -s -X POST "
        "http://{}:{}/api/dev/token -d '{{\"user\":\"alice\"}}'",
        cfg->listen_host, port.value(), cfg->listen_host, port.value());
    std::printf("web chat page: http://%s:%u/\n", cfg->listen_host.c_str(), port.value());
    std::printf("dev token: curl -s -X POST http://%s:%u/api/dev/token -d '{\"user\":\"alice\"}'\n",
                cfg->listen_host.c_str(), port.value());
    std::fflush(stdout);
  }

  // Wait for SIGTERM/SIGINT (caught since start-up, so one sent right after the port line
  // still drains).
  sig_ioc.run();
  spdlog::info("signal {}: draining", got);

  srv->shutdown();      // stop accepting, close sessions with 1001
  st.value()->close();  // commit appends in flight (their records are still published)
  b->stop();            // flush what the producer holds (bounded)
  // Confirmed rows whose removal can no longer reach the closed store stay in the outbox:
  // another node's relay publishes them again (at least once; consumers dedupe by seq).
  if (outbox) outbox->stop();
  // Store calls still queued are dropped (their connections are closed); running ones get a
  // bound. One stuck past it (a database that does not answer) must not hold the process:
  // everything acknowledged is committed by now, so exit without destroying what it uses.
  if (!svc->stop(k_store_drain)) {
    spdlog::warn("store calls still running after {} ms: exiting without waiting for them",
                 k_store_drain.count());
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  srv.reset();
  svc.reset();
  spdlog::info("stopped");
  return 0;
}
