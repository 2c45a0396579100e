#include "bus/kafka_link.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/metrics.h"

namespace parley::bus::kafka {
namespace {

void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels; librdkafka logs a refused connection at 3 (LOG_ERR): a warning for us,
  // the state change is what matters.
  auto lvl = level <= 2   ? spdlog::level::err
             : level <= 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  spdlog::log(lvl, "kafka {}: {}: {}", rd_kafka_name(rk), fac, buf);
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto& l = static_cast<client*>(opaque)->bus_link;
  auto e = static_cast<rd_kafka_resp_err_t>(err);
  if (e == RD_KAFKA_RESP_ERR__FATAL) {
    // The idempotent producer cannot go on (e.g. sequence lost): stay down, loudly.
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    spdlog::error("kafka: fatal error: {}", buf);
    l.fatal.store(true);
    l.set_up(false);
    return;
  }
  if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) l.set_up(false);
  // Connection failures are already in librdkafka's own log lines (log_cb).
  if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return;
  l.log_limited(spdlog::level::warn,
                fmt::format("kafka {}: {}", rd_kafka_name(rk), reason ? reason : ""));
}

}  // namespace

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30));
}

bool fail_init(std::string& why, std::string reason) {
  why = std::move(reason);
  return false;
}

bool set_prop(rd_kafka_conf_t* c, const std::string& key, const std::string& value,
              std::string& why) {
  char err[512];
  if (rd_kafka_conf_set(c, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) {
    return true;
  }
  why = "kafka property " + key + "=" + value + ": " + err;
  return false;
}

void link::set_up(bool up) {
  if (up_.exchange(up) != up) {
    if (up) {
      spdlog::info("kafka: up ({})", opts.brokers);
    } else {
      spdlog::warn("kafka: down ({})", opts.brokers);
    }
  }
  m.kafka_up.store(up ? 1 : 0, std::memory_order_relaxed);
}

void link::log_limited(spdlog::level::level_enum lvl, const std::string& line) {
  auto now = steady::now().time_since_epoch().count();
  auto last = last_log_.load(std::memory_order_relaxed);
  constexpr std::int64_t second =
      std::chrono::duration_cast<steady::duration>(std::chrono::seconds(1)).count();
  if (now - last < second || !last_log_.compare_exchange_strong(last, now)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto n = suppressed_.exchange(0);
  if (n) {
    spdlog::log(lvl, "{} (and {} more since the last report)", line, n);
  } else {
    spdlog::log(lvl, "{}", line);
  }
}

bool configure_common(rd_kafka_conf_t* c, client& owner, const std::string& role,
                      std::string& why) {
  const auto& o = owner.bus_link.opts;
  rd_kafka_conf_set_opaque(c, &owner);
  rd_kafka_conf_set_log_cb(c, log_cb);
  rd_kafka_conf_set_error_cb(c, on_error);
  return set_prop(c, "bootstrap.servers", o.brokers, why) &&
         set_prop(c, "client.id", "parley-" + role + "-" + o.node_id, why) &&
         // Nagle adds up to 40 ms per hop with small records.
         set_prop(c, "socket.nagle.disable", "true", why) &&
         // Come back within a second of a broker restart, not after 10 s of backoff.
         set_prop(c, "reconnect.backoff.max.ms", "1000", why) &&
         // start() creates the topic with the configured partitions; a broker-side
         // auto-creation (with the broker's defaults) must not win that race.
         set_prop(c, "allow.auto.create.topics", "false", why);
}

bool apply_extra(rd_kafka_conf_t* c, const std::vector<std::pair<std::string, std::string>>& extra,
                 std::string& why) {
  for (const auto& [k, v] : extra) {
    if (!set_prop(c, k, v, why)) return false;
  }
  return true;
}

}  // namespace parley::bus::kafka
