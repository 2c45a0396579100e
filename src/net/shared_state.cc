#include "net/shared_state.h"

#include <vector>

#include "net/errors.h"
#include "net/websocket_session.h"

namespace parley::net {

void shared_state::add(const std::shared_ptr<websocket_session>& s) {
  std::lock_guard lock(mu_);
  sessions_[s.get()] = s;
}

void shared_state::remove(const websocket_session* s) {
  std::lock_guard lock(mu_);
  sessions_.erase(s);
}

std::size_t shared_state::close_all() {
  std::vector<std::shared_ptr<websocket_session>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [p, w] : sessions_)
      if (auto s = w.lock()) all.push_back(std::move(s));
  }
  for (auto& s : all) s->request_close(errc::shutting_down);
  return all.size();
}

std::size_t shared_state::open_sessions() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace parley::net
