// parley tail: print a room's messages, history then live, one JSON line each.
//
// Without --since the connect-time join delivers the latest 50 messages and then live
// ones. With --since the tool sends its own `join` (tagged with a `rid`) and ignores every
// frame of the room until that join's `joined` arrives, so the connect-time replay never
// mixes in; a final `history` frame with `more: true` is followed by re-joining with
// since = the last seq printed. Messages are printed in seq order, each once (a seq not
// above the last printed one is skipped).
#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <iostream>
#include <memory>

#include "client/client.h"
#include "tools/commands.h"
#include "tools/common.h"

namespace parley::tools {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr auto k_hello_timeout = 10s;
// How often the loop looks at the signal flag.
constexpr auto k_poll = 100ms;

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

struct tail_options {
  target_options target;
  std::optional<std::int64_t> since;
  kafka_tail_options kafka;  // --kafka: read the bus topic instead (cmd_tail_kafka.cc)
};

class tailer {
 public:
  tailer(client::ws_client& c, std::string room, std::optional<std::int64_t> since)
      : c_(c), room_(std::move(room)), follow_more_(since.has_value()) {
    if (since) {
      last_seq_ = *since;
      join(*since);
    }
  }

  // Handles one frame; returns an exit status when tail must stop.
  std::optional<int> on_frame(const json::object& f) {
    auto type = string_field(f, "type");
    if (type == "error") {
      std::cerr << "parley tail: " << json::serialize(f) << "\n";
      // A failed join (ours or the connect-time one) leaves nothing to tail.
      if (string_field(f, "ref") == "join" || (!rid_.empty() && string_field(f, "rid") == rid_))
        return k_exit_failure;
      return std::nullopt;
    }
    if (string_field(f, "room") != room_) return std::nullopt;
    if (type == "joined") {
      if (string_field(f, "rid") == rid_) ready_ = true;
    } else if (type == "history") {
      if (!ready_ || string_field(f, "rid") != rid_) return std::nullopt;
      if (auto* msgs = f.if_contains("messages"); msgs && msgs->is_array()) {
        for (const auto& m : msgs->get_array()) {
          if (m.is_object()) print(m.get_object());
        }
      }
      // Only the last frame of a join's replay can say more: true (docs/protocol.md,
      // section 8): the replay stopped at replay_max and we are not subscribed.
      auto* more = f.if_contains("more");
      if (follow_more_ && more && more->is_bool() && more->get_bool()) join(last_seq_);
    } else if (type == "message") {
      if (!ready_) return std::nullopt;
      json::object m = f;
      m.erase("type");
      print(m);
    }
    return std::nullopt;
  }

 private:
  void join(std::int64_t since) {
    rid_ = "tail-" + std::to_string(++joins_);
    ready_ = false;
    c_.send_json({{"type", "join"}, {"room", room_}, {"since", since}, {"rid", rid_}});
  }

  void print(const json::object& m) {
    auto seq = int_field(m, "seq");
    if (seq && *seq <= last_seq_) return;
    if (seq) last_seq_ = *seq;
    std::cout << json::serialize(m) << std::endl;
  }

  client::ws_client& c_;
  std::string room_;
  bool follow_more_;
  std::string rid_;    // of the join whose frames count ("" = the connect-time join)
  bool ready_ = true;  // that join's `joined` has arrived
  int joins_ = 0;
  std::int64_t last_seq_ = 0;
};

int run_tail(const tail_options& o) {
  if (!o.kafka.brokers.empty()) return run_tail_kafka(o.kafka);
  if (o.target.url.empty()) return usage_error("tail", "--url is required (or --kafka BROKERS)");
  std::string why;
  auto t = resolve_target(o.target, &why);
  if (!t) return usage_error("tail", why);
  if (o.since && *o.since < 0) return usage_error("tail", "--since must be >= 0");

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  client::connect_error err;
  auto c = client::ws_client::connect(t->ws_url, {}, &err);
  if (!c) {
    if (err.http_status != 0)
      return failure("tail", "refused: HTTP " + std::to_string(err.http_status) + " " + err.body);
    return failure("tail", "cannot connect: " + err.body);
  }

  std::string room = o.target.room;
  auto hello_deadline = std::chrono::steady_clock::now() + k_hello_timeout;
  while (room.empty()) {
    if (g_stop.load()) return k_exit_ok;
    auto f = c->recv_json(k_poll);
    if (!f) {
      if (!c->is_open()) break;
      if (std::chrono::steady_clock::now() > hello_deadline)
        return failure("tail", "timed out waiting for hello");
      continue;
    }
    if (string_field(*f, "type") == "error") return failure("tail", json::serialize(*f));
    if (string_field(*f, "type") == "hello") room = dm_room(string_field(*f, "user"), o.target.to);
  }

  tailer tail(*c, room, o.since);
  while (!g_stop.load()) {
    auto text = c->recv(k_poll);
    if (!text) {
      if (!c->is_open()) {
        auto code = c->wait_closed(1s);
        return failure("tail", "connection closed by server (code " +
                                   (code ? std::to_string(*code) : std::string("?")) + ")");
      }
      continue;
    }
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec || !v.is_object()) continue;
    if (auto status = tail.on_frame(v.get_object())) {
      c->close(1000);
      return *status;
    }
  }
  c->close(1000);
  return k_exit_ok;
}

}  // namespace

command add_tail_command(CLI::App& app) {
  auto opts = std::make_shared<tail_options>();
  auto* cmd = app.add_subcommand(
      "tail",
      "Print the messages of the direct room with --to or of --room, one JSON object per "
      "line: the `message` object of protocol.md without its `type` field (history and live "
      "messages look the same), in seq order. Without --since: the latest 50, then live "
      "ones. Runs until SIGINT/SIGTERM (exit 0) or until the server closes (exit 1, close "
      "code on stderr). With --kafka BROKERS instead: read every room's messages from the "
      "bus topic as a consumer group of its own (see --kafka; docs/records.md).");
  add_target_options(*cmd, opts->target);
  auto* since = cmd->add_option("--since", opts->since,
                                "replay every message with seq > N first (re-joining while the "
                                "server says more), then follow live");
  // With --kafka the tool reads the topic, not a server: --url is required only without it,
  // and the WebSocket options do not combine with it.
  cmd->get_option("--url")->required(false);
  add_kafka_tail_options(*cmd, opts->kafka);
  auto* kafka = cmd->get_option("--kafka");
  for (const char* ws :
       {"--url", "--token", "--secret", "--user", "--issuer", "--audience", "--to", "--room"})
    kafka->excludes(cmd->get_option(ws));
  kafka->excludes(since);
  return {cmd, [opts] { return run_tail(*opts); }};
}

}  // namespace parley::tools
