#include "tools/bench/report.h"

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>

namespace parley::tools::bench {
namespace {

namespace json = boost::json;

double ms(std::uint64_t us) { return static_cast<double>(us) / 1000.0; }

// Per unit of work too: steadier than latency on a shared machine (docs/benchmarks.md).
json::object cpu_json(const run_result::cpu_time& c, const stats& st) {
  auto per = [&](std::uint64_t n) -> json::value {
    if (n == 0) return nullptr;
    return c.seconds * 1e6 / static_cast<double>(n);
  };
  return {{"seconds", c.seconds},
          {"wall_s", c.wall_s},
          {"cores", c.cores()},
          {"us_per_delivery", per(st.deliveries.load())},
          {"us_per_acked_send", per(st.acked_sends.load())}};
}

json::object latency_json(const histogram& h) {
  return {{"count", h.count()},
          {"p50", ms(h.percentile(50))},
          {"p90", ms(h.percentile(90))},
          {"p99", ms(h.percentile(99))},
          {"p999", ms(h.percentile(99.9))},
          {"max", ms(h.max())}};
}

double ratio(std::uint64_t n, std::uint64_t d) {
  return d > 0 ? static_cast<double>(n) / static_cast<double>(d) : 0;
}

double per_s(std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0; }

std::string fmt_ms(std::uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms(us));
  return buf;
}

void latency_row(std::ostream& out, const char* name, const histogram& h) {
  char line[200];
  std::snprintf(line, sizeof line, "  %-16s %10s %10s %10s %10s %10s %10llu\n", name,
                fmt_ms(h.percentile(50)).c_str(), fmt_ms(h.percentile(90)).c_str(),
                fmt_ms(h.percentile(99)).c_str(), fmt_ms(h.percentile(99.9)).c_str(),
                fmt_ms(h.max()).c_str(), static_cast<unsigned long long>(h.count()));
  out << line;
}

}  // namespace

std::uint64_t run_result::correctness_failures() const {
  return st->duplicates + st->out_of_order + st->foreign_room + st->gaps;
}

void print_summary(std::ostream& out, const run_result& r) {
  const auto& o = *r.opts;
  const auto& st = *r.st;
  char line[256];
  out << "parley bench: scenario " << scenario_name(o.kind) << ", " << o.connections
      << " connections";
  if (!r.plan->rooms.empty()) out << ", " << r.plan->rooms.size() << " rooms";
  if (r.plan->senders > 0) {
    out << ", " << r.plan->senders << " senders, ";
    if (o.max) {
      out << "closed loop (window " << o.window << ")";
    } else {
      out << "open loop at " << o.rate << " msgs/s";
    }
  }
  out << ", warm-up " << o.warmup << " s, measured " << r.measured_s << " s\n";
  std::snprintf(line, sizeof line, "  connections      %llu established, %llu failed, %llu lost\n",
                static_cast<unsigned long long>(st.established.load()),
                static_cast<unsigned long long>(st.failed.load()),
                static_cast<unsigned long long>(st.lost.load()));
  out << line;
  if (o.kind == scenario::connect) {
    std::snprintf(line, sizeof line, "  connects         %llu (%.1f/s)\n",
                  static_cast<unsigned long long>(st.connects.load()),
                  per_s(st.connects, r.measured_s));
    out << line;
  }
  if (r.plan->senders > 0) {
    std::snprintf(line, sizeof line, "  acked sends      %llu (%.1f/s)\n",
                  static_cast<unsigned long long>(st.acked_sends.load()),
                  per_s(st.acked_sends, r.measured_s));
    out << line;
    std::snprintf(line, sizeof line, "  deliveries       %llu (%.1f/s)\n",
                  static_cast<unsigned long long>(st.deliveries.load()),
                  per_s(st.deliveries, r.measured_s));
    out << line;
    std::snprintf(line, sizeof line,
                  "  offered          %llu sends -> %llu deliveries, %.2f%% of them arrived\n",
                  static_cast<unsigned long long>(st.offered_sends.load()),
                  static_cast<unsigned long long>(st.offered_deliveries.load()),
                  100.0 * ratio(st.offered_delivered, st.offered_deliveries));
    out << line;
  }
  if (r.rss_before_kb && r.rss_after_kb) {
    auto n = std::max<std::uint64_t>(1, st.established);
    std::snprintf(line, sizeof line,
                  "  server RSS       %lld kB -> %lld kB: %.1f kB per connection\n",
                  static_cast<long long>(*r.rss_before_kb), static_cast<long long>(*r.rss_after_kb),
                  static_cast<double>(*r.rss_after_kb - *r.rss_before_kb) / static_cast<double>(n));
    out << line;
  }
  if (r.server_cpu && r.server_cpu->wall_s > 0) {
    auto d = st.deliveries.load();
    std::snprintf(line, sizeof line, "  server CPU       %.2f cores, %.2f us per delivery\n",
                  r.server_cpu->cores(),
                  d ? r.server_cpu->seconds * 1e6 / static_cast<double>(d) : 0.0);
    out << line;
  }
  if (r.bench_cpu && r.bench_cpu->wall_s > 0) {
    std::snprintf(line, sizeof line, "  generator CPU    %.2f cores (this process)\n",
                  r.bench_cpu->cores());
    out << line;
  }
  std::snprintf(line, sizeof line, "  %-16s %10s %10s %10s %10s %10s %10s\n", "latency (ms)", "p50",
                "p90", "p99", "p99.9", "max", "count");
  out << line;
  if (r.plan->senders > 0) {
    latency_row(out, "send -> ack", st.ack_latency);
    latency_row(out, "send -> deliver", st.deliver_latency);
  }
  latency_row(out, "connect -> ready", st.connect_latency);
  auto errors = st.errors();
  if (errors.empty()) {
    out << "  errors           none\n";
  } else {
    out << "  errors          ";
    for (const auto& [code, n] : errors) out << " " << code << "=" << n;
    out << "\n";
  }
  if (st.backlog_dropped > 0) {
    out << "  local backlog    " << st.backlog_dropped << " sends dropped (server not reading)\n";
  }
  std::snprintf(line, sizeof line,
                "  correctness      %s: duplicates %llu, out of order %llu, foreign room %llu, "
                "gaps %llu\n",
                r.correctness_failures() == 0 ? "ok" : "FAILED",
                static_cast<unsigned long long>(st.duplicates.load()),
                static_cast<unsigned long long>(st.out_of_order.load()),
                static_cast<unsigned long long>(st.foreign_room.load()),
                static_cast<unsigned long long>(st.gaps.load()));
  out << line;
}

bool write_json(const std::string& path, const run_result& r, std::string* why) {
  const auto& o = *r.opts;
  const auto& st = *r.st;
  json::array urls;
  for (const auto& u : o.urls) urls.emplace_back(u);
  json::object config{{"urls", std::move(urls)},
                      {"scenario", scenario_name(o.kind)},
                      {"connections", o.connections},
                      {"rooms", r.plan->rooms.size()},
                      {"members", o.members},
                      {"senders", r.plan->senders},
                      {"mode", o.max ? "closed" : "open"},
                      {"rate", o.rate},
                      {"window", o.window},
                      {"warmup_s", o.warmup},
                      {"duration_s", o.duration},
                      {"size", o.size},
                      {"threads", o.threads},
                      {"source_addrs", o.source_addrs},
                      {"connect_concurrency", o.connect_concurrency},
                      {"server_pid", o.server_pid},
                      {"run_id", r.plan->run_id}};
  json::object errors;
  for (const auto& [code, n] : st.errors()) errors[code] = n;
  json::object doc{{"config", std::move(config)},
                   {"measured_s", r.measured_s},
                   {"connections",
                    {{"planned", o.connections},
                     {"established", st.established.load()},
                     {"failed", st.failed.load()},
                     {"lost", st.lost.load()}}},
                   {"sent_total", st.sent_total.load()},
                   {"acked_total", st.acked_total.load()},
                   {"deliveries_total", st.deliveries_total.load()},
                   {"acked_sends", st.acked_sends.load()},
                   {"deliveries", st.deliveries.load()},
                   {"connects", st.connects.load()},
                   {"acked_sends_per_s", per_s(st.acked_sends, r.measured_s)},
                   {"deliveries_per_s", per_s(st.deliveries, r.measured_s)},
                   {"connects_per_s", per_s(st.connects, r.measured_s)},
                   {"offered",
                    {{"sends", st.offered_sends.load()},
                     {"deliveries", st.offered_deliveries.load()},
                     {"delivered", st.offered_delivered.load()},
                     {"delivered_ratio", ratio(st.offered_delivered, st.offered_deliveries)}}},
                   {"latency_ms",
                    {{"ack", latency_json(st.ack_latency)},
                     {"deliver", latency_json(st.deliver_latency)},
                     {"connect", latency_json(st.connect_latency)}}},
                   {"errors", std::move(errors)},
                   {"backlog_dropped", st.backlog_dropped.load()},
                   {"correctness",
                    {{"ok", r.correctness_failures() == 0},
                     {"duplicates", st.duplicates.load()},
                     {"out_of_order", st.out_of_order.load()},
                     {"foreign_room", st.foreign_room.load()},
                     {"gaps", st.gaps.load()}}}};
  if (r.rss_before_kb && r.rss_after_kb) {
    auto n = std::max<std::uint64_t>(1, st.established);
    doc["server_rss_kb"] = {
        {"before", *r.rss_before_kb},
        {"after", *r.rss_after_kb},
        {"per_connection",
         static_cast<double>(*r.rss_after_kb - *r.rss_before_kb) / static_cast<double>(n)}};
  }
  if (r.server_cpu) doc["server_cpu"] = cpu_json(*r.server_cpu, st);
  if (r.bench_cpu) doc["bench_cpu"] = cpu_json(*r.bench_cpu, st);
  std::ofstream f(path, std::ios::trunc);
  if (!f) {
    *why = "cannot write " + path;
    return false;
  }
  f << json::serialize(doc) << "\n";
  if (!f.flush()) {
    *why = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace parley::tools::bench
