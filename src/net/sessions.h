#pragma once
// Internal to net: the HTTP session (reads requests, routes them, upgrades /ws) and the
// WebSocket session (owns one socket, its strand, the bounded send queue and the chat
// connection). Beast's chat-multi shape: listener -> http_session -> websocket_session,
// shared_state for the registry.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net/send_batch.h"
#include "net/server.h"

namespace parley::net {

class websocket_session;

struct shared_state {
  chat::service* svc = nullptr;  // set by server::run()
  server_options opts;
  std::atomic<bool> draining{false};
  std::function<std::string()> bus_state = [] { return std::string("local"); };  // /readyz
  std::mutex mu;
  std::unordered_map<const websocket_session*, std::weak_ptr<websocket_session>> sessions;
  std::unique_ptr<send_batch> sends;  // set by the server before it accepts

  explicit shared_state(server_options o) : opts(std::move(o)) {}
  void add(const std::shared_ptr<websocket_session>& s);
  void remove(const websocket_session* s);
  // Asks every session to close with 1001; returns how many were open.
  std::size_t close_all();
  std::size_t open_sessions();
};

// Starts an HTTP session on an accepted socket (runs on its own strand).
void start_http_session(std::shared_ptr<shared_state> state, boost::asio::ip::tcp::socket socket);

}  // namespace parley::net
