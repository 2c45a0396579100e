#include "net/send_batch.h"

#include <liburing.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace parley::net {
namespace {

constexpr unsigned k_ring_entries = 1024;  // sends per submit; a larger batch takes several
constexpr int k_send_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
// Results not known yet: never a send's result (bytes >= 0, or -errno > -4096).
constexpr ssize_t k_not_sent = std::numeric_limits<ssize_t>::min();
constexpr ssize_t k_unknown = k_not_sent + 1;

// One io_uring per I/O thread.
class ring {
 public:
  // nullptr when io_uring is unusable here (see the header); logs why once per thread.
  static std::unique_ptr<ring> make() {
    auto r = std::unique_ptr<ring>(new ring());
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 2 * k_ring_entries;
    if (int e = io_uring_queue_init_params(k_ring_entries, &r->ring_, &p); e < 0) {
      spdlog::info("net: io_uring not available ({}): one send() per socket write",
                   std::strerror(-e));
      return nullptr;
    }
    r->ok_ = true;
    if (!r->self_test()) {
      spdlog::warn("net: io_uring sends do not fail fast on a full socket here: not used");
      return nullptr;
    }
    static std::once_flag said;
    std::call_once(said, [] { spdlog::info("net: socket writes batched through io_uring"); });
    return r;
  }
  ~ring() {
    if (ok_) io_uring_queue_exit(&ring_);
  }

  // Submits entries [0, n) (n <= k_ring_entries) and stores each result in res[i]. Returns
  // how many were submitted: the others are untouched (still k_not_sent) and were never seen
  // by the kernel. Fewer than n means this ring is unusable. A submitted entry whose result
  // cannot be read is failed with -EIO (its connection closes; nothing is sent twice).
  template <class Entry>
  std::size_t submit(const Entry* e, std::size_t n, ssize_t* res) {
    for (std::size_t i = 0; i < n; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (!sqe) return 0;  // cannot happen: the queue is empty between submits
      io_uring_prep_send(sqe, e[i].fd, e[i].data, e[i].size, k_send_flags);
      io_uring_sqe_set_data64(sqe, i);
    }
    int r;
    do {
      r = io_uring_submit_and_wait(&ring_, static_cast<unsigned>(n));
    } while (r == -EINTR);
    if (r <= 0) return 0;  // an error: nothing was consumed
    const auto submitted = static_cast<std::size_t>(r);
    for (std::size_t i = 0; i < submitted; ++i) res[i] = k_unknown;
    std::size_t seen = 0;
    while (seen < submitted) {
      io_uring_cqe* cqe = nullptr;
      int w = io_uring_wait_cqe(&ring_, &cqe);  // at once: every send completes in the submit
      if (w == -EINTR) continue;
      if (w < 0) break;
      unsigned head, count = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        auto i = static_cast<std::size_t>(io_uring_cqe_get_data64(cqe));
        if (i < submitted) res[i] = cqe->res;
        ++count;
      }
      io_uring_cq_advance(&ring_, count);
      seen += count;
    }
    for (std::size_t i = 0; i < submitted; ++i)
      if (res[i] == k_unknown) res[i] = -EIO;
    return seen < submitted ? 0 : submitted;
  }

 private:
  ring() = default;

  // A non-blocking send to a full socket must complete at once with -EAGAIN; a kernel that
  // would wait for room instead would stall the I/O thread behind a slow reader.
  bool self_test() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return false;
    char buf[4096] = {};
    while (::send(sv[0], buf, sizeof buf, k_send_flags) > 0) {
    }
    bool fine = false;
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
      io_uring_prep_send(sqe, sv[0], buf, sizeof buf, k_send_flags);
      if (io_uring_submit(&ring_) == 1) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe) {
          fine = cqe->res == -EAGAIN || cqe->res == -EWOULDBLOCK;
          io_uring_cqe_seen(&ring_, cqe);
        }
      }
    }
    ::close(sv[0]);  // a send still pending (fine == false) fails now: the ring is dropped
    ::close(sv[1]);
    return fine;
  }

  io_uring ring_{};
  bool ok_ = false;
};

struct thread_ring {
  bool checked = false;
  std::unique_ptr<ring> r;
};
thread_local thread_ring t_ring;

ring* this_thread_ring(bool wanted) {
  if (!wanted) return nullptr;
  if (!t_ring.checked) {
    t_ring.checked = true;
    t_ring.r = ring::make();
  }
  return t_ring.r.get();
}

ssize_t plain_send(int fd, const char* data, std::size_t size) {
  for (;;) {
    ssize_t n = ::send(fd, data, size, k_send_flags);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace

send_batch::send_batch(boost::asio::io_context& ioc, bool use_io_uring)
    : ioc_(ioc), use_io_uring_(use_io_uring) {}

bool send_batch::io_uring_active() { return this_thread_ring(use_io_uring_) != nullptr; }

void send_batch::send(int fd, const char* data, std::size_t size, boost::asio::any_io_executor ex,
                      completion done) {
  bool post = false;
  {
    std::lock_guard lk(mu_);
    queue_.push_back(entry{fd, data, size, std::move(ex), std::move(done)});
    post = !posted_;
    posted_ = true;
  }
  if (post) boost::asio::post(ioc_, [this] { flush(); });
}

void send_batch::drop() {
  std::vector<entry> batch;
  std::lock_guard lk(mu_);
  batch.swap(queue_);
}

void send_batch::flush() {
  std::vector<entry> batch;
  {
    std::lock_guard lk(mu_);
    batch.swap(queue_);
    posted_ = false;
  }
  std::vector<ssize_t> res(batch.size(), k_not_sent);
  if (ring* r = this_thread_ring(use_io_uring_)) {
    for (std::size_t from = 0; from < batch.size();) {
      std::size_t n = std::min<std::size_t>(k_ring_entries, batch.size() - from);
      if (r->submit(batch.data() + from, n, res.data() + from) < n) {
        // The ring's state is unknown: this thread sends without it from now on. What it
        // never submitted goes out below.
        spdlog::error("net: io_uring submit failed: one send() per socket write from now on");
        t_ring.r.reset();
        break;
      }
      from += n;
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (res[i] == k_not_sent) res[i] = plain_send(batch[i].fd, batch[i].data, batch[i].size);
    boost::asio::post(batch[i].ex, [done = std::move(batch[i].done), n = res[i]] { done(n); });
  }
}

}  // namespace parley::net
