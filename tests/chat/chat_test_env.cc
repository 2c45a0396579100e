#include "chat/chat_test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>

#include "base/clock.h"
#include "base/ids.h"
#include "net/errors.h"

namespace parley::chat::testing {

namespace asio = boost::asio;
namespace json = boost::json;

// ---- recorder ----------------------------------------------------------------------------

void recorder::emit(frame_ptr frame, bool is_message) {
  std::lock_guard lk(mu_);
  frames_.push_back({*frame, is_message});
  cv_.notify_all();
}

void recorder::emit_error(std::error_code ec, const std::string& message,
                          const std::optional<std::string>& ref,
                          const std::optional<std::string>& rid) {
  std::lock_guard lk(mu_);
  errors_.push_back({ec, message, ref, rid});
  frames_.push_back({error_frame(ec.message(), message, ref, rid), false});
  cv_.notify_all();
}

void recorder::close(std::error_code why) {
  // The close code net's one table gives `why` (chat names the reason, net the code).
  std::lock_guard lk(mu_);
  closes_.push_back(net::to_wire(why).close_code);
  cv_.notify_all();
}

std::vector<recorder::entry> recorder::frames() const {
  std::lock_guard lk(mu_);
  return frames_;
}

std::vector<recorder::error_entry> recorder::errors() const {
  std::lock_guard lk(mu_);
  return errors_;
}

std::vector<int> recorder::closes() const {
  std::lock_guard lk(mu_);
  return closes_;
}

bool recorder::wait(const std::function<bool(const std::vector<entry>&)>& pred,
                    std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return pred(frames_); });
}

std::vector<json::object> parse_all(const std::vector<recorder::entry>& es) {
  std::vector<json::object> out;
  for (const auto& e : es) {
    boost::system::error_code ec;
    auto v = json::parse(e.frame, ec);
    EXPECT_FALSE(ec) << e.frame;
    EXPECT_TRUE(v.is_object()) << e.frame;
    out.push_back(v.is_object() ? v.as_object() : json::object{});
  }
  return out;
}

std::string type_of(const json::object& o) {
  auto it = o.find("type");
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : "";
}

std::vector<std::int64_t> live_seqs(const std::vector<recorder::entry>& es,
                                    const std::string& room) {
  std::vector<std::int64_t> out;
  for (const auto& e : es) {
    if (!e.is_message) continue;
    auto o = json::parse(e.frame).as_object();
    EXPECT_EQ(type_of(o), "message");
    if (o.at("room").as_string() == room) out.push_back(o.at("seq").as_int64());
  }
  return out;
}

std::size_t count_type(const std::vector<recorder::entry>& es, const std::string& type) {
  std::size_t n = 0;
  for (const auto& o : parse_all(es))
    if (type_of(o) == type) ++n;
  return n;
}

// ---- env ---------------------------------------------------------------------------------

service_options env::default_options() {
  service_options o;
  o.node_id = "test-node";
  o.send_rate = 1e6;
  o.frame_rate = 1e6;
  o.gap_wait_ms = 20;
  o.blocking_threads = 2;
  return o;
}

std::int64_t env::far_future() { return now_ms() + 3600'000; }

env::env(service_options opts, int io_threads) {
  static std::atomic<int> counter{0};
  dir_ = (std::filesystem::temp_directory_path() /
          ("parley-chat-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
             .string();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  store::options so;
  so.url = "sqlite:" + dir_ + "/parley.sqlite";
  so.readers = 3;
  std::string why;
  auto st = store::make_store(so, why);
  if (!st) throw std::runtime_error("make_store: " + why);
  store_ = std::move(st.value());
  bus_ = bus::make_local_bus();
  auth::verifier_options vo;
  vo.hs256_secret = k_secret;
  auto ver = auth::verifier::make(vo);
  if (!ver) throw std::runtime_error("verifier: " + ver.error().message());
  svc_ = std::make_unique<service>(*store_, *bus_, ver.value(), std::move(opts));
  (void)bus_->start();
  guard_.emplace(ioc_.get_executor());
  for (int i = 0; i < io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

env::~env() {
  // Quiesce in dependency order: connections, blocking pool, store writer, io threads.
  for (auto& c : clients_) on_strand(c, [conn = c.conn] { conn->stop(); });
  svc_->stop();
  store_->close();
  guard_.reset();
  for (auto& t : threads_) t.join();
  clients_.clear();
  svc_.reset();
  bus_->stop();
  bus_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

client env::connect(const std::string& user, const std::string& session,
                    std::optional<std::string> default_room, std::int64_t exp_ms) {
  client c;
  c.rec = std::make_shared<recorder>();
  auto strand = asio::make_strand(ioc_);
  c.strand = strand;
  c.conn = std::make_shared<connection>(*svc_, strand, std::weak_ptr<emitter>(c.rec), user, session,
                                        exp_ms);
  clients_.push_back(c);
  on_strand(c, [conn = c.conn, default_room] { conn->start(default_room); });
  return c;
}

void env::on_strand(const client& c, std::function<void()> fn) {
  std::promise<void> done;
  asio::post(c.strand, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void env::text(const client& c, const std::string& frame) {
  on_strand(c, [conn = c.conn, frame] { conn->on_text(frame); });
}

void env::join(const client& c, const std::string& room, std::optional<std::int64_t> since) {
  auto before = count_type(c.rec->frames(), "joined");
  json::object o;
  o["type"] = "join";
  o["room"] = room;
  if (since) o["since"] = *since;
  text(c, json::serialize(o));
  bool ok = c.rec->wait([&](const auto& fs) { return count_type(fs, "joined") > before; });
  ASSERT_TRUE(ok) << "no joined frame for " << room;
  // joined and its history frames are emitted by one strand handler: a barrier after it
  // has run sees them all.
  on_strand(c, [] {});
}

store::message env::append(const std::string& room, const std::string& from,
                           const std::string& text, std::optional<std::string> cid) {
  std::promise<result<store::append_result>> p;
  store::append_request r;
  r.room = room;
  r.sender = from;
  r.cid = std::move(cid);
  r.text = text;
  r.ts = now_ms();
  r.id = ids::new_message_id(r.ts);
  store_->append(std::move(r), [&](result<store::append_result> res) { p.set_value(res); });
  auto res = p.get_future().get();
  if (!res) throw std::runtime_error("append: " + res.error().message());
  return res.value().msg;
}

bus::record_ptr env::record_of(const store::message& m) {
  auto r = std::make_shared<bus::record>();
  r->type = bus::kind::message;
  r->room = m.room;
  r->node = "other-node";
  r->seq = m.seq;
  r->id = m.id;
  r->from = m.sender;
  r->text = m.text;
  r->ts = m.ts;
  r->cid = m.cid;
  return r;
}

// ---- helpers -----------------------------------------------------------------------------

json::value js(std::string_view s) { return json::value(json::string(s)); }

std::vector<std::int64_t> iota_seqs(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> v;
  for (auto s = first; s <= last; ++s) v.push_back(s);
  return v;
}

bool has_live(const recorder& rec, const std::string& room, std::size_t n) {
  return rec.wait([&](const auto& fs) { return live_seqs(fs, room).size() >= n; });
}

std::vector<json::object> of_type(const client& c, const std::string& type) {
  std::vector<json::object> out;
  for (auto& o : parse_all(c.rec->frames()))
    if (type_of(o) == type) out.push_back(std::move(o));
  return out;
}

store::message send_sync(env& e, const std::string& user, const std::string& room,
                         const std::string& text, std::optional<std::string> cid) {
  std::promise<result<store::append_result>> p;
  e.svc().send(send_request{user, room, text, std::move(cid), ""},
               [&](result<store::append_result> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? r.value().msg : store::message{};
}

void settle(env& e, const client& c) {
  e.on_strand(c, [] {});
  e.on_strand(c, [] {});
}

}  // namespace parley::chat::testing
