// The conformance suite: real transfers against the in-process server through every backend.

#include "core/body_pattern.hpp"
#include "core/descriptors.hpp"
#include "tests/test_support.hpp"

#include <memory>

namespace sockaction::testing {
namespace {

// A suite whose tests share one server; each behaviour below derives its own suite from it.
class ServerTest : public BackendTest {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<HttpServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static HttpServer& server() { return *server_; }

  // Runs `spec` and checks that every transfer finished and passed its checks.
  void expect_all_done(const WorkloadSpec& spec, const DriverOptions& options = {}) {
    const RunStats stats = run_workload(backend(), spec, options);
    EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
    EXPECT_EQ(stats.transfers_done, spec.transfers) << describe_failures(stats);
    EXPECT_EQ(stats.transfers_failed, 0u) << describe_failures(stats);
    ASSERT_EQ(stats.results.size(), spec.transfers);
    for (const auto& result : stats.results) {
      ASSERT_EQ(result.bytes, *spec.expected_bytes);
      ASSERT_EQ(result.crc32c, pattern_crc32c(*spec.expected_bytes));
    }
  }

  // Skips when `backend` cannot hold `concurrency` connections to an in-process server.
  bool fits_descriptor_limit(int concurrency) {
    const int limit = backend().descriptor_limit;
    return limit < 0 || descriptors_needed(concurrency, true) <= static_cast<std::size_t>(limit);
  }

 private:
  static inline std::unique_ptr<HttpServer> server_;
};

// Bodies of a size that spans several pattern periods and several socket reads.
constexpr std::uint64_t body_size = 200'000;

class TransferIntegrity : public ServerTest {
 protected:
  void run_at(int concurrency, std::uint64_t size, std::size_t transfers) {
    if (!fits_descriptor_limit(concurrency)) {
      GTEST_SKIP() << backend().name << " takes descriptors below " << backend().descriptor_limit
                   << " only, fewer than concurrency " << concurrency << " needs";
    }
    for (bool reuse : {true, false}) {
      SCOPED_TRACE(reuse ? "keep-alive reuse on" : "keep-alive reuse off");
      WorkloadSpec spec = pattern_workload(server(), size, transfers, concurrency);
      spec.reuse_connections = reuse;
      expect_all_done(spec);
    }
  }
};

TEST_P(TransferIntegrity, Concurrency1) { run_at(1, body_size, 20); }
TEST_P(TransferIntegrity, Concurrency64) { run_at(64, body_size, 256); }
TEST_P(TransferIntegrity, Concurrency1024) { run_at(1024, 4096, 2048); }

TEST_P(TransferIntegrity, ChunkedBody) {
  expect_all_done(pattern_workload(server(), body_size, 64, 16, "?chunked=1"));
}

TEST_P(TransferIntegrity, ServerClosesEachConnection) {
  expect_all_done(pattern_workload(server(), 10'000, 64, 16, "?close=1"));
}

TEST_P(TransferIntegrity, ReusedDescriptorNumber) {
  // With one transfer at a time and the server closing each connection, libcurl closes the
  // finished transfer's socket and the next transfer's socket gets the lowest free number: the
  // same one. Each new socket must get only its own events.
  WorkloadSpec spec = pattern_workload(server(), 50'000, 24, 1, "?close=1");
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
  EXPECT_EQ(stats.transfers_done, spec.transfers) << describe_failures(stats);
  if (backend().loop == LoopKind::socket_action) {
    EXPECT_GE(stats.counters.reused_descriptors, spec.transfers / 2);
  }
}

TEST_P(TransferIntegrity, KeepAliveOpensOneConnectionPerSlot) {
  // Replacements join after the finished transfers have left the multi handle, which shrinks
  // libcurl's default connection cache. The pool must still keep every connection for reuse.
  constexpr int concurrency = 64;
  if (!fits_descriptor_limit(concurrency)) GTEST_SKIP() << "needs more descriptors";
  const WorkloadSpec spec = pattern_workload(server(), 128, 16 * concurrency, concurrency);
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
  EXPECT_EQ(stats.transfers_done, spec.transfers) << describe_failures(stats);
  EXPECT_EQ(stats.connections_opened(), static_cast<std::uint64_t>(concurrency));
}

TEST_P(TransferIntegrity, EmptyBody) { expect_all_done(pattern_workload(server(), 0, 32, 8)); }

class TransferErrors : public ServerTest {};

TEST_P(TransferErrors, ConnectionRefused) {
  WorkloadSpec spec;
  spec.url = "http://127.0.0.1:" + std::to_string(unused_loopback_port()) + "/bytes/10";
  spec.transfers = 4;
  spec.concurrency = 2;
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
  ASSERT_EQ(stats.results.size(), 4u);
  for (const auto& result : stats.results) {
    EXPECT_EQ(result.code, CURLE_COULDNT_CONNECT) << curl_easy_strerror(result.code);
  }
  EXPECT_EQ(stats.transfers_failed, 4u);
}

TEST_P(TransferErrors, NotFound) {
  WorkloadSpec spec;
  spec.url = server().url("/no/such/route");
  spec.transfers = 4;
  spec.concurrency = 2;
  spec.expected_status = 404;
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_EQ(stats.transfers_done, 4u) << describe_failures(stats);
  for (const auto& result : stats.results) EXPECT_EQ(result.status, 404);
}

TEST_P(TransferErrors, TimeoutFiresThroughTimer) {
  WorkloadSpec spec = pattern_workload(server(), 10, 2, 2, "?delay_ms=3000");
  spec.timeout_ms = 200;
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
  ASSERT_EQ(stats.results.size(), 2u);
  for (const auto& result : stats.results) {
    EXPECT_EQ(result.code, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(result.code);
    EXPECT_LT(result.latency, std::chrono::milliseconds(2500));
  }
  // Only the timer can end these transfers: the server sends nothing for 3 s.
  if (backend().loop == LoopKind::socket_action) {
    EXPECT_GE(stats.counters.timer_expirations, 1u);
  }
}

TEST_P(TransferErrors, TruncatedBody) {
  WorkloadSpec spec = pattern_workload(server(), 100'000, 4, 2, "?abort_after=1000");
  const RunStats stats = run_workload(backend(), spec);
  EXPECT_FALSE(stats.fatal_error) << describe_failures(stats);
  ASSERT_EQ(stats.results.size(), 4u);
  for (const auto& result : stats.results) {
    EXPECT_EQ(result.code, CURLE_PARTIAL_FILE) << curl_easy_strerror(result.code);
  }
}

class UnknownEventMask : public ServerTest {};

TEST_P(UnknownEventMask, CompletesSameTransfers) {
  if (backend().loop != LoopKind::socket_action) {
    GTEST_SKIP() << backend().name << " does not call curl_multi_socket_action";
  }
  const DriverOptions options{.unknown_event_mask = true};
  for (bool reuse : {true, false}) {
    SCOPED_TRACE(reuse ? "keep-alive reuse on" : "keep-alive reuse off");
    WorkloadSpec spec = pattern_workload(server(), body_size, 256, 64);
    spec.reuse_connections = reuse;
    expect_all_done(spec, options);
  }
}

class NoBusyLoop : public ServerTest {};

TEST_P(NoBusyLoop, DelayedResponseFewWakeups) {
  constexpr std::size_t transfers = 10;
  const RunStats stats =
      run_workload(backend(), pattern_workload(server(), 128, transfers, 1, "?delay_ms=50"));
  ASSERT_EQ(stats.transfers_done, transfers) << describe_failures(stats);
  // Each transfer needs a handful of wakeups: connect, send, response, maybe a timer. A loop
  // that spins during the 50 ms wait makes hundreds or thousands.
  const double wakeups = static_cast<double>(stats.counters.wakeups) / transfers;
  const double idle = static_cast<double>(stats.counters.idle_wakeups) / transfers;
  EXPECT_LT(wakeups, 10.0) << "wakeups " << stats.counters.wakeups;
  EXPECT_LT(idle, 3.0) << "idle wakeups " << stats.counters.idle_wakeups;
}

class DescriptorHygiene : public BackendTest {};

TEST_P(DescriptorHygiene, NoDescriptorLeftOpen) {
  // One run first, so anything libcurl or the TLS library opens once per process and keeps
  // (none seen with libcurl 7.88 and OpenSSL 3.0) is open in both counts.
  WorkloadSpec warm_up;
  warm_up.url = "http://127.0.0.1:" + std::to_string(unused_loopback_port()) + "/";
  run_workload(backend(), warm_up);

  const std::size_t before = count_open_descriptors();
  {
    HttpServer server;
    for (bool reuse : {true, false}) {
      WorkloadSpec spec = pattern_workload(server, 4096, 128, 32);
      spec.reuse_connections = reuse;
      const RunStats stats = run_workload(backend(), spec);
      ASSERT_EQ(stats.transfers_done, spec.transfers) << describe_failures(stats);
    }
    WorkloadSpec refused;
    refused.url = "http://127.0.0.1:" + std::to_string(unused_loopback_port()) + "/";
    refused.transfers = 4;
    run_workload(backend(), refused);
  }
  EXPECT_EQ(count_open_descriptors(), before);
}

#define SOCKACTION_FOR_EVERY_BACKEND(suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(all_backend_names()), \
                           backend_param_name)

SOCKACTION_FOR_EVERY_BACKEND(TransferIntegrity);
SOCKACTION_FOR_EVERY_BACKEND(TransferErrors);
SOCKACTION_FOR_EVERY_BACKEND(UnknownEventMask);
SOCKACTION_FOR_EVERY_BACKEND(NoBusyLoop);
SOCKACTION_FOR_EVERY_BACKEND(DescriptorHygiene);

}  // namespace
}  // namespace sockaction::testing
