// The bench's delivery check: it must flag each kind of wrong delivery, or a bench run
// against a broken server would report "correctness ok".
#include "tools/bench/checker.h"

#include <gtest/gtest.h>

namespace parley::tools::bench {
namespace {

using v = seq_checker::verdict;

TEST(seq_checker, contiguous_from_the_join_point_is_clean) {
  seq_checker c("g1");
  c.start(41);
  for (int s = 42; s < 50; ++s) EXPECT_EQ(c.on_message("g1", s), v::in_order);
  EXPECT_EQ(c.finish(), 0u);
  EXPECT_EQ(c.last_seq(), 49);
}

TEST(seq_checker, flags_a_duplicate) {
  seq_checker c("g1");
  c.start(0);
  EXPECT_EQ(c.on_message("g1", 1), v::in_order);
  EXPECT_EQ(c.on_message("g1", 2), v::in_order);
  EXPECT_EQ(c.on_message("g1", 2), v::duplicate);
  EXPECT_EQ(c.on_message("g1", 1), v::duplicate);
  EXPECT_EQ(c.finish(), 0u);
}

TEST(seq_checker, a_message_from_before_the_join_is_a_duplicate) {
  seq_checker c("g1");
  c.start(10);
  EXPECT_EQ(c.on_message("g1", 10), v::duplicate);
}

TEST(seq_checker, flags_a_foreign_room_and_keeps_its_place) {
  seq_checker c("g1");
  c.start(0);
  EXPECT_EQ(c.on_message("g2", 1), v::foreign_room);
  EXPECT_EQ(c.on_message("g1", 1), v::in_order);
}

TEST(seq_checker, a_late_message_is_out_of_order_and_closes_its_gap) {
  seq_checker c("g1");
  c.start(0);
  EXPECT_EQ(c.on_message("g1", 1), v::in_order);
  EXPECT_EQ(c.on_message("g1", 4), v::gap);
  EXPECT_EQ(c.on_message("g1", 3), v::out_of_order);
  EXPECT_EQ(c.on_message("g1", 3), v::duplicate);
  EXPECT_EQ(c.on_message("g1", 5), v::in_order);
  EXPECT_EQ(c.finish(), 1u);  // seq 2 never came
  EXPECT_EQ(c.finish(), 0u);  // and is counted once
}

TEST(seq_checker, gaps_beyond_the_bound_are_still_counted) {
  seq_checker c("g1", 3);
  c.start(0);
  EXPECT_EQ(c.on_message("g1", 11), v::gap);  // 1..10 missing, 3 remembered
  EXPECT_EQ(c.overflow(), 7u);
  EXPECT_EQ(c.on_message("g1", 2), v::out_of_order);
  EXPECT_EQ(c.finish(), 9u);
}

}  // namespace
}  // namespace parley::tools::bench
