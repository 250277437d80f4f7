#include "tests/differential/wait_watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sockaction::differential {
namespace {

// How long one wait(0) may take before the watchdog aborts. A zero-timeout wait returns in
// microseconds, so this only fires for a backend that loops or blocks.
constexpr std::chrono::seconds wait_time_limit{10};

}  // namespace

WaitWatchdog::WaitWatchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { watch(); }) {}

WaitWatchdog::~WaitWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stopping_.notify_one();
  thread_.join();
}

void WaitWatchdog::arm(const PendingWait& pending) {
  std::lock_guard lock(mutex_);
  pending_ = pending;
  armed_at_ = std::chrono::steady_clock::now();
}

void WaitWatchdog::disarm() {
  std::lock_guard lock(mutex_);
  pending_.reset();
}

WaitWatchdog& WaitWatchdog::instance() {
  static WaitWatchdog watchdog(wait_time_limit);
  return watchdog;
}

void WaitWatchdog::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
    if (!pending_ || std::chrono::steady_clock::now() - armed_at_ < limit_) continue;

    // The waiting thread is stuck inside wait(), so `pending_` and the operations it points to
    // stay valid while they are printed.
    const PendingWait& pending = *pending_;
    const Operation& op = pending.ops[pending.step];
    std::fprintf(stderr,
                 "sockaction differential: %.*s, step %zu (%.*s %u): wait(0) call %d did not return "
                 "within %lld s. Sequence:\n%s",
                 static_cast<int>(pending.backend.size()), pending.backend.data(), pending.step,
                 static_cast<int>(op_kind_name(op.kind).size()), op_kind_name(op.kind).data(),
                 static_cast<unsigned>(op.slot), pending.call, static_cast<long long>(limit_.count()),
                 format_operations(pending.ops).c_str());
    std::abort();
  }
}

}  // namespace sockaction::differential
