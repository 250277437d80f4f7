// IoUringBackend on socketpairs and real transfers, in multishot and forced one-shot mode.
// Completions of a closed socket must not reach a new socket with the same number. Interest
// changes and repeated reports must behave as with level-triggered epoll. Each wait() may enter
// the kernel once.

#include "tests/test_support.hpp"

#if SOCKACTION_HAVE_IO_URING
#include "backends/io_uring_backend.hpp"
#include "core/body_pattern.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>
#endif

namespace sockaction::testing {
namespace {

#if SOCKACTION_HAVE_IO_URING

// A connected AF_UNIX stream pair, both ends non-blocking. `local` is the end the backend watches.
class SocketPair {
 public:
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair failed: " << std::error_code(errno, std::generic_category()).message();
      return;
    }
    local_ = fds[0];
    peer_ = fds[1];
  }
  ~SocketPair() { close_both(); }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;

  int local() const { return local_; }

  // Closes `local` only; the peer stays open to observe it.
  void close_local() {
    if (local_ >= 0) close(local_);
    local_ = -1;
  }

  // Returns true when the peer reads end of file within `timeout_ms`: the kernel has released
  // `local`, which a poll request still holding it would prevent.
  bool peer_reads_end_of_file(int timeout_ms) {
    pollfd entry{.fd = peer_, .events = POLLIN, .revents = 0};
    if (::poll(&entry, 1, timeout_ms) != 1) return false;
    char byte = 0;
    return read(peer_, &byte, 1) == 0;
  }

  void close_both() {
    if (local_ >= 0) close(local_);
    if (peer_ >= 0) close(peer_);
    local_ = peer_ = -1;
  }

  // Sends one byte from the peer, so that `local` becomes readable.
  void make_local_readable() { ASSERT_EQ(write(peer_, "x", 1), 1); }

  // Writes from `local` until the kernel takes no more, so that `local` is not writable.
  void fill_local_send_buffer() {
    const std::vector<char> chunk(65536, 'y');
    while (write(local_, chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
  }

  // Reads everything the peer has received from `local`, so that `local` is writable again.
  void drain_peer() { drain(peer_); }
  // Reads everything `local` has received.
  void drain_local() { drain(local_); }

 private:
  static void drain(int fd) {
    std::vector<char> buffer(65536);
    while (read(fd, buffer.data(), buffer.size()) > 0) {
    }
  }

  int local_ = -1;
  int peer_ = -1;
};

// The ready bits reported for `fd`, or 0.
int events_for(const std::vector<ReadyEvent>& ready, int fd) {
  int events = 0;
  for (const ReadyEvent& event : ready) {
    if (event.fd == fd) events |= event.events;
  }
  return events;
}

// How many entries of `ready` name `fd`: a backend merges its completions into one.
int entries_for(const std::vector<ReadyEvent>& ready, int fd) {
  int entries = 0;
  for (const ReadyEvent& event : ready) entries += event.fd == fd ? 1 : 0;
  return entries;
}

// Timeouts for waits. A wait that expects an event returns as soon as the event comes, so its
// timeout can be long. A wait that expects none gives a wrong event this long to show up.
constexpr int expect_event_ms = 2000;
constexpr int expect_nothing_ms = 50;

class IoUringBackendTest : public ::testing::TestWithParam<IoUringPollMode> {
 protected:
  void SetUp() override {
    if (Availability availability = io_uring_backend_info().probe(); !availability.available) {
      GTEST_SKIP() << "io_uring is not available here: " << availability.reason;
    }
    backend_ = make_backend();
    if (GetParam() == IoUringPollMode::one_shot) {
      ASSERT_FALSE(backend_->multishot());
    }
  }

  std::unique_ptr<IoUringBackend> make_backend(unsigned ring_entries = 4096) const {
    return std::make_unique<IoUringBackend>(
        IoUringOptions{.poll_mode = GetParam(), .ring_entries = ring_entries});
  }

  std::vector<ReadyEvent> wait_for(int timeout_ms) {
    std::vector<ReadyEvent> ready;
    const std::error_code error = backend_->wait(timeout_ms, ready);
    EXPECT_FALSE(error) << "wait failed: " << error.message();
    return ready;
  }

  IoUringBackend& backend() { return *backend_; }

 private:
  std::unique_ptr<IoUringBackend> backend_;
};

TEST_P(IoUringBackendTest, StaleCompletionAfterDescriptorReuse) {
  for (Interest new_interest : {Interest::read, Interest::write}) {
    SCOPED_TRACE(new_interest == Interest::read ? "new socket watched for read"
                                                : "new socket watched for write");
    auto old_pair = std::make_unique<SocketPair>();
    const int number = old_pair->local();
    ASSERT_FALSE(backend().watch(number, Interest::read));
    EXPECT_TRUE(wait_for(0).empty()) << "nothing was readable yet";

    // The poll request completes now, and the completion waits in the ring while libcurl's
    // CURL_POLL_REMOVE and close come before the next wait().
    old_pair->make_local_readable();
    ASSERT_FALSE(backend().unwatch(number));
    old_pair->close_both();

    SocketPair new_pair;
    ASSERT_EQ(new_pair.local(), number) << "the new socket must reuse the descriptor number";
    const std::uint64_t stale_before = backend().stale_completions();
    ASSERT_FALSE(backend().watch(number, new_interest));
    const std::vector<ReadyEvent> ready = wait_for(expect_nothing_ms);

    const int expected = new_interest == Interest::read ? 0 : ready_write;
    EXPECT_EQ(events_for(ready, number), expected)
        << "the readability of the closed socket was reported for the new one";
    EXPECT_GE(backend().stale_completions(), stale_before + 1)
        << "the old request's completion never arrived, so the case was not exercised";
    ASSERT_FALSE(backend().unwatch(number));
    wait_for(0);
  }
}

// libcurl never closes a socket it has not unwatched, but the Backend contract does not rule it
// out. The poll request keeps the closed socket alive in the kernel, and its hangup must not be
// reported for the socket that now has the number.
TEST_P(IoUringBackendTest, HangupOfSocketClosedWithoutUnwatch) {
  auto old_pair = std::make_unique<SocketPair>();
  const int number = old_pair->local();
  ASSERT_FALSE(backend().watch(number, Interest::read));
  EXPECT_TRUE(wait_for(0).empty()) << "nothing was readable yet";
  old_pair->close_both();  // the old local end hangs up, since its peer is closed too

  SocketPair new_pair;
  ASSERT_EQ(new_pair.local(), number) << "the new socket must reuse the descriptor number";
  for (int turn = 0; turn < 2; ++turn) {
    SCOPED_TRACE("wait " + std::to_string(turn + 1) + " after the close");
    EXPECT_EQ(events_for(wait_for(expect_nothing_ms), number), 0)
        << "the hangup of the closed socket was reported for the new one";
  }
  new_pair.make_local_readable();
  EXPECT_EQ(events_for(wait_for(expect_event_ms), number), ready_read)
      << "the new socket must be polled once the old request is replaced";
  ASSERT_FALSE(backend().unwatch(number));
  wait_for(0);
}

TEST_P(IoUringBackendTest, UnwatchDropsPendingCompletion) {
  SocketPair pair;
  ASSERT_FALSE(backend().watch(pair.local(), Interest::read));
  EXPECT_TRUE(wait_for(0).empty());
  pair.make_local_readable();
  ASSERT_FALSE(backend().unwatch(pair.local()));
  EXPECT_TRUE(wait_for(expect_nothing_ms).empty());
}

TEST_P(IoUringBackendTest, InterestChangeTakesEffect) {
  SocketPair pair;
  const int fd = pair.local();
  pair.make_local_readable();  // readable, and writable with an empty send buffer

  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read);

  ASSERT_FALSE(backend().watch(fd, Interest::write));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_write);

  ASSERT_FALSE(backend().watch(fd, Interest::read_write));
  std::vector<ReadyEvent> ready = wait_for(expect_event_ms);
  EXPECT_EQ(events_for(ready, fd), ready_read | ready_write);
  EXPECT_EQ(entries_for(ready, fd), 1) << "read and write readiness must merge into one event";

  // Still readable, no longer writable: a write-only watch must report nothing.
  pair.fill_local_send_buffer();
  ASSERT_FALSE(backend().watch(fd, Interest::write));
  EXPECT_EQ(events_for(wait_for(expect_nothing_ms), fd), 0);

  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read);

  // The peer reads, which makes `fd` writable again while the write watch is running.
  ASSERT_FALSE(backend().watch(fd, Interest::write));
  EXPECT_EQ(events_for(wait_for(expect_nothing_ms), fd), 0);
  pair.drain_peer();
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_write);
}

// The read poll completes while the watch is still for reading, and the completion waits in the
// ring until the wait() after the change to writing.
TEST_P(IoUringBackendTest, CompletionBeforeInterestChange) {
  SocketPair pair;
  const int fd = pair.local();
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_TRUE(wait_for(0).empty()) << "nothing was readable yet";
  pair.make_local_readable();
  ASSERT_FALSE(backend().watch(fd, Interest::write));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_write);
}

// Data arrives and is read between two waits, as when libcurl reads more than the event that woke
// it announced. The completion posted on arrival is out of date by the next wait().
TEST_P(IoUringBackendTest, ReadinessUsedUpBeforeWait) {
  SocketPair pair;
  const int fd = pair.local();
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_TRUE(wait_for(0).empty()) << "nothing was readable yet";
  pair.make_local_readable();
  pair.drain_local();
  EXPECT_EQ(events_for(wait_for(expect_nothing_ms), fd), 0)
      << "readiness that ended before the wait was reported";
  pair.make_local_readable();
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read);
}

// libcurl may read part of what is buffered and wait again. epoll reports the rest because it is
// level-triggered, but a multishot poll alone would stay silent until more data arrives.
TEST_P(IoUringBackendTest, ReadyDescriptorReportedAgain) {
  SocketPair pair;
  const int fd = pair.local();
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  pair.make_local_readable();
  for (int turn = 0; turn < 3; ++turn) {
    SCOPED_TRACE("wait " + std::to_string(turn + 1) + " without reading");
    EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read);
  }
  pair.drain_local();
  EXPECT_EQ(events_for(wait_for(expect_nothing_ms), fd), 0) << "reported after the data was read";
}

// libcurl unwatches a keep-alive connection after each transfer and watches it again for the
// next one. Data left unread across that must still be reported, as epoll would.
TEST_P(IoUringBackendTest, UnreadDataReportedAfterRewatch) {
  SocketPair pair;
  const int fd = pair.local();
  backend().opened(fd);  // only an announced socket keeps its request while unwatched
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  pair.make_local_readable();
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read);

  ASSERT_FALSE(backend().unwatch(fd));
  EXPECT_EQ(events_for(wait_for(expect_nothing_ms), fd), 0) << "reported while unwatched";
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), fd), ready_read)
      << "the unread byte was not reported after the socket was watched again";
}

// An unwatched socket's request may keep running until the socket is closed. closing() must end
// it at once, or the kernel keeps the socket open after close() and the peer sees no end of file.
TEST_P(IoUringBackendTest, ClosingReleasesUnwatchedSocket) {
  SocketPair pair;
  const int fd = pair.local();
  backend().opened(fd);  // only an announced socket keeps its request while unwatched
  ASSERT_FALSE(backend().watch(fd, Interest::read));
  EXPECT_TRUE(wait_for(0).empty()) << "nothing was readable yet";
  ASSERT_FALSE(backend().unwatch(fd));
  wait_for(0);

  backend().closing(fd);
  pair.close_local();
  EXPECT_TRUE(pair.peer_reads_end_of_file(expect_event_ms))
      << "the closed socket is still open in the kernel";
}

TEST_P(IoUringBackendTest, ClosedDescriptorReportsError) {
  auto pair = std::make_unique<SocketPair>();
  const int number = pair->local();
  pair->close_both();
  ASSERT_FALSE(backend().watch(number, Interest::read));
  EXPECT_EQ(events_for(wait_for(expect_event_ms), number), ready_error);
  EXPECT_FALSE(backend().unwatch(number));
  EXPECT_FALSE(backend().unwatch(number)) << "unwatching an unknown descriptor is not an error";
}

TEST_P(IoUringBackendTest, OneKernelEntryPerWait) {
  constexpr int sockets = 100;
  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < sockets; ++i) pairs.push_back(std::make_unique<SocketPair>());

  for (const auto& pair : pairs) ASSERT_FALSE(backend().watch(pair->local(), Interest::read));
  BackendCounters before = backend().counters();
  EXPECT_TRUE(wait_for(0).empty());
  BackendCounters after = backend().counters();
  EXPECT_EQ(after.waits - before.waits, 1u);
  EXPECT_EQ(after.system_calls - before.system_calls, 1u) << "100 watches";

  for (const auto& pair : pairs) ASSERT_FALSE(backend().watch(pair->local(), Interest::write));
  before = backend().counters();
  const std::vector<ReadyEvent> ready = wait_for(expect_event_ms);
  after = backend().counters();
  EXPECT_EQ(after.system_calls - before.system_calls, 1u) << "100 interest changes";
  EXPECT_EQ(ready.size(), static_cast<std::size_t>(sockets));
  for (const auto& pair : pairs) EXPECT_EQ(events_for(ready, pair->local()), ready_write);

  for (const auto& pair : pairs) ASSERT_FALSE(backend().unwatch(pair->local()));
  before = backend().counters();
  wait_for(0);
  after = backend().counters();
  // One-shot requests that completed in the last wait are gone already and need no removal.
  EXPECT_LE(after.system_calls - before.system_calls, 1u) << "100 removals";
  EXPECT_EQ(backend().early_submits(), 0u);

  // Nothing to submit and nothing to wait for: liburing returns without entering the kernel.
  before = backend().counters();
  EXPECT_TRUE(wait_for(0).empty());
  after = backend().counters();
  EXPECT_EQ(after.system_calls - before.system_calls, 0u) << "an idle wait(0)";
}

TEST_P(IoUringBackendTest, FullQueueSubmitsEarly) {
  constexpr int sockets = 100;
  const std::unique_ptr<IoUringBackend> small = make_backend(16);
  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < sockets; ++i) pairs.push_back(std::make_unique<SocketPair>());

  for (const auto& pair : pairs) ASSERT_FALSE(small->watch(pair->local(), Interest::write));
  const BackendCounters before = small->counters();
  std::vector<ReadyEvent> ready;
  ASSERT_FALSE(small->wait(expect_event_ms, ready));
  const BackendCounters after = small->counters();

  EXPECT_GT(small->early_submits(), 0u) << "100 entries cannot fit a 16-entry queue";
  EXPECT_EQ(after.system_calls - before.system_calls, 1u + small->early_submits());
  // 100 completions overflow the 32-entry completion queue, and the kernel then ends some
  // multishot requests. The backend adds those again, so later waits report the rest.
  for (int turn = 0; turn < 3 && ready.size() < static_cast<std::size_t>(sockets); ++turn) {
    ASSERT_FALSE(small->wait(expect_event_ms, ready));
  }
  for (const auto& pair : pairs) EXPECT_EQ(events_for(ready, pair->local()), ready_write);
}

// The driver and libcurl on top of the backend, with a ring small enough for early submissions.
TEST_P(IoUringBackendTest, TransfersComplete) {
  HttpServer server;
  for (unsigned ring_entries : {4096u, 8u}) {
    BackendInfo info = io_uring_backend_info();
    const IoUringPollMode mode = GetParam();
    info.create = [mode, ring_entries] {
      return std::make_unique<IoUringBackend>(
          IoUringOptions{.poll_mode = mode, .ring_entries = ring_entries});
    };
    for (bool reuse : {true, false}) {
      SCOPED_TRACE("ring of " + std::to_string(ring_entries) + " entries, keep-alive reuse " +
                   (reuse ? "on" : "off"));
      WorkloadSpec spec = pattern_workload(server, 200'000, 128, 32);
      spec.reuse_connections = reuse;
      const RunStats stats = run_workload(info, spec);
      EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
      EXPECT_EQ(stats.transfers_done, spec.transfers) << describe_failures(stats);
      EXPECT_EQ(stats.transfers_failed, 0u) << describe_failures(stats);
      for (const auto& result : stats.results) {
        ASSERT_EQ(result.bytes, *spec.expected_bytes);
        ASSERT_EQ(result.crc32c, pattern_crc32c(*spec.expected_bytes));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, IoUringBackendTest,
                         ::testing::Values(IoUringPollMode::automatic, IoUringPollMode::one_shot),
                         [](const ::testing::TestParamInfo<IoUringPollMode>& info) {
                           return info.param == IoUringPollMode::automatic ? "Automatic"
                                                                           : "OneShot";
                         });

#else

TEST(IoUringBackendTest, NotBuilt) {
  const BackendInfo* backend = find_backend("io_uring");
  ASSERT_NE(backend, nullptr);
  GTEST_SKIP() << "io_uring is not built: " << backend->probe().reason;
}

#endif

}  // namespace
}  // namespace sockaction::testing
