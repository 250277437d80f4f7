// The backends built on loops that own their run function (libuv, libevent, Boost.Asio), driven
// directly on AF_UNIX socketpairs: descriptor ownership, reused fd numbers, interest changes and
// wait() timeouts.

#include "core/descriptors.hpp"
#include "tests/test_support.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace sockaction::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Max wait(0) calls a check makes before it treats a ready socket as missing, because a loop may
// deliver an event only in the iteration after the one that noticed it.
constexpr int max_waits_per_check = 3;

// A connected AF_UNIX stream pair. `local` is the end a backend watches, as libcurl's socket
// would be, and `peer` plays the server. Both ends are closed on destruction unless set to -1.
struct SocketPair {
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair failed: " << std::strerror(errno);
      return;
    }
    local = fds[0];
    peer = fds[1];
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  ~SocketPair() { close_both(); }

  void close_both() {
    if (local >= 0) ::close(local);
    if (peer >= 0) ::close(peer);
    local = -1;
    peer = -1;
  }

  int local = -1;
  int peer = -1;
};

void send_text(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()))
      << "send on fd " << fd << " failed: " << std::strerror(errno);
}

// Reads what is buffered on `fd` without blocking.
std::string receive_text(int fd) {
  char buffer[256];
  const ssize_t count = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  return count > 0 ? std::string(buffer, static_cast<std::size_t>(count)) : std::string();
}

// Sends on `fd` until its send buffer is full, so it stops being writable.
void fill_send_buffer(int fd) {
  const std::string block(4096, 'x');
  while (::send(fd, block.data(), block.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
  }
  ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << "send failed: " << std::strerror(errno);
}

// Reads everything buffered on `fd` without blocking.
void drain(int fd) {
  char buffer[4096];
  while (::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
  }
}

// Union of the bits reported for `fd` over up to max_waits_per_check wait(0) calls, stopping at
// the first call that reports it. Fails when one call reports `fd` twice or with no bits.
int collect_events(Backend& backend, int fd) {
  int bits = 0;
  for (int call = 0; call < max_waits_per_check && bits == 0; ++call) {
    std::vector<ReadyEvent> ready;
    const std::error_code error = backend.wait(0, ready);
    EXPECT_FALSE(error) << "wait(0) failed: " << error.message();
    int reports = 0;
    for (const ReadyEvent& event : ready) {
      if (event.fd != fd) continue;
      ++reports;
      EXPECT_NE(event.events, 0) << "an event with no bits for fd " << fd;
      bits |= event.events;
    }
    EXPECT_LE(reports, 1) << "fd " << fd << " reported " << reports << " times in one wait()";
  }
  return bits;
}

// Writes one byte to `fd` after a delay unless cancelled first, so that a wait() that blocks when
// it should not ends with a failed assertion instead of hanging the test.
class DelayedWrite {
 public:
  DelayedWrite(int fd, std::chrono::milliseconds delay)
      : thread_([this, fd, delay] {
          std::unique_lock lock(mutex_);
          if (cancel_requested_.wait_for(lock, delay, [this] { return cancelled_; })) return;
          (void)::send(fd, "x", 1, MSG_NOSIGNAL);
        }) {}
  ~DelayedWrite() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cancel_requested_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cancel_requested_;
  bool cancelled_ = false;
  std::thread thread_;  // declared last, so it starts after the members it uses exist
};

class LoopBackendTest : public BackendTest {
 protected:
  std::unique_ptr<Backend> create_backend() {
    std::unique_ptr<Backend> created = backend().create();
    EXPECT_NE(created, nullptr) << backend().name << " created no Backend object";
    return created;
  }
};

TEST_P(LoopBackendTest, UnwatchAndDestroyKeepDescriptorOpen) {
  SocketPair pair;
  {
    std::unique_ptr<Backend> loop = create_backend();
    ASSERT_FALSE(loop->watch(pair.local, Interest::read));
    send_text(pair.peer, "ping");
    EXPECT_EQ(collect_events(*loop, pair.local), ready_read);
    ASSERT_FALSE(loop->unwatch(pair.local));
  }

  EXPECT_NE(fcntl(pair.local, F_GETFD), -1) << "the backend closed fd " << pair.local;
  EXPECT_EQ(receive_text(pair.local), "ping");
  send_text(pair.local, "pong");
  EXPECT_EQ(receive_text(pair.peer), "pong");
}

TEST_P(LoopBackendTest, DestroyWhileWatchedKeepsDescriptorOpen) {
  SocketPair pair;
  {
    std::unique_ptr<Backend> loop = create_backend();
    ASSERT_FALSE(loop->watch(pair.local, Interest::read_write));
    EXPECT_NE(collect_events(*loop, pair.local), 0);
  }

  EXPECT_NE(fcntl(pair.local, F_GETFD), -1) << "the backend closed fd " << pair.local;
  send_text(pair.peer, "ping");
  EXPECT_EQ(receive_text(pair.local), "ping");
}

TEST_P(LoopBackendTest, DestroyLeavesNoDescriptor) {
  // One instance first, so whatever the library opens once per process is open in both counts.
  create_backend().reset();
  const std::size_t before = count_open_descriptors();
  {
    SocketPair pair;
    std::unique_ptr<Backend> loop = create_backend();
    ASSERT_FALSE(loop->watch(pair.local, Interest::read));
    send_text(pair.peer, "ping");
    EXPECT_EQ(collect_events(*loop, pair.local), ready_read);
    ASSERT_FALSE(loop->unwatch(pair.local));
    std::vector<ReadyEvent> ready;
    ASSERT_FALSE(loop->wait(10, ready));
  }
  EXPECT_EQ(count_open_descriptors(), before);
}

TEST_P(LoopBackendTest, ReusedNumberGetsNoStaleReadiness) {
  std::unique_ptr<Backend> loop = create_backend();
  auto old_pair = std::make_unique<SocketPair>();
  const int number = old_pair->local;
  loop->opened(number);  // as the driver's open-socket callback does
  ASSERT_FALSE(loop->watch(number, Interest::read));
  send_text(old_pair->peer, "old data");
  ASSERT_EQ(collect_events(*loop, number), ready_read);

  // As libcurl does through the driver: CURL_POLL_REMOVE, then CURLOPT_CLOSESOCKETFUNCTION, which
  // calls closing() before the close, and a new socket that gets the same number, all before the
  // next wait.
  ASSERT_FALSE(loop->unwatch(number));
  loop->closing(number);
  old_pair->close_both();
  SocketPair new_pair;
  ASSERT_EQ(new_pair.local, number) << "the new socket did not reuse the number";
  loop->opened(number);
  const std::error_code error = loop->watch(number, Interest::read);
  ASSERT_FALSE(error) << "watch of reused fd " << number << " failed: " << error.message();

  EXPECT_EQ(collect_events(*loop, number), 0) << "the old socket's readiness was reported";
  send_text(new_pair.peer, "new data");
  EXPECT_EQ(collect_events(*loop, number), ready_read);
  EXPECT_EQ(receive_text(new_pair.local), "new data");
}

// libcurl unwatches a keep-alive connection after each transfer and watches it again for the
// next. A backend that keeps the idle socket's handle must still report data left unread, both
// when the socket comes back within one turn and after waits in between.
TEST_P(LoopBackendTest, UnreadDataReportedAfterRewatch) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  loop->opened(pair.local);  // only an announced socket may stay registered while unwatched
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  send_text(pair.peer, "kept");
  ASSERT_EQ(collect_events(*loop, pair.local), ready_read);

  for (bool wait_while_unwatched : {false, true}) {
    SCOPED_TRACE(wait_while_unwatched ? "waits while unwatched" : "watched again at once");
    ASSERT_FALSE(loop->unwatch(pair.local));
    if (wait_while_unwatched) {
      EXPECT_EQ(collect_events(*loop, pair.local), 0) << "reported while unwatched";
    }
    ASSERT_FALSE(loop->watch(pair.local, Interest::read));
    EXPECT_EQ(collect_events(*loop, pair.local), ready_read);
  }
  EXPECT_EQ(receive_text(pair.local), "kept");
}

TEST_P(LoopBackendTest, UnwatchAfterCloseSucceeds) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  const int number = pair.local;
  pair.close_both();

  const std::error_code error = loop->unwatch(number);
  EXPECT_FALSE(error) << "unwatch of closed fd " << number << " failed: " << error.message();
  std::vector<ReadyEvent> ready;
  EXPECT_FALSE(loop->wait(0, ready));
}

TEST_P(LoopBackendTest, PendingErrorReportedEveryWait) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  // The peer closes with our data unread, so the local end has a pending error and a hangup.
  send_text(pair.local, "never read");
  ::close(pair.peer);
  pair.peer = -1;
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));

  // The test never reads, so the socket stays ready and must be reported again, as a
  // level-triggered poll does. libuv stops a handle when it reports an error, so this checks
  // that the backend starts it again.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const int bits = collect_events(*loop, pair.local);
    EXPECT_NE(bits & ready_read, 0) << "bits " << bits;
  }
}

TEST_P(LoopBackendTest, InterestChangeReadToWrite) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  send_text(pair.peer, "ping");  // from here on the local end is both readable and writable

  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  EXPECT_EQ(collect_events(*loop, pair.local), ready_read);

  ASSERT_FALSE(loop->watch(pair.local, Interest::write));
  EXPECT_EQ(collect_events(*loop, pair.local), ready_write);
  EXPECT_EQ(collect_events(*loop, pair.local), ready_write) << "not reported again while writable";

  ASSERT_FALSE(loop->watch(pair.local, Interest::read_write));
  EXPECT_EQ(collect_events(*loop, pair.local), ready_read | ready_write);
}

TEST_P(LoopBackendTest, InterestChangeWriteToReadDropsWrite) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  fill_send_buffer(pair.local);
  ASSERT_FALSE(loop->watch(pair.local, Interest::write));
  EXPECT_EQ(collect_events(*loop, pair.local), 0) << "reported writable with a full send buffer";

  // The loop may still wait for writability. Once the interest is read only, the socket turning
  // writable must not be reported, and there is nothing to read.
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  drain(pair.peer);
  std::vector<ReadyEvent> ready;
  ASSERT_FALSE(loop->wait(50, ready));
  for (const ReadyEvent& event : ready) {
    EXPECT_NE(event.fd, pair.local) << "reported with bits " << event.events;
  }

  send_text(pair.peer, "ping");
  EXPECT_EQ(collect_events(*loop, pair.local), ready_read);
}

TEST_P(LoopBackendTest, ZeroTimeoutDoesNotBlock) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  // A wait(0) that blocks anyway returns when this byte arrives, 2 s later, and fails below.
  DelayedWrite wake_up(pair.peer, std::chrono::seconds(2));

  std::vector<ReadyEvent> ready;
  const auto start = Clock::now();
  ASSERT_FALSE(loop->wait(0, ready));
  const auto elapsed = Clock::now() - start;

  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_TRUE(ready.empty()) << ready.size() << " events, the first for fd " << ready.front().fd;
}

// Waits 50 ms with `loop` and checks that it returned after roughly that long with no events.
void expect_timeout_after_50_ms(Backend& loop, int wake_up_fd) {
  DelayedWrite wake_up(wake_up_fd, std::chrono::seconds(3));
  std::vector<ReadyEvent> ready;
  const auto start = Clock::now();
  ASSERT_FALSE(loop.wait(50, ready));
  const auto elapsed = Clock::now() - start;

  EXPECT_GE(elapsed, std::chrono::milliseconds(40));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_TRUE(ready.empty()) << ready.size() << " events, the first for fd " << ready.front().fd;
}

TEST_P(LoopBackendTest, TimeoutWithIdleSocket) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  std::vector<ReadyEvent> ready;
  ASSERT_FALSE(loop->wait(0, ready));
  // Time passes between waits while the driver works. A loop that counts the timeout from the
  // time it cached in the last iteration returns this much too early.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  expect_timeout_after_50_ms(*loop, pair.peer);
}

TEST_P(LoopBackendTest, TimeoutWithNothingWatched) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair unwatched;
  expect_timeout_after_50_ms(*loop, unwatched.peer);
}

TEST_P(LoopBackendTest, TimeoutRightAfterUnwatch) {
  // libuv does not block while a closed handle's callback is pending; the backend must still wait.
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  ASSERT_FALSE(loop->watch(pair.local, Interest::read));
  ASSERT_FALSE(loop->unwatch(pair.local));
  expect_timeout_after_50_ms(*loop, pair.peer);
}

TEST_P(LoopBackendTest, CountersCountEveryWait) {
  std::unique_ptr<Backend> loop = create_backend();
  SocketPair pair;
  ASSERT_FALSE(loop->watch(pair.local, Interest::write));
  std::vector<ReadyEvent> ready;
  for (int call = 0; call < 5; ++call) ASSERT_FALSE(loop->wait(0, ready));

  EXPECT_EQ(loop->counters().waits, 5u);
  EXPECT_GE(loop->counters().system_calls, 5u);
}

INSTANTIATE_TEST_SUITE_P(Loops, LoopBackendTest, ::testing::Values("libuv", "libevent", "asio"),
                         backend_param_name);

}  // namespace
}  // namespace sockaction::testing
