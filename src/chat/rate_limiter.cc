#include "chat/rate_limiter.h"

#include <algorithm>

namespace parley::chat {

void rate_limiter::refill(state& s, std::chrono::steady_clock::time_point now) {
  double secs = std::chrono::duration<double>(now - s.last).count();
  s.last = now;
  s.tokens[0] = std::min(2 * send_rate_, s.tokens[0] + secs * send_rate_);
  s.tokens[1] = std::min(2 * frame_rate_, s.tokens[1] + secs * frame_rate_);
}

bool rate_limiter::try_take(const std::string& user, bucket b) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto [it, fresh] = users_.try_emplace(user);
  if (fresh) {
    it->second.tokens[0] = 2 * send_rate_;
    it->second.tokens[1] = 2 * frame_rate_;
    it->second.last = now;
    // Keep the map bounded: drop users whose buckets are full again (idle for a while).
    if (users_.size() > 100000) {
      std::erase_if(users_,
                    [&](auto& kv) { return now - kv.second.last > std::chrono::seconds(60); });
      it = users_.find(user);
      if (it == users_.end())
        it = users_.try_emplace(user, state{{2 * send_rate_, 2 * frame_rate_}, now}).first;
    }
  } else {
    refill(it->second, now);
  }
  double& t = it->second.tokens[b == bucket::send ? 0 : 1];
  if (t < 1.0) return false;
  t -= 1.0;
  return true;
}

void rate_limiter::refund(const std::string& user, bucket b) {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return;
  double& t = it->second.tokens[b == bucket::send ? 0 : 1];
  t = std::min(2 * rate(b), t + 1.0);
}

}  // namespace parley::chat
