// Aborts with the sequence when a backend's wait(0) does not return. Internal to the engine.
#pragma once

#include "tests/differential/differential.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace sockaction::differential {

// The wait() call in progress, for the message.
struct PendingWait {
  std::string_view backend;
  std::span<const Operation> ops;
  std::size_t step = 0;
  int call = 0;  // 1-based within the step's check
};

// A thread that checks once per second whether the armed wait() has run past `limit`. If it has,
// it prints the backend, step and the sequence in format_operations() form to stderr and calls
// std::abort(), because a thread stuck in a backend cannot be stopped any other way. Under
// libFuzzer the abort makes the input a saved crash. arm() and disarm() only take an uncontended
// mutex, so the check costs no system call per wait.
class WaitWatchdog {
 public:
  explicit WaitWatchdog(std::chrono::seconds limit);
  ~WaitWatchdog();
  WaitWatchdog(const WaitWatchdog&) = delete;
  WaitWatchdog& operator=(const WaitWatchdog&) = delete;

  // `pending` must stay valid until disarm().
  void arm(const PendingWait& pending);
  void disarm();

  // The process-wide instance, started on first use.
  static WaitWatchdog& instance();

 private:
  void watch();

  const std::chrono::seconds limit_;
  std::mutex mutex_;
  std::condition_variable stopping_;
  bool stop_ = false;
  std::optional<PendingWait> pending_;
  std::chrono::steady_clock::time_point armed_at_;
  std::thread thread_;
};

}  // namespace sockaction::differential
