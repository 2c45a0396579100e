#include "tools/bench/scenarios.h"

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <random>
#include <thread>

#include "auth/jwt.h"
#include "client/client.h"
#include "tools/common.h"

namespace parley::tools::bench {
namespace {

namespace json = boost::json;

// Tokens outlive any sane run; the server verifies them at every connect.
constexpr std::int64_t k_token_ttl_s = 24 * 3600;
constexpr int k_room_threads = 4;

std::string random_run_id() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", rd() & 0xffffffu);
  return buf;
}

std::string http_base(const endpoint& e) {
  return "http://" + e.host + ":" + std::to_string(e.port);
}

// Creates room r (members first..first+k-1, the first one creating it) on endpoint `e`.
std::optional<std::string> create_room(const endpoint& e, const std::string& owner_token,
                                       const std::vector<std::string>& others, int r,
                                       std::string* why) {
  json::array members;
  for (const auto& u : others) members.emplace_back(u);
  json::object body{{"name", "bench " + std::to_string(r)}, {"members", std::move(members)}};
  auto res = client::http_request(http_base(e), "POST", "/api/rooms", json::serialize(body),
                                  owner_token, std::chrono::seconds(30));
  if (res.status != 201) {
    *why = "POST /api/rooms: " + std::to_string(res.status) + " " + res.body.substr(0, 200);
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = json::parse(res.body, ec);
  if (ec || !v.is_object() || !v.get_object().contains("id") ||
      !v.get_object().at("id").is_string()) {
    *why = "POST /api/rooms: no room id in " + res.body.substr(0, 200);
    return std::nullopt;
  }
  return std::string(v.get_object().at("id").get_string());
}

}  // namespace

std::optional<run_plan> make_plan(const options& o, std::string* why) {
  run_plan p;
  p.run_id = random_run_id();
  std::int64_t exp = now_seconds() + k_token_ttl_s;
  p.conns.resize(static_cast<std::size_t>(o.connections));
  for (int i = 0; i < o.connections; ++i) {
    auto& c = p.conns[static_cast<std::size_t>(i)];
    c.index = i;
    c.user = "bn" + p.run_id + "-" + std::to_string(i);
    c.token = auth::mint_hs256(o.secret, c.user, exp);
    c.target = o.endpoints[static_cast<std::size_t>(i) % o.endpoints.size()];
    if (o.source_addrs > 1) c.source_addr = "127.0.0." + std::to_string(1 + i % o.source_addrs);
    c.cycle = o.kind == scenario::connect;
  }
  switch (o.kind) {
    case scenario::dm:
      for (int i = 0; i < o.connections; i += 2) {
        auto& a = p.conns[static_cast<std::size_t>(i)];
        auto& b = p.conns[static_cast<std::size_t>(i) + 1];
        a.room = b.room = dm_room(a.user, b.user);
        a.room_size = b.room_size = 2;
        a.sender = b.sender = true;
        p.rooms.push_back(a.room);
      }
      p.senders = o.connections;
      return p;
    case scenario::group:
    case scenario::fanout: {
      p.rooms.resize(static_cast<std::size_t>(o.rooms));
      std::atomic<int> next{0};
      std::mutex mu;
      std::string first_error;
      auto worker = [&] {
        for (int r = next++; r < o.rooms; r = next++) {
          std::size_t first = static_cast<std::size_t>(r) * static_cast<std::size_t>(o.members);
          std::vector<std::string> others;
          for (int m = 1; m < o.members; ++m) others.push_back(p.conns[first + m].user);
          std::string err;
          auto id = create_room(p.conns[first].target, p.conns[first].token, others, r, &err);
          std::lock_guard lock(mu);
          if (!id) {
            if (first_error.empty()) first_error = err;
            next = o.rooms;
            return;
          }
          p.rooms[static_cast<std::size_t>(r)] = *id;
        }
      };
      std::vector<std::thread> threads;
      for (int t = 0; t < std::min(k_room_threads, o.rooms); ++t) threads.emplace_back(worker);
      for (auto& t : threads) t.join();
      if (!first_error.empty()) {
        *why = first_error;
        return std::nullopt;
      }
      int per_room = o.kind == scenario::group ? o.members : o.senders;
      for (int r = 0; r < o.rooms; ++r) {
        for (int m = 0; m < o.members; ++m) {
          auto& c = p.conns[static_cast<std::size_t>(r * o.members + m)];
          c.room = p.rooms[static_cast<std::size_t>(r)];
          c.room_size = o.members;
          c.sender = m < per_room;
        }
      }
      p.senders = o.rooms * per_room;
      return p;
    }
    case scenario::idle:
    case scenario::connect:
      return p;
  }
  return p;
}

}  // namespace parley::tools::bench
