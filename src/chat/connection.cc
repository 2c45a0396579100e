#include "chat/connection.h"

#include <boost/asio/post.hpp>
#include <utility>

#include "base/clock.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "chat/errors.h"
#include "chat/service.h"

namespace parley::chat {

namespace asio = boost::asio;

namespace {

constexpr std::size_t k_history_frame_max = 200;
constexpr std::size_t k_max_pending = 10000;
constexpr int k_error_flood_count = 100;
constexpr std::int64_t k_error_flood_window_ms = 10'000;

const char* type_name(frame_type t) {
  switch (t) {
    case frame_type::send:
      return "send";
    case frame_type::join:
      return "join";
    case frame_type::leave:
      return "leave";
    case frame_type::history:
      return "history";
    case frame_type::typing:
      return "typing";
    case frame_type::read:
      return "read";
    case frame_type::auth:
      return "auth";
    case frame_type::ping:
      return "ping";
  }
  return "unknown";
}

// The error frame's `ref`: the request's cid, else its type, null for plain text.
std::optional<std::string> ref_of(const client_frame& f) {
  if (f.cid) return f.cid;
  if (f.plain_text) return std::nullopt;
  return std::string(type_name(f.type));
}

}  // namespace

connection::connection(service& svc, strand_type strand, std::weak_ptr<emitter> out,
                       std::string user, std::string session, std::int64_t exp_ms)
    : svc_(svc),
      strand_(std::move(strand)),
      out_(std::move(out)),
      user_(std::move(user)),
      session_(std::move(session)),
      exp_ms_(exp_ms),
      expiry_timer_(strand_) {}

connection::~connection() = default;

template <class Work, class Then>
void connection::blocking(Work work, Then then) {
  // A full store pool answers at once with `unavailable`, through `then` like any error.
  svc_.blocking(
      std::move(work), [self = shared_from_this(), then = std::move(then)](auto r) mutable {
        asio::post(self->strand_, [self, r = std::move(r), then = std::move(then)]() mutable {
          if (!self->stopped_) then(std::move(r));
        });
      });
}

void connection::start(std::optional<std::string> default_room) {
  svc_.router().add_connection(shared_from_this());
  arm_expiry();
  default_room_ = std::move(default_room);
  if (default_room_) do_join(*default_room_, std::nullopt, std::nullopt);
}

void connection::stop() {
  if (stopped_) return;
  stopped_ = true;
  svc_.router().remove_connection(this);
  expiry_timer_.cancel();
  for (auto& [room, s] : subs_)
    if (s.gap_timer) s.gap_timer->cancel();
  subs_.clear();
}

void connection::emit(std::string frame, bool is_message) {
  if (auto out = out_.lock())
    out->emit(std::make_shared<const std::string>(std::move(frame)), is_message);
}

void connection::error(std::error_code ec, std::string message, std::optional<std::string> ref,
                       std::optional<std::string> rid) {
  auto out = out_.lock();
  if (!out) return;
  out->emit_error(ec, message, ref, rid);
  auto now = now_ms();
  error_times_.push_back(now);
  while (!error_times_.empty() && now - error_times_.front() > k_error_flood_window_ms)
    error_times_.pop_front();
  if (static_cast<int>(error_times_.size()) > k_error_flood_count) out->close(errc::flooded);
}

void connection::arm_expiry() {
  auto deadline = exp_ms_ + svc_.options().jwt_skew_ms - now_ms();
  expiry_timer_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(deadline, 0)));
  expiry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped_) return;
    if (self->exp_ms_ + self->svc_.options().jwt_skew_ms > now_ms()) return self->arm_expiry();
    self->error(errc::token_expired, "token expired", std::nullopt, std::nullopt);
  });
}

void connection::on_text(std::string_view text) {
  if (stopped_) return;
  auto parsed = parse_client_frame(text);
  if (!parsed.frame) {
    auto& f = parsed.failure;
    return error(errc::bad_request, f.message, f.ref, f.rid);
  }
  auto& f = *parsed.frame;
  // Sends have their own bucket (taken in service::send, refunded for repeats).
  if (f.type != frame_type::send &&
      !svc_.rate_limiter().try_take(user_, rate_limiter::bucket::other))
    return error(errc::rate_limited, "too many frames", ref_of(f), f.rid);
  handle(std::move(f));
}

void connection::handle(client_frame f) {
  switch (f.type) {
    case frame_type::send:
      return do_send(std::move(f));
    case frame_type::join:
      return do_join(std::move(*f.room), f.since, f.rid);
    case frame_type::leave:
      return do_leave(*f.room, f.rid);
    case frame_type::history:
      return do_history(std::move(f));
    case frame_type::typing:
      return do_typing(std::move(f));
    case frame_type::read:
      return do_read(std::move(f));
    case frame_type::auth:
      return do_auth(std::move(f));
    case frame_type::ping:
      return emit(pong_frame(now_ms(), f.rid));
  }
}

void connection::do_send(client_frame f) {
  auto room = f.room ? f.room : default_room_;
  if (!room)
    return error(errc::bad_request, "no room: give 'room' or connect with receiverId/room",
                 ref_of(f), f.rid);
  if (f.text.size() > svc_.options().max_text_bytes)
    return error(errc::too_large,
                 "text over " + std::to_string(svc_.options().max_text_bytes) + " bytes", ref_of(f),
                 f.rid);
  if (f.text.empty()) return error(errc::bad_request, "text must not be empty", ref_of(f), f.rid);
  if (!ids::valid_text(f.text))
    return error(errc::bad_request, "text must not contain U+0000", ref_of(f), f.rid);
  send_request req{user_, *room, std::move(f.text), f.cid, session_};
  auto ref = ref_of(f);
  if (f.cid) ++unacked_[*f.cid];
  svc_.send(std::move(req),
            [self = shared_from_this(), ref, rid = f.rid, cid = f.cid](result<sent> r) mutable {
              // Posted before the message's record is published: the ack precedes the copy.
              asio::post(self->strand_, [self, r = std::move(r), ref = std::move(ref),
                                         rid = std::move(rid), cid = std::move(cid)]() mutable {
                if (self->stopped_) return;
                if (!r) {
                  self->error(r.error(), r.error().message(), ref, rid);
                } else {
                  self->emit(ack_frame(r.value().msg, rid));
                }
                self->send_answered(cid);
              });
            });
}

void connection::do_join(std::string room, std::optional<std::int64_t> since,
                         std::optional<std::string> rid) {
  // Subscribe before reading the snapshot: a message committed after the read arrives as a
  // live record (buffered until the replay is out); one committed before is in the
  // snapshot, and its record is then dropped as a duplicate.
  auto& s = subs_[room];
  s.st = subscription::state::replaying;
  s.generation += 1;
  s.pending.clear();
  s.gap_fill_in_flight = false;
  if (s.gap_timer) s.gap_timer->cancel();
  s.gap_armed = false;
  svc_.router().subscribe(room, shared_from_this());
  auto generation = s.generation;
  int limit = since ? svc_.options().replay_max : 50;
  blocking([&svc = svc_, room, user = user_, since,
            limit] { return svc.join(room, user, since, limit); },
           [self = shared_from_this(), room, generation, since,
            rid](result<join_snapshot> snap) mutable {
             self->finish_join(room, generation, since, std::move(snap), rid);
           });
}

void connection::finish_join(const std::string& room, std::uint64_t generation,
                             std::optional<std::int64_t> since, result<join_snapshot> snap,
                             const std::optional<std::string>& rid) {
  auto it = subs_.find(room);
  if (it == subs_.end() || it->second.generation != generation) return;  // left or re-joined
  auto& s = it->second;
  if (!snap) {
    drop_subscription(it);
    return error(snap.error(), snap.error().message(), std::string("join"), rid);
  }
  auto& sn = snap.value();
  emit(joined_frame(room, sn.last_seq, sn.read_seq, rid));
  const auto& ms = sn.replay.messages;
  if (!since) {
    emit(history_frame(room, ms, 0, ms.size(), sn.replay.more, rid));
  } else {
    // Replay in frames of at most 200. Only the last frame may say more: true, which
    // means "not subscribed: join again with since = the last seq received".
    std::size_t n = ms.size();
    if (n == 0) emit(history_frame(room, ms, 0, 0, sn.replay.more, rid));
    for (std::size_t i = 0; i < n; i += k_history_frame_max) {
      std::size_t end = std::min(n, i + k_history_frame_max);
      emit(history_frame(room, ms, i, end, end == n && sn.replay.more, rid));
    }
    if (sn.replay.more) return drop_subscription(it);
  }
  s.last = sn.last_seq;
  s.st = subscription::state::live;
  drain_pending(s);
  if (!s.pending.empty()) arm_gap_timer(room, s);
}

void connection::drop_subscription(subscriptions::iterator it) {
  if (it->second.gap_timer) it->second.gap_timer->cancel();
  svc_.router().unsubscribe(it->first, this);
  subs_.erase(it);
}

void connection::do_leave(const std::string& room, const std::optional<std::string>& rid) {
  if (auto it = subs_.find(room); it != subs_.end()) drop_subscription(it);
  emit(left_frame(room, std::nullopt, rid));
}

void connection::do_history(client_frame f) {
  auto room = *f.room;
  blocking([&svc = svc_, room, user = user_, before = f.before,
            limit = f.limit] { return svc.messages(user, room, before, std::nullopt, limit); },
           [self = shared_from_this(), room, rid = f.rid](result<page> p) {
             if (!p)
               return self->error(p.error(), p.error().message(), std::string("history"), rid);
             const auto& ms = p.value().messages;
             self->emit(history_frame(room, ms, 0, ms.size(), p.value().more, rid));
           });
}

void connection::do_read(client_frame f) {
  auto room = *f.room;
  blocking(
      [&svc = svc_, room, user = user_, seq = f.seq] { return svc.mark_read(room, user, seq); },
      [self = shared_from_this(), room, rid = f.rid](result<std::int64_t> r) {
        if (!r) return self->error(r.error(), r.error().message(), std::string("read"), rid);
        bus::record rec;
        rec.type = bus::kind::read;
        rec.room = room;
        rec.user = self->user_;
        rec.seq = r.value();
        rec.origin_session = self->session_;
        self->svc_.publish(std::move(rec));
      });
}

void connection::do_typing(client_frame f) {
  auto room = *f.room;
  svc_.check_member(room, user_, [self = shared_from_this(), room, rid = f.rid](result<void> m) {
    asio::post(self->strand_, [self, room, rid, m] {
      if (self->stopped_) return;
      if (!m) return self->error(m.error(), m.error().message(), std::string("typing"), rid);
      bus::record rec;
      rec.type = bus::kind::typing;
      rec.room = room;
      rec.user = self->user_;
      rec.origin_session = self->session_;
      self->svc_.publish(std::move(rec));
    });
  });
}

void connection::do_auth(client_frame f) {
  auto c = svc_.verifier().verify(f.token, now_ms());
  if (!c) return error(errc::unauthorized, c.error().message(), std::string("auth"), f.rid);
  if (c.value().sub != user_)
    return error(errc::unauthorized, "token is for another user", std::string("auth"), f.rid);
  exp_ms_ = c.value().exp_ms;
  arm_expiry();
  emit(auth_ok_frame(exp_ms_, f.rid));
}

void connection::post_record(bus::record_ptr r, frame_ptr frame, delivery what) {
  asio::post(strand_,
             [self = shared_from_this(), r = std::move(r), frame = std::move(frame), what] {
               if (!self->stopped_) self->on_record(r, frame, what);
             });
}

void connection::on_record(const bus::record_ptr& r, const frame_ptr& frame, delivery what) {
  auto it = subs_.find(r->room);
  bool joined = it != subs_.end();
  switch (what) {
    case delivery::message:
      if (joined) deliver_message(*r, it->second, frame);
      break;
    case delivery::notify:
    case delivery::added:
      if (!joined)
        if (auto out = out_.lock()) out->emit(frame, false);
      break;
    case delivery::ephemeral:
      if (joined && it->second.st == subscription::state::live && r->origin_session != session_)
        if (auto out = out_.lock()) out->emit(frame, false);
      break;
    case delivery::removed:
      if (joined) {
        drop_subscription(it);
        emit(left_frame(r->room, std::string("removed"), std::nullopt));
      } else if (auto out = out_.lock()) {
        out->emit(frame, false);
      }
      break;
  }
}

std::optional<std::string> connection::own_cid(const std::string& sender,
                                               const std::optional<std::string>& cid) const {
  // Kept for every own message with a cid, not only while a send is waiting: a message
  // buffered now may be held later, when the same cid is sent again before it drains.
  if (!cid || sender != user_) return std::nullopt;
  return cid;
}

bool connection::held(const std::string& sender, const std::optional<std::string>& cid) const {
  return !unacked_.empty() && cid && sender == user_ && unacked_.count(*cid) != 0;
}

bool connection::held(const waiting& w) const {
  return w.own_cid && unacked_.count(*w.own_cid) != 0;
}

void connection::send_answered(const std::optional<std::string>& cid) {
  if (!cid) return;
  auto it = unacked_.find(*cid);
  if (it == unacked_.end() || --it->second > 0) return;
  unacked_.erase(it);
  // Release what waited behind this send's own copy.
  for (auto& [room, s] : subs_) {
    if (s.st != subscription::state::live || s.pending.empty()) continue;
    drain_pending(s);
    if (!s.pending.empty()) arm_gap_timer(room, s);
  }
}

void connection::deliver_message(const bus::record& r, subscription& s, const frame_ptr& frame) {
  auto seq = r.seq;
  auto park = [&] { s.pending.emplace(seq, waiting{frame, own_cid(r.from, r.cid)}); };
  if (s.st == subscription::state::replaying) return park();
  if (seq <= s.last) {
    global_metrics().duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (seq == s.last + 1) {
    if (held(r.from, r.cid)) return park();  // released by send_answered()
    if (auto out = out_.lock()) out->emit(frame, true);
    s.last = seq;
    drain_pending(s);
    return;
  }
  park();
  if (s.pending.size() > k_max_pending) return fill_gap(r.room);
  arm_gap_timer(r.room, s);
}

void connection::drain_pending(subscription& s) {
  auto out = out_.lock();
  while (!s.pending.empty()) {
    auto first = s.pending.begin();
    if (first->first <= s.last) {
      global_metrics().duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
    } else if (first->first == s.last + 1) {
      if (held(first->second)) break;  // released by send_answered()
      if (out) out->emit(first->second.frame, true);
      s.last = first->first;
    } else {
      break;
    }
    s.pending.erase(first);
  }
  if (s.pending.empty() && s.gap_timer && s.gap_armed) {
    s.gap_timer->cancel();
    s.gap_armed = false;
  }
}

void connection::arm_gap_timer(const std::string& room, subscription& s) {
  if (s.gap_fill_in_flight || s.gap_armed) return;
  if (!s.gap_timer) s.gap_timer = std::make_unique<asio::steady_timer>(strand_);
  s.gap_armed = true;
  s.gap_timer->expires_after(std::chrono::milliseconds(svc_.options().gap_wait_ms));
  s.gap_timer->async_wait(
      [weak = weak_from_this(), room, generation = s.generation](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->stopped_) return;
        auto it = self->subs_.find(room);
        if (it == self->subs_.end() || it->second.generation != generation) return;
        it->second.gap_armed = false;
        self->fill_gap(room);
      });
}

void connection::fill_gap(const std::string& room) {
  auto it = subs_.find(room);
  if (it == subs_.end()) return;
  auto& s = it->second;
  drain_pending(s);
  // Nothing missing when the next message is there but held for its ack.
  if (s.pending.empty() || s.gap_fill_in_flight || s.pending.begin()->first == s.last + 1) return;
  std::int64_t first = s.last + 1, last = s.pending.begin()->first - 1;
  s.gap_fill_in_flight = true;
  global_metrics().gap_fills.fetch_add(1, std::memory_order_relaxed);
  blocking(
      [&svc = svc_, room, first, last] { return svc.range(room, first, last); },
      [self = shared_from_this(), room, generation = s.generation](result<std::vector<message>> r) {
        auto it = self->subs_.find(room);
        if (it == self->subs_.end() || it->second.generation != generation) return;
        auto& s = it->second;
        s.gap_fill_in_flight = false;
        if (r) {
          auto out = self->out_.lock();
          bool holding = false;  // from the first held message on, all wait in order
          for (const auto& m : r.value()) {
            waiting w{nullptr, self->own_cid(m.sender, m.cid)};
            if (holding || (m.seq == s.last + 1 && self->held(w))) {
              holding = true;
              w.frame = std::make_shared<const std::string>(message_frame(m));
              s.pending.emplace(m.seq, std::move(w));
              continue;
            }
            if (m.seq != s.last + 1) continue;
            if (out) out->emit(std::make_shared<const std::string>(message_frame(m)), true);
            s.last = m.seq;
          }
        }
        self->drain_pending(s);
        if (!s.pending.empty()) self->arm_gap_timer(room, s);
      });
}

}  // namespace parley::chat
