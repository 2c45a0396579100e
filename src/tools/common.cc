#include "tools/common.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "auth/jwt.h"
#include "client/client.h"

namespace parley::tools {

int usage_error(std::string_view cmd, std::string_view message) {
  std::cerr << "parley " << cmd << ": " << message << " (see parley " << cmd << " --help)\n";
  return k_exit_usage;
}

int failure(std::string_view cmd, std::string_view message) {
  std::cerr << "parley " << cmd << ": " << message << "\n";
  return k_exit_failure;
}

void add_target_options(CLI::App& cmd, target_options& opts) {
  cmd.add_option("--url", opts.url,
                 "server, ws://HOST:PORT or http://HOST:PORT; the path defaults to /ws")
      ->required();
  cmd.add_option("--token", opts.token, "JWT to present (query parameter `token`)");
  cmd.add_option("--secret", opts.secret, "HS256 secret: mint a token when --token is absent");
  cmd.add_option("--user", opts.user, "user id of the minted token (with --secret)");
  cmd.add_option("--issuer", opts.issuer, "`iss` of the minted token");
  cmd.add_option("--audience", opts.audience, "`aud` of the minted token");
  auto* to = cmd.add_option("--to", opts.to, "the direct room with this user (receiverId)");
  auto* room = cmd.add_option("--room", opts.room, "a room id");
  to->excludes(room);
}

std::optional<target> resolve_target(const target_options& opts, std::string* why) {
  if (opts.to.empty() == opts.room.empty()) {
    *why = "exactly one of --to USER and --room ROOM is required";
    return std::nullopt;
  }
  target t;
  if (!opts.token.empty()) {
    t.token = opts.token;
  } else if (!opts.secret.empty() && !opts.user.empty()) {
    std::optional<std::string_view> iss, aud;
    if (!opts.issuer.empty()) iss = opts.issuer;
    if (!opts.audience.empty()) aud = opts.audience;
    t.token = auth::mint_hs256(opts.secret, opts.user, now_seconds() + 3600, iss, aud);
  } else {
    *why = "--token, or --secret and --user to mint one, is required";
    return std::nullopt;
  }
  auto url = client::parse_url(opts.url);
  if (!url) {
    *why = "--url must be ws://HOST:PORT or http://HOST:PORT, got '" + opts.url + "'";
    return std::nullopt;
  }
  std::string path = url->target.substr(0, url->target.find('?'));
  if (path == "/") path = "/ws";
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  t.ws_url = "ws://" + host + ":" + url->port + path + "?token=" + url_encode(t.token);
  if (!opts.to.empty()) {
    t.ws_url += "&receiverId=" + url_encode(opts.to);
  } else {
    t.ws_url += "&room=" + url_encode(opts.room);
  }
  return t;
}

std::string dm_room(std::string_view a, std::string_view b) {
  if (b < a) std::swap(a, b);
  std::string r = "dm:";
  r += a;
  r += ':';
  r += b;
  return r;
}

std::string url_encode(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
    }
  }
  return out;
}

std::string random_cid() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[32];
  std::snprintf(buf, sizeof buf, "cli-%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view string_field(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<std::int64_t> int_field(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return std::nullopt;
}

}  // namespace parley::tools
