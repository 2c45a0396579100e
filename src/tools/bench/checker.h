#pragma once
// The delivery check of one benchmark connection: every `message` of its room exactly once,
// in `seq` order, nothing of another room. Pure bookkeeping, no I/O; one instance per
// connection, used from that connection's strand only.
//
// start(last_seq) is the room's last seq at join time (from `joined`): the next message must
// be last_seq + 1. A seq beyond the next opens a gap (remembered, up to a bound); a seq that
// fills a remembered gap is out of order; a seq already seen is a duplicate. finish() turns
// the gaps still open into the count of messages never delivered.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace parley::tools::bench {

class seq_checker {
 public:
  enum class verdict { in_order, gap, out_of_order, duplicate, foreign_room };

  explicit seq_checker(std::string room, std::size_t max_missing = 100'000)
      : room_(std::move(room)), max_missing_(max_missing) {}

  void start(std::int64_t last_seq) {
    last_seq_ = last_seq;
    missing_.clear();
  }

  verdict on_message(std::string_view room, std::int64_t seq);

  // Gaps still open (the seqs never delivered); clears them.
  std::uint64_t finish();

  // Seqs skipped beyond max_missing (counted as gaps at once, never filled).
  std::uint64_t overflow() const { return overflow_; }
  std::int64_t last_seq() const { return last_seq_; }

 private:
  std::string room_;
  std::size_t max_missing_;
  std::int64_t last_seq_ = 0;
  std::set<std::int64_t> missing_;
  std::uint64_t overflow_ = 0;
};

}  // namespace parley::tools::bench
