#pragma once
// Internal to net: what every session of one server shares (Beast's chat-multi shape:
// listener -> http_session -> websocket_session, shared_state for the registry): the chat
// service, the options, the drain flag, the socket-write batcher and the registry of open
// WebSocket sessions, which shutdown closes with 1001.
//
// Threads: the fields are set before the listener accepts and read-only afterwards, except
// `draining` (atomic) and the registry (under `mu`), which any thread may use.
#include <atomic>
#include <cstddef>
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
  std::unique_ptr<send_batch> sends;  // set by the server before it accepts

  explicit shared_state(server_options o) : opts(std::move(o)) {}
  void add(const std::shared_ptr<websocket_session>& s);
  void remove(const websocket_session* s);
  // Asks every session to close with 1001; returns how many were open.
  std::size_t close_all();
  std::size_t open_sessions();

 private:
  std::mutex mu_;
  std::unordered_map<const websocket_session*, std::weak_ptr<websocket_session>> sessions_;
};

}  // namespace parley::net
