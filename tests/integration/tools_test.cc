// The `parley` command-line tool against a real server: token, send, tail.
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "harness.h"

namespace parley::itest {
namespace {

std::string bin(const char* name) {
  const char* dir = std::getenv("PARLEY_BIN_DIR");
  return std::string(dir ? dir : "build/bin") + "/" + name;
}

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, out};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::vector<json::object> json_lines(const std::string& out) {
  std::vector<json::object> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    auto j = json::parse(line, ec);
    if (!ec && j.is_object()) v.push_back(j.get_object());
  }
  return v;
}

class tools_test : public itest {};

TEST_F(tools_test, token_send_and_tail) {
  ASSERT_TRUE(start({"--replay-max", "5"}));
  auto [tst, tok] = run(bin("parley") + " token --secret " + server().secret() + " --user alice");
  ASSERT_EQ(tst, 0);
  while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r')) tok.pop_back();
  ASSERT_FALSE(tok.empty());

  std::string url = server().ws_base();
  for (int i = 1; i <= 12; ++i) {
    auto [st, out] =
        run(bin("parley") + " send --url " + url + " --token " + tok + " --to bob --cid c" +
            std::to_string(i) + " 'hello " + std::to_string(i) + "'");
    ASSERT_EQ(st, 0) << out;
    auto lines = json_lines(out);
    ASSERT_EQ(lines.size(), 1u) << out;
    EXPECT_EQ(str(lines[0], "type"), "ack");
    EXPECT_EQ(num(lines[0], "seq"), i);
    EXPECT_EQ(str(lines[0], "room"), "dm:alice:bob");
  }
  // A repeated cid prints the original ack.
  auto [rst, rout] =
      run(bin("parley") + " send --url " + url + " --token " + tok + " --to bob --cid c3 'again'");
  ASSERT_EQ(rst, 0);
  auto again = json_lines(rout);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(num(again[0], "seq"), 3);

  // tail --since 0 replays everything across several joins (replay_max 5), once, in order,
  // then follows live until interrupted (SIGTERM from timeout: exit 0).
  auto [tst2, tout] =
      run("timeout --preserve-status -s TERM 3 " + bin("parley") + " tail --url " + url +
          " --secret " + server().secret() + " --user bob --to alice --since 0");
  EXPECT_EQ(tst2, 0) << tout;
  auto msgs = json_lines(tout);
  ASSERT_EQ(msgs.size(), 12u) << tout;
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(num(msgs[i], "seq"), i + 1);
    EXPECT_EQ(str(msgs[i], "text"), "hello " + std::to_string(i + 1));
    EXPECT_EQ(str(msgs[i], "from"), "alice");
  }
}

TEST_F(tools_test, send_to_a_room_one_is_not_in) {
  ASSERT_TRUE(start());
  auto room = create_room("alice", "private", {"bob"});
  ASSERT_FALSE(room.empty());
  auto [st, out] = run(bin("parley") + " send --url " + server().ws_base() + " --secret " +
                       server().secret() + " --user mallory --room " + room + " 'hi' 2>&1");
  EXPECT_NE(st, 0) << out;
}

}  // namespace
}  // namespace parley::itest
