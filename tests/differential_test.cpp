// The differential conformance suite: every registry backend against poll(2) on socketpairs, plus
// checks of the engine itself (operation text, decoding, the oracle and minimize) on fake
// backends with known faults.

#include "backends/poll_backend.hpp"
#include "tests/differential/differential.hpp"
#include "tests/test_support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string_view>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>

namespace sockaction::differential {
namespace {

using sockaction::testing::all_backend_names;
using sockaction::testing::backend_param_name;
using sockaction::testing::BackendTest;

// Random sequences per backend and operations per sequence. 200 x 60 took 0.15 to 0.45 s per backend
// (select, poll, epoll, io_uring, libuv, libevent, asio) in a RelWithDebInfo build on a 2-core
// Linux 6.x VM. The minimizer runs only for a failing seed.
constexpr std::uint64_t seed_count = 200;
constexpr std::size_t ops_per_seed = 60;

// Environment variable naming a file of format_operations() text for ReplayFromEnvironment.
constexpr const char* replay_variable = "SOCKACTION_DIFFERENTIAL_REPLAY";

std::vector<Operation> parse_or_fail(std::string_view text) {
  std::optional<std::vector<Operation>> ops = parse_operations(text);
  EXPECT_TRUE(ops.has_value()) << "invalid operation text:\n" << text;
  return ops.value_or(std::vector<Operation>{});
}

// Writes a failing sequence where a replay can read it, and returns the path.
std::filesystem::path write_replay_file(const std::string& backend, std::uint64_t seed, const Mismatch& mismatch,
                                        std::span<const Operation> ops) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("sockaction-differential-" + backend + "-seed" + std::to_string(seed) + ".ops");
  std::ofstream file(path);
  file << "# backend " << backend << ", random seed " << seed << ", minimized\n";
  file << "# " << mismatch.description << "\n";
  file << format_operations(ops);
  return path;
}

std::string replay_command(const std::filesystem::path& file, const std::string& backend) {
  std::error_code error;
  std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) binary = "differential_test";
  return std::string(replay_variable) + "=" + file.string() + " " + binary.string() +
         " --gtest_filter='Backends/DifferentialTest.ReplayFromEnvironment/" + backend + "'";
}

// Per-backend suite. Skips unavailable backends with their reason, and the multi_poll baseline,
// which has no Backend object to drive.
class DifferentialTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (backend().loop != LoopKind::socket_action) {
      GTEST_SKIP() << "backend " << GetParam()
                   << " is the multi_poll baseline: libcurl waits by itself, so there is no Backend to compare";
    }
  }

  // Runs a hand-written scenario, fails the test on a mismatch, and returns one observation per
  // step.
  std::vector<StepObservation> run_scenario(std::string_view text) {
    const std::vector<Operation> ops = parse_or_fail(text);
    std::vector<StepObservation> observations;
    const std::optional<Mismatch> mismatch = run_differential(backend(), ops, observations);
    EXPECT_FALSE(mismatch.has_value()) << mismatch->description << "\nsequence:\n" << format_operations(ops);
    return observations;
  }
};

TEST_P(DifferentialTest, RandomSequencesAgree) {
  std::vector<std::uint64_t> failing_seeds;
  for (std::uint64_t seed = 1; seed <= seed_count; ++seed) {
    if (run_differential(backend(), random_operations(seed, ops_per_seed))) failing_seeds.push_back(seed);
  }
  if (failing_seeds.empty()) return;

  const std::uint64_t seed = failing_seeds.front();
  const std::vector<Operation> minimized = minimize(backend(), random_operations(seed, ops_per_seed));
  const std::optional<Mismatch> mismatch = run_differential(backend(), minimized);
  ASSERT_TRUE(mismatch.has_value()) << "seed " << seed << " failed but its minimized sequence passes";
  const std::filesystem::path file = write_replay_file(backend().name, seed, *mismatch, minimized);
  FAIL() << backend().name << " disagrees with poll(2) on " << failing_seeds.size() << " of " << seed_count
         << " random sequences of " << ops_per_seed << " operations. First failing seed: " << seed << ".\n"
         << "Minimized sequence (" << minimized.size() << " operations):\n"
         << format_operations(minimized) << "Mismatch: " << mismatch->description << "\n"
         << "Replay: " << replay_command(file, backend().name);
}

TEST_P(DifferentialTest, ReplayFromEnvironment) {
  const char* path = std::getenv(replay_variable);
  if (path == nullptr || *path == '\0') {
    GTEST_SKIP() << "set " << replay_variable << "=<file of operations> to replay a sequence";
  }
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot open " << replay_variable << " file " << path;
  std::stringstream text;
  text << file.rdbuf();
  const std::optional<std::vector<Operation>> ops = parse_operations(text.str());
  ASSERT_TRUE(ops.has_value()) << path << " is not valid operation text (one \"kind slot [value]\" per line)";

  const std::optional<Mismatch> mismatch = run_differential(backend(), *ops);
  EXPECT_FALSE(mismatch.has_value()) << mismatch->description << "\nsequence:\n" << format_operations(*ops);
}

TEST_P(DifferentialTest, CloseThenReuseSameNumber) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    peer_write 0 10
    close_and_reuse 0
    watch_read 0
    peer_write 0 5
  )");
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[1].slots[0].required, ready_read) << "the old socket is readable before the close";
  EXPECT_EQ(steps[3].slots[0].fd, steps[1].slots[0].fd) << "the new socket must reuse the number";
  EXPECT_EQ(steps[3].slots[0].required, 0) << "the new socket has nothing to read";
  EXPECT_EQ(steps[3].slots[0].reported, 0);
  EXPECT_EQ(steps[4].slots[0].required, ready_read);
}

// Returns operation text with `slot` after each operation kind, for example "watch_read 7" for
// "watch_read", and "peer_write 7 5" for "peer_write 5".
std::string on_slot(std::size_t slot, std::initializer_list<std::string_view> operations) {
  std::string text;
  for (std::string_view operation : operations) {
    const std::size_t space = operation.find(' ');
    text += std::string(operation.substr(0, space)) + " " + std::to_string(slot);
    if (space != std::string_view::npos) text += std::string(operation.substr(space));
    text += "\n";
  }
  return text;
}

// libcurl 7.88.1 closes its threaded resolver's socketpair without CURLOPT_CLOSESOCKETFUNCTION,
// and the next descriptor it passes to the socket callback can take the number. A backend that
// kept the unwatched socketpair registered would take the new socket for it and never register it.
TEST_P(DifferentialTest, UnannouncedNumberReusedAfterUnwatch) {
  const std::vector<StepObservation> steps = run_scenario(on_slot(
      resolver_slot, {"watch_read", "unwatch", "close_and_reuse", "watch_read", "peer_write 5"}));
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[3].slots[resolver_slot].fd, steps[0].slots[resolver_slot].fd)
      << "the new socket must reuse the number";
  EXPECT_EQ(steps[4].slots[resolver_slot].required, ready_read);
  EXPECT_EQ(steps[4].slots[resolver_slot].reported, ready_read);
}

// The same number taken by a connection socket before libcurl's CURL_POLL_REMOVE of the old one.
// opened() must drop what the backend kept for the old socket, so that watching the new one
// registers it.
TEST_P(DifferentialTest, AnnouncedSocketTakesUnannouncedNumber) {
  const std::vector<StepObservation> steps = run_scenario(on_slot(
      handover_slot,
      {"watch_read", "close_unwatched_and_reuse", "unwatch", "watch_read", "peer_write 5"}));
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[3].slots[handover_slot].fd, steps[0].slots[handover_slot].fd)
      << "the new socket must reuse the number";
  EXPECT_EQ(steps[4].slots[handover_slot].required, ready_read);
  EXPECT_EQ(steps[4].slots[handover_slot].reported, ready_read);
}

// Returns the bits `backend` reports for `fd` over up to max_waits_per_check wait(0) calls.
int collect_bits(Backend& backend, int fd) {
  int bits = 0;
  for (int call = 0; call < max_waits_per_check && bits == 0; ++call) {
    std::vector<ReadyEvent> ready;
    EXPECT_FALSE(backend.wait(0, ready)) << "wait(0) failed";
    for (const ReadyEvent& event : ready) {
      if (event.fd == fd) bits |= event.events;
    }
  }
  return bits;
}

// libcurl 7.88.1 opens a happy-eyeballs loser through CURLOPT_OPENSOCKETFUNCTION, watches it for
// write while it connects, then closes it without CURLOPT_CLOSESOCKETFUNCTION and sends its
// CURL_POLL_REMOVE after the close. A backend that kept it registered took the next socket with
// that number for it: libuv aborted on the ENOENT of its epoll_ctl MOD, and epoll never
// registered a new socket watched for write again.
TEST_P(DifferentialTest, LosingConnectClosedBeforeRemove) {
  for (Interest next_interest : {Interest::read, Interest::write}) {
    SCOPED_TRACE(next_interest == Interest::read ? "next socket watched for read"
                                                 : "next socket watched for write");
    std::unique_ptr<Backend> loop = backend().create();
    int loser[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, loser), 0);
    const int number = loser[0];
    loop->opened(number);
    ASSERT_FALSE(loop->watch(number, Interest::write));
    ASSERT_EQ(collect_bits(*loop, number), ready_write);
    close(loser[0]);
    close(loser[1]);
    ASSERT_FALSE(loop->unwatch(number));

    int next[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, next), 0);
    ASSERT_EQ(next[0], number) << "the next socket did not reuse the number";
    ASSERT_FALSE(loop->watch(number, next_interest));
    ASSERT_EQ(write(next[1], "x", 1), 1);
    const int expected = next_interest == Interest::read ? ready_read : ready_write;
    EXPECT_EQ(collect_bits(*loop, number) & (ready_read | ready_write), expected);
    ASSERT_FALSE(loop->unwatch(number));
    loop.reset();
    close(next[0]);
    close(next[1]);
  }
}

TEST_P(DifferentialTest, CloseUnwatchedStaysStaleUntilUnwatch) {
  // No unwatch() before the close, so the backend still has interest read registered for a
  // number that now names another socket. The watch_read that follows does not clear that, so the oracle only
  // checks that no wrong bits are reported until the unwatch.
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    peer_write 0 10
    close_unwatched_and_reuse 0
    watch_read 0
    peer_write 0 5
    unwatch 0
    watch_read 0
    local_read_all 0
    peer_write 0 5
  )");
  ASSERT_EQ(steps.size(), 9u);
  EXPECT_EQ(steps[1].slots[0].required, ready_read);
  EXPECT_EQ(steps[2].slots[0].fd, steps[1].slots[0].fd);
  EXPECT_TRUE(steps[2].slots[0].stale);
  EXPECT_EQ(steps[2].slots[0].revents, 0) << "the new socket has nothing to read";
  EXPECT_EQ(steps[2].slots[0].reported, 0) << "the old socket's readiness was reported for the new one";
  EXPECT_TRUE(steps[3].slots[0].stale);
  EXPECT_TRUE(steps[4].slots[0].revents & POLLIN);
  EXPECT_EQ(steps[4].slots[0].required, 0);
  EXPECT_FALSE(steps[5].slots[0].stale);
  EXPECT_EQ(steps[6].slots[0].required, ready_read) << "the 5 bytes written while stale are still unread";
  EXPECT_EQ(steps[7].slots[0].required, 0);
  EXPECT_EQ(steps[8].slots[0].required, ready_read);
}

TEST_P(DifferentialTest, CloseUnwatchedThenUnwatch) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read_write 0
    peer_write 0 10
    close_unwatched_and_reuse 0
    unwatch 0
    peer_write 0 5
  )");
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_FALSE(steps[4].slots[0].interest.has_value());
  EXPECT_EQ(steps[4].slots[0].reported, 0);
}

TEST_P(DifferentialTest, ReuseWithinOneTurn) {
  // unwatch, close, a new socket with the same number and a watch, all between two waits, as when
  // libcurl drops a connection and opens another within one curl_multi_socket_action call.
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    peer_write 0 10
    same_turn 0
    close_and_reuse 0
    watch_read 0
    peer_write 0 5
    same_turn 0
    unwatch 0
    watch_read_write 0
  )");
  ASSERT_EQ(steps.size(), 9u);
  EXPECT_FALSE(steps[3].checked);
  EXPECT_TRUE(steps[4].checked);
  EXPECT_EQ(steps[4].slots[0].fd, steps[1].slots[0].fd);
  EXPECT_EQ(steps[4].slots[0].required, 0) << "the new socket has nothing to read";
  EXPECT_EQ(steps[5].slots[0].required, ready_read);
  EXPECT_EQ(steps[8].slots[0].required, ready_read | ready_write);
}

TEST_P(DifferentialTest, InterestChangeReadWriteBoth) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    peer_write 0 10
    watch_read 0
    watch_write 0
    watch_read_write 0
    watch_read 0
  )");
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[1].slots[0].required, ready_read);
  EXPECT_EQ(steps[2].slots[0].required, ready_write);
  EXPECT_EQ(steps[3].slots[0].required, ready_read | ready_write);
  EXPECT_EQ(steps[4].slots[0].required, ready_read);
}

TEST_P(DifferentialTest, UnwatchThenPeerWrites) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    unwatch 0
    peer_write 0 100
    watch_read 0
  )");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_FALSE(steps[2].slots[0].interest.has_value());
  EXPECT_EQ(steps[2].slots[0].reported, 0);
  EXPECT_EQ(steps[3].slots[0].required, ready_read) << "the data written while unwatched is still there";
}

TEST_P(DifferentialTest, PeerShutdownGivesEndOfFile) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    peer_write 0 10
    peer_shutdown_write 0
    local_read_all 0
    peer_close 0
  )");
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0].slots[0].required, 0);
  EXPECT_EQ(steps[2].slots[0].required, ready_read);
  EXPECT_EQ(steps[3].slots[0].required, ready_read) << "end of file stays readable after the data is read";
  EXPECT_TRUE(steps[3].slots[0].revents & POLLIN);
  EXPECT_TRUE(steps[4].slots[0].revents & POLLHUP);
  EXPECT_EQ(steps[4].slots[0].required, ready_read);
}

TEST_P(DifferentialTest, FillSendBufferThenDrain) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_write 0
    local_write_fill 0
    watch_read_write 0
    peer_read_all 0
  )");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].slots[0].required, ready_write);
  EXPECT_EQ(steps[1].slots[0].required, 0) << "the send buffer did not fill";
  EXPECT_EQ(steps[2].slots[0].required, 0);
  EXPECT_EQ(steps[3].slots[0].required, ready_write);
}

TEST_P(DifferentialTest, PeerCloseWithUnreadData) {
  // The peer closes with data from the local end unread, so the local end gets ECONNRESET as a
  // pending error.
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read_write 0
    local_write_fill 0
    peer_close 0
    local_read_all 0
  )");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_TRUE(steps[2].slots[0].revents & POLLERR);
  EXPECT_TRUE(steps[2].slots[0].required & ready_read);
  EXPECT_FALSE(steps[3].slots[0].revents & POLLERR) << "reading consumes the pending error";
}

TEST_P(DifferentialTest, HangupOnWriteInterest) {
  // POLLHUP arrives whatever the interest. The fd is watched for writing only, so a read bit is
  // outside its interest. The error bit is allowed.
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_write 0
    peer_close 0
  )");
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_TRUE(steps[1].slots[0].revents & POLLHUP);
  EXPECT_EQ(steps[1].slots[0].reported & ready_read, 0);
}

TEST_P(DifferentialTest, AllSlotsAtOnce) {
  const std::vector<StepObservation> steps = run_scenario(R"(
    watch_read 0
    watch_write 1
    watch_read_write 2
    watch_read 3
    watch_write 4
    watch_read_write 5
    watch_read 6
    watch_read_write 7
    peer_write 0 1
    peer_write 2 1
    local_write_fill 5
    peer_shutdown_write 6
    unwatch 1
    close_and_reuse 7
  )");
  ASSERT_EQ(steps.size(), 14u);
  const StepObservation& last = steps.back();
  EXPECT_EQ(last.slots[0].required, ready_read);
  EXPECT_FALSE(last.slots[1].interest.has_value());
  EXPECT_EQ(last.slots[2].required, ready_read | ready_write);
  EXPECT_EQ(last.slots[3].required, 0);
  EXPECT_EQ(last.slots[4].required, ready_write);
  EXPECT_EQ(last.slots[5].required, 0);
  EXPECT_EQ(last.slots[6].required, ready_read);
  EXPECT_FALSE(last.slots[7].interest.has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, DifferentialTest, ::testing::ValuesIn(all_backend_names()), backend_param_name);

// --- The engine itself ----------------------------------------------------------------------

TEST(Operations, FormatParseRoundTrip) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const std::vector<Operation> ops = random_operations(seed, 100);
    const std::optional<std::vector<Operation>> parsed = parse_operations(format_operations(ops));
    ASSERT_TRUE(parsed.has_value()) << "seed " << seed;
    EXPECT_EQ(*parsed, ops) << "seed " << seed;
  }
}

TEST(Operations, FormatIsOneLinePerOperation) {
  const std::vector<Operation> ops = {{OpKind::peer_write, 3, 100}, {OpKind::watch_read, 0, 0},
                                      {OpKind::close_unwatched_and_reuse, 7, 0}, {OpKind::unwatch, 1, 9}};
  EXPECT_EQ(format_operations(ops), "peer_write 3 100\nwatch_read 0\nclose_unwatched_and_reuse 7\nunwatch 1 9\n");
}

TEST(Operations, ParseSkipsCommentsAndBlankLines) {
  const std::optional<std::vector<Operation>> ops = parse_operations("# header\n\n  watch_write 2  \n\tpeer_write 1 7\r\n");
  ASSERT_TRUE(ops.has_value());
  const std::vector<Operation> expected = {{OpKind::watch_write, 2, 0}, {OpKind::peer_write, 1, 7}};
  EXPECT_EQ(*ops, expected);
}

TEST(Operations, ParseRejectsInvalidLines) {
  EXPECT_FALSE(parse_operations("watch_sideways 0\n"));
  EXPECT_FALSE(parse_operations("watch_read\n"));
  EXPECT_FALSE(parse_operations("watch_read 8\n"));
  EXPECT_FALSE(parse_operations("watch_read -1\n"));
  EXPECT_FALSE(parse_operations("watch_read x\n"));
  EXPECT_FALSE(parse_operations("peer_write 0 65536\n"));
  EXPECT_FALSE(parse_operations("peer_write 0 10 extra\n"));
  EXPECT_TRUE(parse_operations("peer_write 0 65535\n"));
  EXPECT_TRUE(parse_operations(""));
}

TEST(Operations, DecodeKnownBytes) {
  // Kind 4 is peer_write. Its byte count is 1 + (0x0010 % 16384), little-endian.
  const std::vector<std::uint8_t> bytes = {4, 3, 0x10, 0x00, 0, 9, 3};
  const std::vector<Operation> expected = {{OpKind::peer_write, 3, 17}, {OpKind::watch_read, 1, 0}};
  EXPECT_EQ(decode_operations(bytes), expected) << "the trailing odd byte must be ignored";
  EXPECT_TRUE(decode_operations({}).empty());
}

TEST(Operations, DecodeAnyBytesGivesValidOperations) {
  std::mt19937_64 generator(7);
  for (std::size_t length = 0; length < 300; ++length) {
    std::vector<std::uint8_t> bytes(length);
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(generator());
    for (const Operation& op : decode_operations(bytes)) {
      ASSERT_LT(static_cast<std::size_t>(op.kind), op_kind_count);
      ASSERT_LT(op.slot, pool_size);
      if (op.kind == OpKind::peer_write) {
        ASSERT_GE(op.value, 1);
        ASSERT_LE(op.value, 16384);
      } else {
        ASSERT_EQ(op.value, 0);
      }
    }
  }
}

TEST(Operations, RandomIsDeterministicPerSeed) {
  EXPECT_EQ(random_operations(42, 50), random_operations(42, 50));
  EXPECT_NE(random_operations(42, 50), random_operations(43, 50));
  EXPECT_EQ(random_operations(42, 0).size(), 0u);
}

TEST(Operations, RandomCoversEveryKind) {
  std::vector<bool> seen(op_kind_count);
  for (const Operation& op : random_operations(1, 2000)) seen[static_cast<std::size_t>(op.kind)] = true;
  for (std::size_t kind = 0; kind < op_kind_count; ++kind) {
    EXPECT_TRUE(seen[kind]) << op_kind_name(static_cast<OpKind>(kind));
  }
}

// Faults a FaultyBackend adds to the poll backend it wraps.
enum class Fault {
  none,
  ignore_unwatch,    // unwatch() does nothing, so unwatched fds keep being reported
  sticky_read,       // an fd once reported readable stays readable until unwatch(), as a backend
                     // with stale readiness would, also after the number is reused
  drop_events,       // wait() reports nothing
  duplicate_event,   // wait() reports its first event twice
  read_on_write,     // every event also gets the read bit, whatever the interest
  foreign_fd,        // wait() also reports an fd the sequence never watched
};

class FaultyBackend final : public Backend {
 public:
  explicit FaultyBackend(Fault fault) : fault_(fault) {}

  std::string_view name() const override { return "faulty"; }

  std::error_code watch(int fd, Interest interest) override { return inner_.watch(fd, interest); }

  std::error_code unwatch(int fd) override {
    sticky_.erase(std::remove(sticky_.begin(), sticky_.end(), fd), sticky_.end());
    if (fault_ == Fault::ignore_unwatch) return {};
    return inner_.unwatch(fd);
  }

  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override {
    const std::size_t first = ready.size();
    if (const std::error_code error = inner_.wait(timeout_ms, ready)) return error;
    switch (fault_) {
      case Fault::none:
      case Fault::ignore_unwatch:
        break;
      case Fault::sticky_read:
        add_sticky_reads(first, ready);
        break;
      case Fault::drop_events:
        ready.resize(first);
        break;
      case Fault::duplicate_event:
        if (ready.size() > first) ready.push_back(ready[first]);
        break;
      case Fault::read_on_write:
        for (std::size_t i = first; i < ready.size(); ++i) ready[i].events |= ready_read;
        break;
      case Fault::foreign_fd:
        ready.push_back({1000, ready_read});
        break;
    }
    return {};
  }

  BackendCounters counters() const override { return inner_.counters(); }

 private:
  void add_sticky_reads(std::size_t first, std::vector<ReadyEvent>& ready) {
    for (std::size_t i = first; i < ready.size(); ++i) {
      if ((ready[i].events & ready_read) && std::find(sticky_.begin(), sticky_.end(), ready[i].fd) == sticky_.end()) {
        sticky_.push_back(ready[i].fd);
      }
    }
    for (int fd : sticky_) {
      auto it = std::find_if(ready.begin() + static_cast<std::ptrdiff_t>(first), ready.end(),
                             [fd](const ReadyEvent& event) { return event.fd == fd; });
      if (it == ready.end()) {
        ready.push_back({fd, ready_read});
      } else {
        it->events |= ready_read;
      }
    }
  }

  Fault fault_;
  PollBackend inner_;
  std::vector<int> sticky_;
};

BackendInfo faulty_backend(Fault fault) {
  return {
      .name = "faulty",
      .loop = LoopKind::socket_action,
      .description = "poll backend with a deliberate fault, for tests of the oracle",
      .descriptor_limit = -1,
      .probe = [] { return Availability{true, ""}; },
      .create = [fault] { return std::make_unique<FaultyBackend>(fault); },
  };
}

TEST(Oracle, WrappedPollWithoutFaultAgrees) {
  const BackendInfo backend = faulty_backend(Fault::none);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const std::optional<Mismatch> mismatch = run_differential(backend, random_operations(seed, ops_per_seed));
    EXPECT_FALSE(mismatch.has_value()) << "seed " << seed << ": " << mismatch->description;
  }
}

TEST(Oracle, DetectsEventForUnwatchedFd) {
  const std::optional<Mismatch> mismatch =
      run_differential(faulty_backend(Fault::ignore_unwatch), parse_or_fail("watch_write 0\nunwatch 0\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(mismatch->step, 1u);
  EXPECT_NE(mismatch->description.find("not watched"), std::string::npos) << mismatch->description;
  EXPECT_NE(mismatch->description.find("faulty, step 1 (unwatch 0)"), std::string::npos) << mismatch->description;
}

TEST(Oracle, DetectsStaleReadinessAfterReuse) {
  const std::optional<Mismatch> mismatch = run_differential(
      faulty_backend(Fault::sticky_read), parse_or_fail("watch_read 0\npeer_write 0 10\nclose_unwatched_and_reuse 0\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(mismatch->step, 2u) << mismatch->description;
  EXPECT_NE(mismatch->description.find("with read, expected none"), std::string::npos) << mismatch->description;
}

TEST(Oracle, DetectsMissingEvent) {
  const std::optional<Mismatch> mismatch =
      run_differential(faulty_backend(Fault::drop_events), parse_or_fail("watch_read 0\npeer_write 0 1\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(mismatch->step, 1u);
  EXPECT_NE(mismatch->description.find("expected read, reported none"), std::string::npos) << mismatch->description;
  EXPECT_NE(mismatch->description.find("POLLIN"), std::string::npos) << mismatch->description;
}

TEST(Oracle, DetectsDuplicateEvent) {
  const std::optional<Mismatch> mismatch =
      run_differential(faulty_backend(Fault::duplicate_event), parse_or_fail("watch_write 0\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_NE(mismatch->description.find("twice"), std::string::npos) << mismatch->description;
}

TEST(Oracle, DetectsBitOutsideInterest) {
  const std::optional<Mismatch> mismatch =
      run_differential(faulty_backend(Fault::read_on_write), parse_or_fail("peer_write 0 5\nwatch_write 0\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(mismatch->step, 1u);
  EXPECT_NE(mismatch->description.find("with read|write, expected write"), std::string::npos) << mismatch->description;
}

TEST(Oracle, DetectsForeignFd) {
  const std::optional<Mismatch> mismatch =
      run_differential(faulty_backend(Fault::foreign_fd), parse_or_fail("watch_read 0\n"));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_NE(mismatch->description.find("fd 1000, which the sequence never watched"), std::string::npos)
      << mismatch->description;
}

TEST(Oracle, RejectsSlotOutsidePool) {
  const std::vector<Operation> ops = {{OpKind::watch_read, static_cast<std::uint8_t>(pool_size), 0}};
  EXPECT_THROW(run_differential(faulty_backend(Fault::none), ops), std::invalid_argument);
}

// Checks that `ops` fails on `backend` and that removing any one operation makes it pass.
void expect_one_minimal(const BackendInfo& backend, const std::vector<Operation>& ops) {
  ASSERT_TRUE(run_differential(backend, ops).has_value()) << "the minimized sequence passes:\n"
                                                          << format_operations(ops);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    std::vector<Operation> shorter = ops;
    shorter.erase(shorter.begin() + static_cast<std::ptrdiff_t>(i));
    EXPECT_FALSE(run_differential(backend, shorter).has_value())
        << "operation " << i << " can still be removed from:\n" << format_operations(ops);
  }
}

TEST(Minimize, ShrinksIgnoredUnwatchToTwoOperations) {
  const BackendInfo backend = faulty_backend(Fault::ignore_unwatch);
  const std::vector<Operation> original = random_operations(3, ops_per_seed);
  ASSERT_TRUE(run_differential(backend, original).has_value()) << "seed 3 does not trigger the fault";

  const std::vector<Operation> minimized = minimize(backend, original);
  // A watch that makes the fd writable, then unwatch or close_and_reuse (which unwatches).
  EXPECT_EQ(minimized.size(), 2u) << format_operations(minimized);
  expect_one_minimal(backend, minimized);
}

TEST(Minimize, ShrinksStaleReadinessToThreeOperations) {
  const BackendInfo backend = faulty_backend(Fault::sticky_read);
  std::vector<Operation> original;
  for (std::uint64_t seed = 1; seed <= 50 && original.empty(); ++seed) {
    std::vector<Operation> ops = random_operations(seed, ops_per_seed);
    if (run_differential(backend, ops)) original = std::move(ops);
  }
  ASSERT_FALSE(original.empty()) << "no seed from 1 to 50 triggers the fault";

  const std::vector<Operation> minimized = minimize(backend, original);
  // A read watch, a peer write, and a step that ends readability while the fd stays watched.
  EXPECT_EQ(minimized.size(), 3u) << format_operations(minimized);
  EXPECT_LT(minimized.size(), original.size());
  expect_one_minimal(backend, minimized);
}

TEST(Minimize, ReturnsPassingSequenceUnchanged) {
  const BackendInfo backend = faulty_backend(Fault::none);
  const std::vector<Operation> ops = random_operations(5, 30);
  ASSERT_FALSE(run_differential(backend, ops).has_value());
  EXPECT_EQ(minimize(backend, ops), ops);
}

}  // namespace
}  // namespace sockaction::differential
