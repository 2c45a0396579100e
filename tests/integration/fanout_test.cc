// protocol.md section 4 "Guarantees" under concurrency: many senders in one group room, every
// joined connection sees every message once, in contiguous seq order.
#include <set>
#include <thread>

#include "harness.h"

namespace parley::itest {
namespace {

class fanout_test : public itest {};

TEST_F(fanout_test, twelve_senders_fifty_messages_each_reach_every_reader_once_in_order) {
  constexpr int k_senders = 12;
  constexpr int k_per_sender = 50;
  constexpr int k_total = k_senders * k_per_sender;
  ASSERT_TRUE(start());
  std::vector<std::string> members;
  for (int i = 1; i < k_senders; ++i) members.push_back("s" + std::to_string(i));
  for (int i = 0; i < 3; ++i) members.push_back("r" + std::to_string(i));
  std::string g = create_room("s0", "crowd", members);
  ASSERT_FALSE(g.empty());

  std::vector<std::unique_ptr<conn>> senders, readers;
  for (int i = 0; i < k_senders; ++i)
    senders.push_back(connect("s" + std::to_string(i), "room=" + enc(g)));
  for (int i = 0; i < 3; ++i) readers.push_back(connect("r" + std::to_string(i), "room=" + enc(g)));
  for (auto* list : {&senders, &readers}) {
    for (auto& c : *list) {
      ASSERT_TRUE(c);
      expect_next(*c, "joined");
      expect_next(*c, "history");
    }
  }

  // Each sender thread owns its connection until joined back.
  std::vector<std::vector<json::object>> acks(k_senders);
  std::vector<std::string> problems(k_senders);
  std::vector<std::thread> threads;
  for (int s = 0; s < k_senders; ++s) {
    threads.emplace_back([&, s] {
      conn& c = *senders[s];
      for (int i = 0; i < k_per_sender; ++i) {
        c.send({{"type", "send"},
                {"text", c.user + " #" + std::to_string(i)},
                {"cid", c.user + "-" + std::to_string(i)}});
      }
      // Keep messages for the check below; collect acks.
      std::deque<json::object> keep;
      while (static_cast<int>(acks[s].size()) < k_per_sender) {
        auto text = c.ws->recv(5s);
        if (!text) {
          problems[s] = "timed out after " + std::to_string(acks[s].size()) + " acks";
          break;
        }
        boost::system::error_code ec;
        auto v = json::parse(*text, ec);
        if (ec || !v.is_object()) continue;
        auto& o = v.as_object();
        if (str(o, "type") == "ack") {
          acks[s].push_back(o);
        } else if (str(o, "type") == "error") {
          problems[s] = "error " + dump(o);
          break;
        } else {
          keep.push_back(o);
        }
      }
      c.stash = std::move(keep);
    });
  }
  for (auto& t : threads) t.join();
  for (int s = 0; s < k_senders; ++s)
    EXPECT_TRUE(problems[s].empty()) << "s" << s << ": " << problems[s];

  std::set<std::int64_t> acked;
  for (const auto& list : acks) {
    for (const auto& a : list) acked.insert(num(a, "seq"));
  }
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(k_total));
  if (!acked.empty()) {
    EXPECT_EQ(*acked.begin(), 1);
    EXPECT_EQ(*acked.rbegin(), k_total);
  }

  for (auto* list : {&readers, &senders}) {
    for (auto& c : *list) {
      SCOPED_TRACE(c->user);
      auto got = collect_messages(*c, g, k_total, 5s);
      ASSERT_EQ(got.size(), static_cast<std::size_t>(k_total));
      std::set<std::string> ids;
      for (int i = 0; i < k_total; ++i) {
        ASSERT_EQ(num(got[i], "seq"), i + 1) << "out of order or duplicated: " << dump(got[i]);
        ids.insert(str(got[i], "id"));
      }
      EXPECT_EQ(ids.size(), static_cast<std::size_t>(k_total));
      assert_no_frame(*c, "message", 50ms);
    }
  }
}

}  // namespace
}  // namespace parley::itest
