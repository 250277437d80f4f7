#include "core/multi_poll_loop.hpp"

#include "core/curl_handles.hpp"
#include "core/transfer_pool.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace sockaction {
namespace {

using Clock = std::chrono::steady_clock;

// Maximum single curl_multi_poll, so the run limit is checked at least this often. libcurl
// shortens the wait by itself when one of its own timers is due sooner.
constexpr int max_poll_ms = 1000;

}  // namespace

void run_multi_poll_loop(const WorkloadSpec& spec, const DriverOptions& options, RunStats& stats) {
  const auto started_at = Clock::now();
  const auto run_deadline = started_at + options.run_limit;
  auto fail = [&stats](std::string message) {
    if (!stats.fatal_error) stats.fatal_error = std::move(message);
  };

  MultiHandle multi(curl_multi_init());
  if (!multi) return fail("curl_multi_init failed (out of memory?)");
  std::uint64_t progress = 0;
  TransferPool pool(multi.get(), spec, stats, progress);
  if (auto error = pool.start()) return fail(std::move(*error));

  auto perform = [&]() -> bool {
    ++stats.counters.socket_actions;
    int running = 0;
    if (CURLMcode code = curl_multi_perform(multi.get(), &running); code != CURLM_OK) {
      fail(std::string("curl_multi_perform failed: ") + curl_multi_strerror(code));
      return false;
    }
    if (auto error = pool.drain_finished()) {
      fail(std::move(*error));
      return false;
    }
    if (auto error = pool.refill()) {
      fail(std::move(*error));
      return false;
    }
    return true;
  };

  if (!perform()) return;
  while (!pool.all_finished()) {
    const auto now = Clock::now();
    if (now >= run_deadline) {
      return fail("run limit of " + std::to_string(options.run_limit.count()) +
                  " ms passed with " + std::to_string(pool.in_flight()) + " transfers in flight");
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(run_deadline - now).count();
    const int timeout_ms = static_cast<int>(std::min<long long>(left, max_poll_ms));

    ++stats.counters.wakeups;
    int ready = 0;
    if (CURLMcode code = curl_multi_poll(multi.get(), nullptr, 0, timeout_ms, &ready);
        code != CURLM_OK) {
      return fail(std::string("curl_multi_poll failed: ") + curl_multi_strerror(code));
    }
    if (options.trace) {
      std::fprintf(options.trace, "%10.6f wakeup ready=%d timeout_ms=%d\n",
                   std::chrono::duration<double>(Clock::now() - started_at).count(), ready,
                   timeout_ms);
    }
    const std::uint64_t progress_before = progress;
    if (!perform()) return;
    if (progress == progress_before) ++stats.counters.idle_wakeups;
  }
}

}  // namespace sockaction
