#pragma once
// Internal to net: one HTTP connection. Reads a request (header 16 KiB, body 1 MiB at
// most), answers it through http_api (asynchronously when it touches the store), keeps the
// connection alive; checks, authenticates and hands /ws upgrades to a WebSocket session.
//
// Threads: runs on the socket's strand; answers computed elsewhere are posted back to it.
#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace parley::net {

struct shared_state;

// Starts an HTTP session on an accepted socket (its executor is the connection's strand).
void start_http_session(std::shared_ptr<shared_state> state, boost::asio::ip::tcp::socket socket);

}  // namespace parley::net
