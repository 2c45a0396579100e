#include "tools/bench/options.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "client/client.h"

namespace parley::tools::bench {

const char* scenario_name(scenario s) {
  switch (s) {
    case scenario::dm:
      return "dm";
    case scenario::group:
      return "group";
    case scenario::fanout:
      return "fanout";
    case scenario::idle:
      return "idle";
    case scenario::connect:
      return "connect";
  }
  return "?";
}

void add_bench_options(CLI::App& cmd, options& o) {
  cmd.add_option("--url", o.urls,
                 "server(s): ws://HOST:PORT, comma-separated or repeated; loopback only")
      ->required()
      ->delimiter(',');
  cmd.add_option("--secret", o.secret, "HS256 secret of the server(s): tokens are minted")
      ->required();
  cmd.add_option("--scenario", o.scenario_text, "dm | group | fanout | idle | connect")
      ->required()
      ->check(CLI::IsMember({"dm", "group", "fanout", "idle", "connect"}));
  cmd.add_option("--connections", o.connections,
                 "WebSocket connections (connect: concurrent connect loops); default 100");
  cmd.add_option("--rooms", o.rooms, "rooms (group, fanout); default connections / members");
  cmd.add_option("--members", o.members, "members per room (group: 10, fanout: all)");
  cmd.add_option("--senders", o.senders, "fanout: sending members per room (default 1)");
  auto* rate = cmd.add_option("--rate", o.rate, "open loop: offered messages/s over all senders");
  auto* mx = cmd.add_flag("--max", o.max, "closed loop: find the maximum (see --window)");
  rate->excludes(mx);
  cmd.add_option("--window", o.window, "--max: sends in flight per sender (default 4)");
  cmd.add_option("--warmup", o.warmup, "seconds before measuring (default 1)");
  cmd.add_option("--duration", o.duration, "seconds measured (default 5)");
  cmd.add_option("--size", o.size, "message text bytes (default 32)");
  cmd.add_option("--threads", o.threads, "I/O threads (default min(4, cores))");
  cmd.add_option("--source-addrs", o.source_addrs,
                 "spread connections over source addresses 127.0.0.1 .. 127.0.0.N");
  cmd.add_option("--connect-concurrency", o.connect_concurrency,
                 "connection set-ups in flight at once (default 256)");
  cmd.add_option("--server-pid", o.server_pid,
                 "the server's process: report its CPU time per delivery (and, idle, its VmRSS per "
                 "connection)");
  cmd.add_option("--json", o.json_file, "write every figure and the configuration to FILE");
  cmd.add_flag("!--no-progress", o.progress, "no live progress line on stderr");
}

namespace {

bool loopback_v4(const std::string& host) {
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

}  // namespace

std::optional<std::string> validate(options& o) {
  const std::string& s = o.scenario_text;
  o.kind = s == "dm"       ? scenario::dm
           : s == "group"  ? scenario::group
           : s == "fanout" ? scenario::fanout
           : s == "idle"   ? scenario::idle
                           : scenario::connect;
  if (o.secret.empty()) return "--secret must not be empty";
  o.endpoints.clear();
  for (const auto& u : o.urls) {
    auto p = client::parse_url(u);
    if (!p || p->scheme != "ws") return "--url must be ws://HOST:PORT, got '" + u + "'";
    std::string host = p->host == "localhost" ? "127.0.0.1" : p->host;
    if (!loopback_v4(host)) {
      return "--url " + u + ": only 127.0.0.0/8 targets are allowed (a benchmark is a load " +
             "test: point it at your own machine)";
    }
    int port = std::atoi(p->port.c_str());
    if (port <= 0 || port > 65535) return "--url " + u + ": bad port";
    o.endpoints.push_back({host, static_cast<std::uint16_t>(port)});
  }
  if (o.endpoints.empty()) return "--url is required";
  if (o.connections == 0) o.connections = 100;
  if (o.connections < 1) return "--connections must be positive";
  if (o.kind == scenario::dm && o.connections % 2 != 0) {
    return "--connections must be even for dm (pairs of users)";
  }
  if (o.kind == scenario::group) {
    if (o.members == 0) o.members = o.rooms > 0 ? o.connections / o.rooms : 10;
    if (o.members < 1) return "--members must be positive";
    if (o.rooms == 0) o.rooms = o.connections / o.members;
    if (o.rooms < 1) return "--connections must be at least --members";
    o.connections = o.rooms * o.members;
  }
  if (o.kind == scenario::fanout) {
    if (o.rooms == 0) o.rooms = 1;
    if (o.members == 0) o.members = o.connections / o.rooms;
    if (o.members < 1) return "--connections must be at least --rooms";
    if (o.senders < 1 || o.senders > o.members) return "--senders must be 1 .. --members";
    o.connections = o.rooms * o.members;
  }
  if (o.rate < 0) return "--rate must be positive";
  bool sends = o.kind == scenario::dm || o.kind == scenario::group || o.kind == scenario::fanout;
  if (sends && o.rate == 0 && !o.max) return "give --rate R (open loop) or --max (closed loop)";
  if (o.window < 1) return "--window must be positive";
  if (o.warmup < 0) return "--warmup must be >= 0";
  if (o.duration <= 0) return "--duration must be positive";
  if (o.size < 1 || o.size > 1 << 20) return "--size must be 1 .. 1048576";
  if (o.threads == 0) o.threads = std::min(4u, std::max(1u, std::thread::hardware_concurrency()));
  if (o.threads < 1) return "--threads must be positive";
  if (o.source_addrs < 1 || o.source_addrs > 254) return "--source-addrs must be 1 .. 254";
  if (o.connect_concurrency < 1) return "--connect-concurrency must be positive";
  return std::nullopt;
}

}  // namespace parley::tools::bench
