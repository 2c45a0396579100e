// send_batch: the writes queued in one round go out together; each completion reports what
// its socket took, on its own executor; a full socket answers at once. Each test runs with
// io_uring (where this kernel allows it) and with the one-send()-each fallback.
#include "net/send_batch.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace parley::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct socket_pair {
  tcp::socket server, client;
};

std::vector<socket_pair> make_pairs(asio::io_context& ioc, int n) {
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<socket_pair> out;
  for (int i = 0; i < n; ++i) {
    tcp::socket c(ioc);
    c.connect(acc.local_endpoint());
    out.push_back({acc.accept(), std::move(c)});
  }
  return out;
}

std::string read_exactly(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  asio::read(s, asio::buffer(out));
  return out;
}

class send_batch_test : public ::testing::TestWithParam<bool> {
 protected:
  asio::io_context ioc_;
  send_batch batch_{ioc_, GetParam()};
};

TEST_P(send_batch_test, every_write_of_a_round_arrives_whole) {
  auto pairs = make_pairs(ioc_, 40);
  std::vector<std::string> data;
  for (int i = 0; i < 40; ++i)
    data.push_back(std::string(100 + i * 50, static_cast<char>('a' + i % 26)));
  std::vector<ssize_t> got(40, -1);
  int answered = 0;
  bool uring = false;
  asio::post(ioc_, [&] {
    uring = batch_.io_uring_active();
    for (int i = 0; i < 40; ++i)
      batch_.send(pairs[i].server.native_handle(), data[i].data(), data[i].size(),
                  ioc_.get_executor(), [&, i](ssize_t n) {
                    got[i] = n;
                    ++answered;
                  });
  });
  ioc_.run();
  EXPECT_EQ(answered, 40);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(got[i], static_cast<ssize_t>(data[i].size())) << i;
    EXPECT_EQ(read_exactly(pairs[i].client, data[i].size()), data[i]) << i;
  }
  if (!GetParam()) {
    EXPECT_FALSE(uring);
  }
  std::printf("io_uring %s\n", uring ? "in use" : "not in use");
}

// A peer that does not read: the send takes what fits and reports it (or -EAGAIN) at once,
// never waiting for room; the rest is the caller's to write later.
TEST_P(send_batch_test, a_full_socket_answers_at_once_with_what_it_took) {
  auto pairs = make_pairs(ioc_, 1);
  int small = 4096;
  ASSERT_EQ(
      setsockopt(pairs[0].server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string big(8 * 1024 * 1024, 'x');
  std::vector<ssize_t> got;
  auto t0 = std::chrono::steady_clock::now();
  asio::post(ioc_, [&] {
    for (int i = 0; i < 20; ++i)
      batch_.send(pairs[0].server.native_handle(), big.data(), big.size(), ioc_.get_executor(),
                  [&](ssize_t n) { got.push_back(n); });
  });
  ioc_.run();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 20u);
  EXPECT_GT(got[0], 0);
  int again = 0;
  for (auto n : got) {
    EXPECT_LT(n, static_cast<ssize_t>(big.size()));
    if (n == -EAGAIN) ++again;
  }
  EXPECT_GT(again, 0) << "the socket filled up and said so";
}

TEST_P(send_batch_test, completions_run_on_their_own_executor) {
  auto pairs = make_pairs(ioc_, 2);
  auto strand = asio::make_strand(ioc_);
  std::string msg = "hello";
  bool on_strand = false;
  ssize_t closed_result = 0;
  int fd = pairs[1].server.native_handle();
  ::shutdown(fd, SHUT_WR);  // sending on it fails: EPIPE, reported, no SIGPIPE
  asio::post(ioc_, [&] {
    batch_.send(pairs[0].server.native_handle(), msg.data(), msg.size(), strand,
                [&](ssize_t) { on_strand = strand.running_in_this_thread(); });
    batch_.send(fd, msg.data(), msg.size(), ioc_.get_executor(),
                [&](ssize_t n) { closed_result = n; });
  });
  ioc_.run();
  EXPECT_TRUE(on_strand);
  EXPECT_EQ(closed_result, -EPIPE);
}

// A server whose threads stopped drops what is queued: the completions (and what they hold)
// are released, none runs.
TEST_P(send_batch_test, drop_releases_queued_completions_without_running_them) {
  auto pairs = make_pairs(ioc_, 1);
  auto held = std::make_shared<int>(1);
  bool ran = false;
  std::string msg = "x";
  batch_.send(pairs[0].server.native_handle(), msg.data(), msg.size(), ioc_.get_executor(),
              [&ran, held](ssize_t) { ran = true; });
  EXPECT_EQ(held.use_count(), 2);
  batch_.drop();
  EXPECT_EQ(held.use_count(), 1);
  ioc_.run();  // the posted flush finds nothing
  EXPECT_FALSE(ran);
}

INSTANTIATE_TEST_SUITE_P(modes, send_batch_test, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "io_uring" : "plain"; });

}  // namespace
}  // namespace parley::net
