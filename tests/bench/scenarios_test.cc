// Every `parley bench` scenario, briefly and with few connections, against a real parleyd
// (started as the integration tests do: port 0, temporary SQLite database) and against
// parley-baseline: the run exits 0, its --json has the documented fields, traffic flowed
// and the correctness counters are zero.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/child_process.h"

namespace parley::benchtest {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* k_secret = "bench-secret";

enum class server_kind { parleyd, baseline };

struct bench_case {
  server_kind server;
  std::string scenario;
  std::vector<std::string> args;
  std::vector<std::string> server_args = {};  // parleyd only
  double duration_s = 1;
  std::string suffix = {};  // of the test's name
};

// gtest prints the case in test listings and failures.
void PrintTo(const bench_case& c, std::ostream* os) {
  *os << (c.server == server_kind::parleyd ? "parleyd " : "baseline ") << c.scenario;
  for (const auto& a : c.args) *os << " " << a;
}

std::string case_name(const testing::TestParamInfo<bench_case>& i) {
  return std::string(i.param.server == server_kind::parleyd ? "parleyd_" : "baseline_") +
         i.param.scenario +
         (i.param.args.size() > 0 && i.param.args.back() == "--max" ? "_max" : "") + i.param.suffix;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

const json::object& obj(const json::object& o, std::string_view key) {
  static const json::object empty;
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : empty;
}

double number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return -1;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return -1;
}

class bench_scenarios : public testing::TestWithParam<bench_case> {
 protected:
  void SetUp() override {
    dir_ = testsupport::make_temp_dir("parley-bench");
    ASSERT_FALSE(dir_.empty());
    std::vector<std::string> args;
    std::string prefix;
    if (GetParam().server == server_kind::parleyd) {
      args = {testsupport::bin_path("parleyd"),
              "--listen",
              "127.0.0.1:0",
              "--db",
              "sqlite:" + dir_ + "/parley.db",
              "--jwt-secret",
              k_secret,
              "--node-id",
              "n1",
              "--send-rate",
              "100000",
              "--frame-rate",
              "100000"};
      args.insert(args.end(), GetParam().server_args.begin(), GetParam().server_args.end());
      prefix = "parleyd listening on 127.0.0.1:";
    } else {
      args = {testsupport::bin_path("parley-baseline"), "--listen", "127.0.0.1:0", "--threads",
              "1"};
      prefix = "parley-baseline listening on 127.0.0.1:";
    }
    ASSERT_TRUE(server_.spawn(args, dir_ + "/server.stderr.log")) << args[0];
    auto line = server_.read_line(10s);
    ASSERT_TRUE(line.has_value()) << "no port line; stderr: " << slurp(dir_ + "/server.stderr.log");
    ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
    port_ = std::atoi(line->c_str() + prefix.size());
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Runs parley bench with the case's arguments; returns its exit status and fills `out`.
  int run_bench(std::string* out, json::object* doc) {
    const auto& c = GetParam();
    std::string json_path = dir_ + "/bench.json";
    std::vector<std::string> args = {testsupport::bin_path("parley"),
                                     "bench",
                                     "--url",
                                     "ws://127.0.0.1:" + std::to_string(port_),
                                     "--secret",
                                     k_secret,
                                     "--scenario",
                                     c.scenario,
                                     "--warmup",
                                     "0.3",
                                     "--duration",
                                     std::to_string(c.duration_s),
                                     "--threads",
                                     "1",
                                     "--json",
                                     json_path};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back("--server-pid");  // as bench/run does for every one-server run
    args.push_back(std::to_string(server_.pid()));
    testsupport::child_process bench;
    if (!bench.spawn(args, dir_ + "/bench.stderr.log")) return -1;
    *out = bench.read_all(30s);
    auto status = bench.wait_exit(30s);
    *out += slurp(dir_ + "/bench.stderr.log");
    error_code_ = {};
    auto v = json::parse(slurp(json_path), error_code_);
    if (!error_code_ && v.is_object()) *doc = v.get_object();
    return status.value_or(-2);
  }

  std::string dir_;
  testsupport::child_process server_;
  int port_ = 0;
  boost::system::error_code error_code_;
};

TEST_P(bench_scenarios, runs_clean) {
  const auto& c = GetParam();
  std::string out;
  json::object doc;
  ASSERT_EQ(run_bench(&out, &doc), 0) << out;
  ASSERT_FALSE(doc.empty()) << "no JSON document; output:\n" << out;

  // The documented fields.
  for (const char* k :
       {"config", "deliveries", "acked_sends", "deliveries_per_s", "acked_sends_per_s",
        "latency_ms", "errors", "correctness", "connections"}) {
    EXPECT_TRUE(doc.contains(k)) << k << "\n" << out;
  }
  for (const char* h : {"deliver", "ack", "connect"}) {
    const auto& l = obj(obj(doc, "latency_ms"), h);
    for (const char* p : {"p50", "p90", "p99", "p999", "max"}) {
      EXPECT_GE(number(l, p), 0) << h << "." << p;
    }
  }
  EXPECT_EQ(obj(doc, "config").at("scenario").as_string(), c.scenario);
  const auto& corr = obj(doc, "correctness");
  EXPECT_EQ(number(corr, "duplicates"), 0) << out;
  EXPECT_EQ(number(corr, "out_of_order"), 0) << out;
  EXPECT_EQ(number(corr, "foreign_room"), 0) << out;
  EXPECT_EQ(number(corr, "gaps"), 0) << out;
  EXPECT_TRUE(obj(doc, "errors").empty()) << out;

  const auto& conns = obj(doc, "connections");
  EXPECT_EQ(number(conns, "failed"), 0) << out;
  EXPECT_EQ(number(conns, "established"), number(conns, "planned")) << out;
  // The server's CPU time over the measure window (1 s): present, over about that window
  // (its start is read when the generator's thread wakes after the warm-up, which on a
  // loaded machine can be a few hundred ms late: the window is what was measured).
  ASSERT_TRUE(doc.contains("server_cpu")) << out;
  const auto& cpu = obj(doc, "server_cpu");
  EXPECT_GE(number(cpu, "seconds"), 0) << out;
  EXPECT_GE(number(cpu, "wall_s"), c.duration_s / 2) << out;
  EXPECT_LE(number(cpu, "wall_s"), c.duration_s + 2) << out;
  // The generator's own CPU time over the same window (always measured; at these rates
  // the generator may use less than the 10 ms the kernel counts in, so it can be 0).
  ASSERT_TRUE(doc.contains("bench_cpu")) << out;
  const auto& own = obj(doc, "bench_cpu");
  EXPECT_GE(number(own, "seconds"), 0) << out;
  if (!c.args.empty() && c.args.back() == "--max") {
    EXPECT_GT(number(own, "seconds"), 0) << out;  // closed loop: the generator is busy
  }
  EXPECT_GE(number(own, "wall_s"), c.duration_s / 2) << out;
  EXPECT_LE(number(own, "wall_s"), c.duration_s + 2) << out;
  if (c.scenario == "idle") {
    EXPECT_TRUE(doc.contains("server_rss_kb")) << out;
  } else if (c.scenario == "connect") {
    EXPECT_GT(number(doc, "connects"), 0) << out;
  } else {
    EXPECT_GT(number(doc, "deliveries"), 0) << out;
    EXPECT_GT(number(doc, "acked_sends"), 0) << out;
    // Every member of a room receives each message: deliveries are a multiple of sends.
    EXPECT_GE(number(doc, "deliveries"), number(doc, "acked_sends")) << out;
    EXPECT_GT(number(obj(obj(doc, "latency_ms"), "deliver"), "count"), 0) << out;
    // At this light load every offered delivery arrives by the end of the run.
    const auto& offered = obj(doc, "offered");
    EXPECT_GT(number(offered, "sends"), 0) << out;
    EXPECT_GE(number(offered, "deliveries"), number(offered, "sends")) << out;
    EXPECT_EQ(number(offered, "delivered"), number(offered, "deliveries")) << out;
    EXPECT_EQ(number(offered, "delivered_ratio"), 1.0) << out;
  }
  EXPECT_NE(out.find("correctness      ok"), std::string::npos) << out;
}

std::vector<bench_case> cases() {
  std::vector<bench_case> v;
  for (auto s : {server_kind::parleyd, server_kind::baseline}) {
    v.push_back({s, "dm", {"--connections", "10", "--rate", "200"}});
    v.push_back({s, "group", {"--connections", "12", "--members", "4", "--rate", "200"}});
    v.push_back({s, "group", {"--connections", "8", "--members", "4", "--max"}});
    v.push_back({s, "fanout", {"--connections", "20", "--rooms", "1", "--rate", "50"}});
    v.push_back({s, "idle", {"--connections", "20"}});
    v.push_back({s, "connect", {"--connections", "2"}});
  }
  // The generator answers the server's pings: parleyd pings every second and closes a
  // connection silent for 2 s (4002, which the run would report as an error); the idle
  // connections only ever send pongs, and the run lasts 3.3 s after they connect.
  v.push_back({server_kind::parleyd,
               "idle",
               {"--connections", "5"},
               {"--ping-interval", "1", "--idle-timeout", "2"},
               3,
               "_answers_pings"});
  return v;
}

INSTANTIATE_TEST_SUITE_P(all, bench_scenarios, testing::ValuesIn(cases()), case_name);

// Refusals that need no server: a non-loopback target is bad usage.
TEST(bench_cli, refuses_non_loopback_targets) {
  testsupport::child_process bench;
  std::string dir = testsupport::make_temp_dir("parley-bench");
  ASSERT_TRUE(bench.spawn({testsupport::bin_path("parley"), "bench", "--url", "ws://192.0.2.1:80",
                           "--secret", "s", "--scenario", "idle"},
                          dir + "/stderr.log"));
  EXPECT_EQ(bench.wait_exit(10s), 2);
  EXPECT_NE(slurp(dir + "/stderr.log").find("127.0.0.0/8"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::benchtest
