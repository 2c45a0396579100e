// The topic as a public contract (protocol.md section 7): other consumer groups see every
// stored message; bad records on the topic are counted and skipped.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster_harness.h"

extern char** environ;

namespace parley::ctest {
namespace {

using steady = std::chrono::steady_clock;

// Sends `n` messages from each of `senders` into `room` and waits for their acks.
void traffic(const std::vector<member*>& senders, const std::string& room, int n,
             const std::string& tag) {
  for (int i = 0; i < n; ++i) {
    for (member* m : senders) {
      m->send(room, tag + " " + m->name + " " + std::to_string(i),
              tag + "-" + m->user + "-" + std::to_string(i));
    }
  }
  for (member* m : senders) {
    for (int i = 0; i < n; ++i) {
      std::string cid = tag + "-" + m->user + "-" + std::to_string(i);
      EXPECT_TRUE(m->wait_ack(cid, 10s) && m->acks.count(cid)) << m->report();
    }
  }
}

TEST_F(cluster, separate_consumer_group_reads_every_stored_message) {
  ASSERT_TRUE(start_nodes(2));
  const std::string group_room = create_room(0, "alice", "topic", {"bob"});
  ASSERT_FALSE(group_room.empty());
  const std::string dm = itest::dm_room("alice", "bob");
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  ASSERT_TRUE(alice && bob);
  traffic({alice.get(), bob.get()}, group_room, 8, "g");
  traffic({alice.get(), bob.get()}, dm, 8, "d");

  std::map<std::string, std::vector<json::object>> stored;
  std::size_t want = 0;
  for (const auto& r : {group_room, dm}) {
    stored[r] = stored_messages(0, "alice", r);
    want += stored[r].size();
    EXPECT_EQ(stored[r].size(), 16u) << r;
  }
  std::string why;
  auto records = consume_topic(
      bootstrap_, topic_, unique_name("ct-other-service-"),
      [&](const std::vector<kafka_record>& rs) { return message_keys(rs).size() >= want; }, 30s,
      why);
  auto keys = message_keys(records);
  // Every stored message is on the topic (at least once), keyed by its room, carrying
  // the stored fields.
  std::map<std::pair<std::string, std::int64_t>, json::object> by_key;
  for (const auto& r : records) {
    if (!r.value) continue;
    boost::system::error_code ec;
    auto v = json::parse(*r.value, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    if (str(o, "kind") != "message") continue;
    EXPECT_EQ(r.key, str(o, "room")) << "record key is not the room id: " << *r.value;
    by_key[{str(o, "room"), num(o, "seq")}] = o;
  }
  for (const auto& [room, msgs] : stored) {
    for (const auto& m : msgs) {
      auto it = by_key.find({room, num(m, "seq")});
      if (it == by_key.end()) {
        ADD_FAILURE() << "stored message not on the topic: " << itest::dump(m) << " ("
                      << records.size() << " records read; " << why << ")";
        continue;
      }
      const auto& rec = it->second;
      EXPECT_EQ(num(rec, "v"), 1);
      for (const char* f : {"id", "from", "text", "cid"}) {
        EXPECT_EQ(str(rec, f), str(m, f)) << f << " of " << itest::dump(rec);
      }
      EXPECT_EQ(num(rec, "ts"), num(m, "ts")) << itest::dump(rec);
      std::string node = str(rec, "node");
      EXPECT_TRUE(node == "n1" || node == "n2") << itest::dump(rec);
    }
  }
  EXPECT_EQ(keys.size(), want);
}

// Spawns `argv` with stdout to `out_path`, stderr to `err_path`, without PARLEY_* in the
// environment. -1 on failure.
pid_t spawn_to_file(std::vector<std::string> args, const std::string& out_path,
                    const std::string& err_path) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PARLEY_", 7) != 0) env.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0) return std::nullopt;
    if (steady::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

TEST_F(cluster, parley_tail_kafka_prints_each_message_once) {
  const std::string parley = bin_dir() + "/parley";
  {
    std::string help_out =
        (std::filesystem::temp_directory_path() / unique_name("ct-help-")).string();
    pid_t pid = spawn_to_file({parley, "tail", "--help"}, help_out, "/dev/null");
    ASSERT_GT(pid, 0) << "cannot run " << parley;
    wait_pid(pid, 10s);
    std::string help = slurp(help_out);
    std::filesystem::remove(help_out);
    if (help.find("--kafka") == std::string::npos) {
      GTEST_SKIP() << "`parley tail --help` has no --kafka yet";
    }
  }
  ASSERT_TRUE(start_nodes(2));
  const std::string room = create_room(1, "bob", "tail", {"alice"});
  ASSERT_FALSE(room.empty());
  const std::string dm = itest::dm_room("alice", "bob");
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  ASSERT_TRUE(alice && bob);
  traffic({alice.get(), bob.get()}, room, 5, "early");  // before the tool starts

  std::string dir = (std::filesystem::temp_directory_path() / unique_name("ct-tail-")).string();
  std::filesystem::create_directories(dir);
  pid_t pid = spawn_to_file({parley, "tail", "--kafka", bootstrap_, "--topic", topic_, "--group",
                             unique_name("ct-tail-group-")},
                            dir + "/out", dir + "/err");
  ASSERT_GT(pid, 0);
  traffic({alice.get(), bob.get()}, room, 5, "late");
  traffic({alice.get(), bob.get()}, dm, 5, "dm");
  const std::size_t want = 30;

  std::map<std::pair<std::string, std::int64_t>, int> seen;
  std::vector<std::string> bad_lines;
  auto parse = [&](const std::string& file = "out") {
    seen.clear();
    bad_lines.clear();
    std::istringstream in(slurp(dir + "/" + file));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      boost::system::error_code ec;
      auto v = json::parse(line, ec);
      if (ec || !v.is_object() || str(v.as_object(), "room").empty() ||
          num(v.as_object(), "seq") < 1) {
        bad_lines.push_back(line);
        continue;
      }
      ++seen[{str(v.as_object(), "room"), num(v.as_object(), "seq")}];
    }
  };
  bool all = eventually(
      [&] {
        parse();
        return seen.size() >= want;
      },
      25s);
  ::kill(pid, SIGTERM);
  auto status = wait_pid(pid, 10s);
  if (!status) {
    ::kill(pid, SIGKILL);
    wait_pid(pid, 5s);
  }
  parse();
  std::string err = slurp(dir + "/err");
  EXPECT_TRUE(all) << "tail printed " << seen.size() << " of " << want << " messages; stderr:\n"
                   << err;
  EXPECT_EQ(status.value_or(-1), 0) << "exit status after SIGTERM; stderr:\n" << err;
  EXPECT_TRUE(bad_lines.empty()) << "lines that are not message objects, e.g. " << bad_lines[0];
  for (const auto& [key, count] : seen) {
    EXPECT_EQ(count, 1) << key.first << " seq " << key.second << " printed " << count << " times";
  }
  for (const auto& r : {room, dm}) {
    for (const auto& m : stored_messages(0, "alice", r)) {
      EXPECT_TRUE(seen.count({r, num(m, "seq")})) << "not printed: " << itest::dump(m);
    }
  }

  // SIGINT ends it the same way; a fresh group reads everything again from the beginning.
  pid = spawn_to_file({parley, "tail", "--kafka", bootstrap_, "--topic", topic_, "--group",
                       unique_name("ct-tail-group-")},
                      dir + "/out2", dir + "/err2");
  ASSERT_GT(pid, 0);
  all = eventually(
      [&] {
        parse("out2");
        return seen.size() >= want;
      },
      20s);
  ::kill(pid, SIGINT);
  status = wait_pid(pid, 10s);
  if (!status) {
    ::kill(pid, SIGKILL);
    wait_pid(pid, 5s);
  }
  parse("out2");
  err = slurp(dir + "/err2");
  EXPECT_TRUE(all) << "second tail printed " << seen.size() << " of " << want
                   << " messages; stderr:\n"
                   << err;
  EXPECT_EQ(status.value_or(-1), 0) << "exit status after SIGINT; stderr:\n" << err;
  for (const auto& [key, count] : seen) {
    EXPECT_EQ(count, 1) << key.first << " seq " << key.second << " printed " << count << " times";
  }
  std::error_code ec;
  if (!HasFailure()) std::filesystem::remove_all(dir, ec);
}

TEST_F(cluster, bad_records_are_counted_and_skipped) {
  ASSERT_TRUE(start_nodes(2));
  const std::string room = itest::dm_room("alice", "bob");
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  ASSERT_TRUE(alice && bob);
  ASSERT_TRUE(alice->join(room, 0));
  ASSERT_TRUE(bob->join(room, 0));
  alice->send(room, "first", "c1");
  ASSERT_TRUE(bob->wait_seq(room, 1, 10s)) << bob->report();
  const double before0 = metric(0, "parley_kafka_bad_records_total").value_or(-1);
  const double before1 = metric(1, "parley_kafka_bad_records_total").value_or(-1);
  ASSERT_GE(before0, 0) << "no parley_kafka_bad_records_total in /metrics";
  ASSERT_GE(before1, 0);

  const std::string r = "\"" + room + "\"";
  std::vector<std::pair<std::string, std::optional<std::string>>> bad = {
      {room, "not json at all"},
      {room, "{\"v\":1,\"kind\":\"message\",\"room\":" + r},  // truncated
      {room, "[1,2,3]"},
      {room, ""},
      {room, std::nullopt},  // a tombstone
      {room, std::string("\xff\xfe{\"v\":1}")},
      {room,
       "{\"v\":2,\"kind\":\"message\",\"room\":" + r +
           ",\"seq\":2,\"id\":\"x\",\"from\":\"alice\",\"text\":\"t\",\"ts\":1,\"node\":\"zz\"}"},
      {room,
       "{\"v\":\"1\",\"kind\":\"message\",\"room\":" + r +
           ",\"seq\":2,\"id\":\"x\",\"from\":\"alice\",\"text\":\"t\",\"ts\":1,\"node\":\"zz\"}"},
      {room,
       "{\"kind\":\"message\",\"room\":" + r +
           ",\"seq\":2,\"id\":\"x\",\"from\":\"alice\",\"text\":\"t\",\"ts\":1,\"node\":\"zz\"}"},
      {room, "{\"v\":1,\"kind\":\"message\",\"room\":" + r +
                 ",\"seq\":\"2\",\"id\":\"x\",\"from\":\"alice\",\"text\":\"t\",\"ts\":1,\"node\":"
                 "\"zz\"}"},
      {room,
       "{\"v\":1,\"kind\":\"message\",\"room\":42,\"seq\":2,\"id\":\"x\",\"from\":\"alice\","
       "\"text\":\"t\",\"ts\":1,\"node\":\"zz\"}"},
      {room, "{\"v\":1,\"kind\":\"message\",\"room\":" + r +
                 ",\"seq\":2,\"id\":\"x\",\"from\":\"alice\",\"text\":5,\"ts\":1,\"node\":\"zz\"}"},
      {room,
       "{\"v\":1,\"kind\":\"message\",\"room\":" + r +
           ",\"seq\":2.5,\"id\":\"x\",\"from\":\"alice\",\"text\":\"t\",\"ts\":1,\"node\":\"zz\"}"},
      {room, "{\"v\":1,\"kind\":7,\"room\":" + r + ",\"node\":\"zz\"}"},
      {room, "{\"v\":1,\"kind\":\"membership\",\"room\":" + r +
                 ",\"user\":\"bob\",\"op\":\"explode\",\"node\":\"zz\"}"},
      {room, "{\"v\":1,\"kind\":\"read\",\"room\":" + r +
                 ",\"user\":\"bob\",\"seq\":\"x\",\"node\":\"zz\"}"},
  };
  std::string why;
  ASSERT_TRUE(produce_raw(bootstrap_, topic_, bad, why)) << why;
  const double n = static_cast<double>(bad.size());
  for (std::size_t i : {0u, 1u}) {
    const double before = i == 0 ? before0 : before1;
    double now = -1;
    EXPECT_TRUE(eventually(
        [&] {
          now = metric(i, "parley_kafka_bad_records_total").value_or(-1);
          return now >= before + n;
        },
        10s))
        << node(i).id() << " counted " << now - before << " of " << n << " bad records";
  }
  // The nodes are alive and keep delivering across nodes.
  alice->send(room, "second", "c2");
  bob->send(room, "third", "c3");
  EXPECT_TRUE(alice->wait_seq(room, 3, 10s)) << alice->report();
  EXPECT_TRUE(bob->wait_seq(room, 3, 10s)) << bob->report();
  alice->drain(300ms);
  bob->drain(300ms);
  EXPECT_TRUE(same_stream({alice.get(), bob.get()}, room, 3));
  for (std::size_t i : {0u, 1u}) {
    EXPECT_TRUE(node(i).alive()) << node(i).id() << " exited";
    EXPECT_EQ(metric(i, "parley_kafka_bad_records_total").value_or(-1),
              (i == 0 ? before0 : before1) + n)
        << node(i).id() << ": every bad record counted exactly once";
    auto rz = client::http_request(node(i).http_base(), "GET", "/readyz");
    EXPECT_EQ(rz.status, 200) << rz.body;
  }
}

}  // namespace
}  // namespace parley::ctest
