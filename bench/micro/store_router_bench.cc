// Micro-benchmarks of the two halves of the message path behind the socket:
//   store append batch   N appends queued at once into the SQLite store (WAL,
//                        synchronous=FULL): the writer group-commits them, so the cost per
//                        message falls with the batch size (the fsync is shared)
//   router fan-out       one bus record dispatched to the K connections that joined its
//                        room, through each connection's strand and delivery rule to its
//                        emitter (no socket): the per-receiver cost of a message
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/ids.h"
#include "bus/bus.h"
#include "chat/connection.h"
#include "chat/service.h"
#include "store/store.h"

namespace {

using namespace parley;
namespace net = boost::asio;

// The store logs its migrations at info for every fixture: keep the benchmark output clean.
const bool k_quiet = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();

std::string temp_dir(const char* what) {
  static std::atomic<int> n{0};
  auto d = std::filesystem::temp_directory_path() /
           ("parley-microbench-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(n++));
  std::filesystem::create_directories(d);
  return d.string();
}

std::unique_ptr<store::store> sqlite_store(const std::string& dir) {
  store::options so;
  so.url = "sqlite:" + dir + "/parley.db";
  std::string why;
  auto st = store::make_store(so, why);
  if (!st) throw std::runtime_error("make_store: " + why);
  return std::move(st.value());
}

void BM_store_append_batch(benchmark::State& state) {
  auto dir = temp_dir("store");
  auto st = sqlite_store(dir);
  const int batch = static_cast<int>(state.range(0));
  const std::string room = "dm:alice:bob";
  const std::string text(64, 'x');
  std::mutex mu;
  std::condition_variable cv;
  for (auto _ : state) {
    int left = batch;
    for (int i = 0; i < batch; ++i) {
      store::append_request r;
      r.room = room;
      r.sender = "alice";
      r.text = text;
      r.ts = now_ms();
      r.id = ids::new_message_id(r.ts);
      st->append(std::move(r), [&](result<store::append_result> res) {
        if (!res) std::abort();  // a benchmark of a failing store measures nothing
        std::lock_guard lock(mu);
        if (--left == 0) cv.notify_one();
      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  }
  state.SetItemsProcessed(state.iterations() * batch);
  st->close();
  st.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_store_append_batch)->Arg(1)->Arg(16)->Arg(128)->Arg(512)->UseRealTime();

// Counts live `message` frames; wakes the benchmark when every receiver has the current one.
struct fanout_counter {
  std::mutex mu;
  std::condition_variable cv;
  std::int64_t delivered = 0;
  std::int64_t joined = 0;
};

class counting_emitter final : public chat::emitter {
 public:
  explicit counting_emitter(fanout_counter& c) : c_(c) {}
  void emit(chat::frame_ptr frame, bool is_message) override {
    bool joined = !is_message && frame->find(R"("type":"joined")") != std::string::npos;
    if (!is_message && !joined) return;
    std::lock_guard lock(c_.mu);
    (is_message ? c_.delivered : c_.joined) += 1;
    c_.cv.notify_one();
  }
  void emit_error(std::error_code, const std::string&, const std::optional<std::string>&,
                  const std::optional<std::string>&) override {
    std::abort();
  }
  void close(std::error_code) override {}

 private:
  fanout_counter& c_;
};

void BM_router_fanout(benchmark::State& state) {
  const int receivers = static_cast<int>(state.range(0));
  auto dir = temp_dir("router");
  auto st = sqlite_store(dir);
  auto bus = bus::make_local_bus();
  auth::verifier_options vo;
  vo.hs256_secret = "microbench";
  chat::service_options so;
  so.node_id = "bench-node";
  so.send_rate = 1e9;
  so.frame_rate = 1e9;
  chat::service svc(*st, *bus, auth::verifier::make(vo).value(), so);
  (void)bus->start();

  net::io_context ioc;
  auto guard = net::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { ioc.run(); });

  std::vector<std::string> members;
  for (int i = 0; i < receivers; ++i) members.push_back("u" + std::to_string(i));
  const std::string room = ids::new_group_id();
  if (!st->create_group(room, "bench", members[0], members, now_ms())) std::abort();

  fanout_counter counter;
  std::vector<std::shared_ptr<counting_emitter>> emitters;
  std::vector<std::shared_ptr<chat::connection>> conns;
  std::vector<chat::connection::strand_type> strands;
  for (int i = 0; i < receivers; ++i) {
    emitters.push_back(std::make_shared<counting_emitter>(counter));
    auto strand = net::make_strand(ioc);
    strands.push_back(strand);
    conns.push_back(std::make_shared<chat::connection>(
        svc, strand, std::weak_ptr<chat::emitter>(emitters.back()), members[i],
        "s" + std::to_string(i), now_ms() + 3600'000));
    net::post(strand, [c = conns.back(), room] { c->start(room); });
  }
  {
    std::unique_lock lock(counter.mu);
    counter.cv.wait(lock, [&] { return counter.joined == receivers; });
  }

  std::int64_t seq = 0;
  for (auto _ : state) {
    auto r = std::make_shared<bus::record>();
    r->type = bus::kind::message;
    r->room = room;
    r->node = "other-node";
    r->seq = ++seq;
    r->id = "m" + std::to_string(seq);
    r->from = members[0];
    r->text = "hello there, this is a 64 byte message of the bench ok";
    r->ts = now_ms();
    svc.router().dispatch(r);
    std::unique_lock lock(counter.mu);
    counter.cv.wait(lock, [&] { return counter.delivered == seq * receivers; });
  }
  state.SetItemsProcessed(state.iterations() * receivers);
  state.counters["receivers"] = receivers;

  std::atomic<int> stopped{0};
  for (std::size_t i = 0; i < conns.size(); ++i) {
    net::post(strands[i], [c = conns[i], &stopped] {
      c->stop();
      ++stopped;
    });
  }
  while (stopped < receivers) std::this_thread::yield();
  svc.stop();
  st->close();
  guard.reset();
  for (auto& t : threads) t.join();
  conns.clear();
  bus->stop();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_router_fanout)->Arg(10)->Arg(1000)->UseRealTime();

}  // namespace
