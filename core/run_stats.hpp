// Measurements of one run.
#pragma once

#include "core/workload.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sockaction {

// Events counted by the loop. Divide by transfers for the per-request figures in reports.
struct LoopCounters {
  std::uint64_t socket_actions = 0;      // curl_multi_socket_action calls (perform calls for the baseline)
  std::uint64_t socket_callbacks = 0;    // CURLMOPT_SOCKETFUNCTION calls
  std::uint64_t timer_callbacks = 0;     // CURLMOPT_TIMERFUNCTION calls
  std::uint64_t wakeups = 0;             // backend waits (curl_multi_poll calls for the baseline)
  std::uint64_t idle_wakeups = 0;        // wakeups that moved no data, finished no transfer and
                                         // changed no socket's interest
  std::uint64_t timer_expirations = 0;   // CURL_SOCKET_TIMEOUT actions after the deadline passed
  std::uint64_t stale_events = 0;        // ready events dropped because libcurl removed the socket
  std::uint64_t reused_descriptors = 0;  // sockets announced with a number an earlier socket had
  std::uint64_t backend_system_calls = 0;  // kernel entries the backend made
};

// Latency percentiles, exact: nearest-rank over every transfer's latency.
struct LatencySummary {
  std::chrono::nanoseconds p50{0}, p90{0}, p99{0}, p999{0}, max{0};
};

struct RunStats {
  std::size_t transfers_done = 0;    // finished and passed check_transfer
  std::size_t transfers_failed = 0;  // finished and failed check_transfer
  std::uint64_t body_bytes = 0;      // body bytes received over all transfers
  std::chrono::nanoseconds wall_time{0};
  std::chrono::nanoseconds process_cpu_time{0};  // whole process, in-process server included
  std::chrono::nanoseconds driver_cpu_time{0};   // the thread that ran the loop
  LoopCounters counters;
  std::vector<TransferResult> results;  // one per finished transfer, in finishing order
  // Set when the run stopped before every transfer finished: a backend error, a libcurl error
  // or the run's time limit. The transfers finished until then are still counted.
  std::optional<std::string> fatal_error;

  double requests_per_second() const;
  double bytes_per_second() const;
  LatencySummary latency() const;
  // Connections opened over all finished transfers; C for a keep-alive run at concurrency C.
  std::uint64_t connections_opened() const;
};

// Nearest-rank percentile (0 < q <= 1) of `sorted`, which must be sorted ascending and non-empty.
std::chrono::nanoseconds nearest_rank(const std::vector<std::chrono::nanoseconds>& sorted, double q);

}  // namespace sockaction
