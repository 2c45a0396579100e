// parley send: post one message over a WebSocket and print its `ack`.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <memory>

#include "client/client.h"
#include "tools/commands.h"
#include "tools/common.h"

namespace parley::tools {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr auto k_answer_timeout = 10s;  // for `hello` and for the `ack`

struct send_options {
  target_options target;
  std::string cid;
  std::string text;
};

std::string_view string_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// Why the connection ended, for the error line.
std::string closed_reason(client::ws_client& c) {
  auto code = c.wait_closed(0ms);
  if (code) return "connection closed by server (code " + std::to_string(*code) + ")";
  return "timed out waiting for the server";
}

int run_send(const send_options& o) {
  std::string why;
  auto t = resolve_target(o.target, &why);
  if (!t) return usage_error("send", why);
  if (o.cid.size() > 64) return usage_error("send", "--cid is at most 64 bytes");
  std::string cid = o.cid.empty() ? random_cid() : o.cid;

  client::connect_error err;
  auto c = client::ws_client::connect(t->ws_url, {}, &err);
  if (!c) {
    if (err.http_status != 0)
      return failure("send", "refused: HTTP " + std::to_string(err.http_status) + " " + err.body);
    return failure("send", "cannot connect: " + err.body);
  }

  auto deadline = std::chrono::steady_clock::now() + k_answer_timeout;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(deadline - std::chrono::steady_clock::now(), std::chrono::nanoseconds(0)));
  };
  std::string room = o.target.room;
  // The default room: the room itself, or the direct room with --to, whose canonical id
  // needs our own user id from `hello`.
  for (;;) {
    auto f = c->recv_json(remaining());
    if (!f) return failure("send", closed_reason(*c));
    auto type = string_field(*f, "type");
    if (type == "error") return failure("send", json::serialize(*f));
    if (type != "hello") continue;
    if (room.empty()) room = dm_room(string_field(*f, "user"), o.target.to);
    break;
  }

  c->send_json({{"type", "send"}, {"room", room}, {"text", o.text}, {"cid", cid}});
  deadline = std::chrono::steady_clock::now() + k_answer_timeout;
  for (;;) {
    auto f = c->recv_json(remaining());
    if (!f) return failure("send", closed_reason(*c));
    auto type = string_field(*f, "type");
    if (type == "error") return failure("send", json::serialize(*f));
    if (type == "ack" && string_field(*f, "cid") == cid) {
      std::cout << json::serialize(*f) << std::endl;
      c->close(1000);
      return k_exit_ok;
    }
  }
}

}  // namespace

command add_send_command(CLI::App& app) {
  auto opts = std::make_shared<send_options>();
  auto* cmd = app.add_subcommand(
      "send",
      "Send TEXT to the direct room with --to or to --room, and print the server's `ack` "
      "frame as one JSON line. Exit 1 on refusal, `error` frame or timeout (10 s).");
  add_target_options(*cmd, opts->target);
  cmd->add_option("--cid", opts->cid,
                  "client message id (1 to 64 bytes; default: random); a repeat with the same "
                  "cid is stored once");
  cmd->add_option("text", opts->text, "the message text")->required();
  return {cmd, [opts] { return run_send(*opts); }};
}

}  // namespace parley::tools
