#pragma once
// Per-user token buckets (protocol.md section 5): one for sends (refilled at send_rate/s,
// holding 2x), one shared by every other frame (frame_rate/s, holding 2x). Per node.
// Thread-safe.
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace parley::chat {

class rate_limiter {
 public:
  enum class bucket { send, other };
  rate_limiter(double send_rate, double frame_rate)
      : send_rate_(send_rate), frame_rate_(frame_rate) {}
  // Takes one token; false when the bucket is empty.
  bool try_take(const std::string& user, bucket b);
  // Gives a token back (a send that turned out to be a repeat of a stored cid).
  void refund(const std::string& user, bucket b);

 private:
  struct state {
    double tokens[2];
    std::chrono::steady_clock::time_point last;
  };
  void refill(state& s, std::chrono::steady_clock::time_point now);
  double rate(bucket b) const { return b == bucket::send ? send_rate_ : frame_rate_; }

  double send_rate_, frame_rate_;
  std::mutex mu_;
  std::unordered_map<std::string, state> users_;
};

}  // namespace parley::chat
