#include "tools/bench/checker.h"

namespace parley::tools::bench {

seq_checker::verdict seq_checker::on_message(std::string_view room, std::int64_t seq) {
  if (room != room_) return verdict::foreign_room;
  if (seq == last_seq_ + 1) {
    last_seq_ = seq;
    return verdict::in_order;
  }
  if (seq > last_seq_ + 1) {
    for (std::int64_t s = last_seq_ + 1; s < seq; ++s) {
      if (missing_.size() < max_missing_) {
        missing_.insert(s);
      } else {
        ++overflow_;
      }
    }
    last_seq_ = seq;
    return verdict::gap;
  }
  if (missing_.erase(seq) != 0) return verdict::out_of_order;
  return verdict::duplicate;
}

std::uint64_t seq_checker::finish() {
  std::uint64_t n = missing_.size() + overflow_;
  missing_.clear();
  overflow_ = 0;
  return n;
}

}  // namespace parley::tools::bench
