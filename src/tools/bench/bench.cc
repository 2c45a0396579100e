#include "tools/bench/bench.h"

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "tools/bench/load_client.h"
#include "tools/bench/options.h"
#include "tools/bench/report.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/stats.h"
#include "tools/common.h"

namespace parley::tools {
namespace {

using namespace bench;
namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr const char* k_cmd = "bench";
// Descriptors the process needs besides its connections.
constexpr rlim_t k_spare_fds = 64;
// The gap between set-up and the first scheduled send.
constexpr std::int64_t k_start_delay_us = 100'000;
// After the measure window: how long to wait for outstanding acks and deliveries.
constexpr auto k_drain_max = 3s;
constexpr auto k_drain_quiet = 200ms;

std::optional<std::int64_t> vm_rss_kb(std::int64_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return std::nullopt;
}

// The CPU time (user + system) `pid` used so far, in seconds.
std::optional<double> cpu_seconds(std::int64_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces): state is field 3, utime 14.
  auto close = all.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(all.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (utime + stime) / ticks;
}

// A process's CPU time from start() to stop().
class cpu_window {
 public:
  explicit cpu_window(std::int64_t pid) : pid_(pid) {}
  bool started() const { return begin_.has_value(); }
  void start(std::int64_t t_us) {
    begin_ = cpu_seconds(pid_);
    begin_us_ = t_us;
  }
  std::optional<run_result::cpu_time> stop(std::int64_t t_us) const {
    auto end = cpu_seconds(pid_);
    if (!begin_ || !end) return std::nullopt;
    return run_result::cpu_time{*end - *begin_, static_cast<double>(t_us - begin_us_) / 1e6};
  }

 private:
  std::int64_t pid_;
  std::optional<double> begin_;
  std::int64_t begin_us_ = 0;
};

// Raises RLIMIT_NOFILE to the hard limit (and the hard limit to `needed` when allowed); the
// error message when `needed` does not fit.
std::optional<std::string> raise_fd_limit(rlim_t needed) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return "getrlimit(RLIMIT_NOFILE) failed";
  if (rl.rlim_max != RLIM_INFINITY && needed > rl.rlim_max) {
    // Raising the hard limit needs CAP_SYS_RESOURCE (root); up to fs.nr_open. Try once.
    rlimit want{needed, needed};
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && needed > rl.rlim_cur) {
    return "system limit: " + std::to_string(needed) + " file descriptors needed, but " +
           "RLIMIT_NOFILE is " + std::to_string(rl.rlim_cur) +
           " (hard limit): raise it (ulimit -Hn, LimitNOFILE=, /etc/security/limits.conf) or "
           "lower --connections";
  }
  return std::nullopt;
}

// Ephemeral ports available per (source address, server) pair.
std::optional<std::string> check_ports(const options& o) {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  long lo = 0, hi = 0;
  if (!(f >> lo >> hi) || hi < lo) return std::nullopt;
  long per_pair = (static_cast<long>(o.connections) + o.source_addrs * o.endpoints.size() - 1) /
                  static_cast<long>(o.source_addrs * o.endpoints.size());
  if (per_pair > hi - lo + 1) {
    return "system limit: " + std::to_string(per_pair) + " connections per source address " +
           "and server, but only " + std::to_string(hi - lo + 1) +
           " ephemeral ports (net.ipv4.ip_local_port_range): raise --source-addrs";
  }
  return std::nullopt;
}

// Starts connections, at most `concurrency` set-ups in flight; waits for every set-up.
class launcher {
 public:
  explicit launcher(std::size_t concurrency) : concurrency_(concurrency) {}

  void add(std::shared_ptr<load_client> c) { conns_.push_back(std::move(c)); }
  const std::vector<std::shared_ptr<load_client>>& conns() const { return conns_; }

  void start() {
    for (std::size_t i = 0; i < std::min(concurrency_, conns_.size()); ++i) launch_one();
  }
  // Called by a connection when its set-up ended.
  void on_setup(bool) {
    {
      std::lock_guard lock(mu_);
      ++done_;
    }
    cv_.notify_all();
    launch_one();
  }
  bool wait(std::chrono::steady_clock::duration timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return done_ == conns_.size(); });
  }

 private:
  void launch_one() {
    std::size_t i = next_.fetch_add(1);
    if (i < conns_.size()) conns_[i]->start();
  }

  std::size_t concurrency_;
  std::vector<std::shared_ptr<load_client>> conns_;
  std::atomic<std::size_t> next_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t done_ = 0;
};

class progress_line {
 public:
  explicit progress_line(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {}
  ~progress_line() { finish(); }

  void update(const stats& st, const char* phase, double t_s) {
    if (!enabled_) return;
    std::uint64_t acked = st.acked_total, deliv = st.deliveries_total;
    double dt = t_s - last_t_;
    double ack_rate = dt > 0 ? static_cast<double>(acked - last_acked_) / dt : 0;
    double del_rate = dt > 0 ? static_cast<double>(deliv - last_deliv_) / dt : 0;
    last_t_ = t_s;
    last_acked_ = acked;
    last_deliv_ = deliv;
    std::fprintf(stderr,
                 "\r[%-7s %5.1fs] acks/s %9.0f  deliveries/s %9.0f  p99 %8.3f ms  errors %llu  "
                 "conns %llu   ",
                 phase, t_s, ack_rate, del_rate,
                 static_cast<double>(st.deliver_latency.percentile(99)) / 1000.0,
                 static_cast<unsigned long long>(st.errors_total.load()),
                 static_cast<unsigned long long>(st.established - st.lost));
    shown_ = true;
  }
  void finish() {
    if (shown_) std::fputc('\n', stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  double last_t_ = 0;
  std::uint64_t last_acked_ = 0, last_deliv_ = 0;
};

int run_bench(options& o) {
  if (auto why = validate(o)) return usage_error(k_cmd, *why);
  if (auto why = raise_fd_limit(static_cast<rlim_t>(o.connections) + k_spare_fds)) {
    return failure(k_cmd, *why);
  }
  if (auto why = check_ports(o)) return failure(k_cmd, *why);

  std::string why;
  auto plan = make_plan(o, &why);
  if (!plan) return failure(k_cmd, "setting up rooms: " + why);

  stats st;
  run_result result;
  result.opts = &o;
  result.plan = &*plan;
  result.st = &st;
  if (o.server_pid > 0) result.rss_before_kb = vm_rss_kb(o.server_pid);

  asio::io_context ioc(o.threads);
  auto work = asio::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });

  launcher launch(static_cast<std::size_t>(o.connect_concurrency));
  for (auto& cp : plan->conns) {
    launch.add(load_client::make(ioc, cp, st, [&launch](bool ok) { launch.on_setup(ok); }));
  }
  progress_line progress(o.progress);
  auto setup_timeout = 10s + std::chrono::milliseconds(o.connections);  // 1 ms per connection
  launch.start();
  bool all_set_up = launch.wait(setup_timeout);

  auto stop_all = [&] {
    for (const auto& c : launch.conns()) c->shutdown();
    // Let the strands run their shutdown, then stop whatever is left.
    std::this_thread::sleep_for(100ms);
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
  };
  if (!all_set_up) {
    std::cerr << "parley " << k_cmd << ": connection set-up did not finish within "
              << std::chrono::duration_cast<std::chrono::seconds>(setup_timeout).count()
              << " s; measuring with " << st.established << " connections\n";
  }
  if (st.established == 0) {
    stop_all();
    auto errors = st.errors();
    std::string first = errors.empty() ? "unknown" : errors.begin()->first;
    return failure(k_cmd, "no connection could be set up (" + first + ")");
  }

  std::int64_t t0 = now_us() + k_start_delay_us;
  std::int64_t begin = t0 + static_cast<std::int64_t>(o.warmup * 1e6);
  std::int64_t end = begin + static_cast<std::int64_t>(o.duration * 1e6);
  st.measure_begin_us = begin;
  st.measure_end_us = end;
  result.measured_s = o.duration;
  if (plan->senders > 0) {
    send_plan sp;
    sp.closed_loop = o.max;
    sp.window = o.window;
    sp.begin_us = t0;
    sp.end_us = end;
    sp.text.assign(static_cast<std::size_t>(o.size), 'x');
    if (!o.max) sp.interval_us = 1e6 * static_cast<double>(plan->senders) / o.rate;
    int j = 0;
    for (std::size_t i = 0; i < plan->conns.size(); ++i) {
      if (!plan->conns[i].sender) continue;
      // Spread the senders' schedules evenly over one interval.
      sp.phase_us = sp.interval_us * j++ / plan->senders;
      launch.conns()[i]->start_sending(sp);
    }
  }

  // Warm-up and measure, with the live line once a second (and a stop at `begin` for the
  // server's CPU time).
  cpu_window server_cpu(o.server_pid), self_cpu(::getpid());
  for (;;) {
    std::int64_t t = now_us();
    if (!self_cpu.started() && t >= begin) {
      if (o.server_pid > 0) server_cpu.start(t);
      self_cpu.start(t);
    }
    if (t >= end) break;
    std::int64_t next = std::min(end, t + 1'000'000);
    if (t < begin) next = std::min(next, begin);
    std::this_thread::sleep_until(at_us(next));
    progress.update(st, now_us() < begin ? "warm-up" : "measure",
                    static_cast<double>(now_us() - t0) / 1e6);
  }
  result.bench_cpu = self_cpu.stop(now_us());
  if (o.server_pid > 0) {
    result.rss_after_kb = vm_rss_kb(o.server_pid);
    result.server_cpu = server_cpu.stop(now_us());
  }

  // Drain: wait for what is still in flight, so the correctness check sees it.
  auto drain_until = std::chrono::steady_clock::now() + k_drain_max;
  std::uint64_t last = st.deliveries_total + st.acked_total;
  auto quiet_since = std::chrono::steady_clock::now();
  while (plan->senders > 0 && std::chrono::steady_clock::now() < drain_until) {
    std::this_thread::sleep_for(20ms);
    std::uint64_t now_total = st.deliveries_total + st.acked_total;
    if (now_total != last) {
      last = now_total;
      quiet_since = std::chrono::steady_clock::now();
    } else if (st.acked_total + st.errors_total >= st.sent_total &&
               std::chrono::steady_clock::now() - quiet_since >= k_drain_quiet) {
      break;
    }
  }
  progress.finish();
  stop_all();

  print_summary(std::cout, result);
  if (!o.json_file.empty() && !write_json(o.json_file, result, &why)) {
    return failure(k_cmd, why);
  }
  if (result.correctness_failures() > 0) {
    return failure(k_cmd, "correctness check failed (see the summary)");
  }
  return k_exit_ok;
}

}  // namespace

command add_bench_command(CLI::App& app) {
  auto opts = std::make_shared<options>();
  auto* cmd = app.add_subcommand(
      "bench", "Load-test servers on this machine over the public protocol (see --scenario).");
  add_bench_options(*cmd, *opts);
  return {cmd, [opts] {
            try {
              return run_bench(*opts);
            } catch (const std::exception& e) {
              return failure(k_cmd, e.what());
            }
          }};
}

}  // namespace parley::tools
