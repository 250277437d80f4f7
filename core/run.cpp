#include "core/run.hpp"

#include "core/curl_handles.hpp"
#include "core/multi_poll_loop.hpp"
#include "core/socket_action_loop.hpp"

#include <sys/resource.h>

#include <ctime>
#include <stdexcept>

namespace sockaction {
namespace {

std::chrono::nanoseconds process_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto to_ns = [](const timeval& value) {
    return std::chrono::seconds(value.tv_sec) + std::chrono::microseconds(value.tv_usec);
  };
  return to_ns(usage.ru_utime) + to_ns(usage.ru_stime);
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

void run_socket_action(const BackendInfo& info, const WorkloadSpec& spec,
                       const DriverOptions& options, RunStats& stats) {
  std::unique_ptr<Backend> backend;
  try {
    backend = info.create();
  } catch (const std::exception& error) {
    stats.fatal_error = info.name + ": cannot create the backend: " + error.what();
    return;
  }
  {
    SocketActionLoop loop(*backend, spec, options, stats);
    loop.run();
  }  // the loop's multi handle is cleaned up here, so its REMOVE callbacks still reach `backend`
  stats.counters.backend_system_calls = backend->counters().system_calls;
}

}  // namespace

RunStats run_workload(const BackendInfo& info, const WorkloadSpec& spec,
                      const DriverOptions& options) {
  if (auto problem = validate_workload(spec)) throw std::invalid_argument(*problem);
  ensure_curl_global_init();

  RunStats stats;
  if (Availability availability = info.probe(); !availability.available) {
    stats.fatal_error = info.name + " is not available here: " + availability.reason;
    return stats;
  }

  const auto wall_start = std::chrono::steady_clock::now();
  const auto process_start = process_cpu_time();
  const auto thread_start = thread_cpu_time();
  if (info.loop == LoopKind::multi_poll) {
    run_multi_poll_loop(spec, options, stats);
  } else {
    run_socket_action(info, spec, options, stats);
  }
  stats.wall_time = std::chrono::steady_clock::now() - wall_start;
  stats.process_cpu_time = process_cpu_time() - process_start;
  stats.driver_cpu_time = thread_cpu_time() - thread_start;
  return stats;
}

}  // namespace sockaction
