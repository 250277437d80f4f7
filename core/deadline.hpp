// The deadline that libcurl's timer callback (CURLMOPT_TIMERFUNCTION) sets, kept on steady_clock.
//
// The callback passes -1 to clear the deadline, 0 for "as soon as possible" and N for N ms from
// now. A loop records that value with set() and takes the timeout of its next wait from
// wait_ms(). After the wait it calls take_if_passed(), and when that returns true, it calls
// curl_multi_socket_action(CURL_SOCKET_TIMEOUT). Every function takes the current time as an
// argument, so tests and fuzz/deadline_fuzzer.cpp can drive it with any clock values.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

namespace sockaction {

class TimerDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  static_assert(std::chrono::milliseconds(1) >= Clock::duration(1),
                "the clock must resolve milliseconds");

  // Records a timer callback value received at `now`. A negative value clears the deadline. A
  // deadline beyond the clock's range is stored as Clock::time_point::max(), so a huge value
  // such as LONG_MAX does not overflow. That deadline passes only at the clock's last tick.
  void set(long timeout_ms, Clock::time_point now) {
    if (timeout_ms < 0) {
      at_.reset();
      return;
    }
    const std::uint64_t room_ms = ticks_between(now, Clock::time_point::max()) / ticks_per_ms();
    if (static_cast<std::uint64_t>(timeout_ms) > room_ms) {
      at_ = Clock::time_point::max();
      return;
    }
    // In unsigned ticks, because `now + milliseconds(timeout_ms)` converts the milliseconds to
    // ticks first, and that product overflows for a negative `now` even when the sum fits.
    const std::uint64_t ticks = static_cast<std::uint64_t>(now.time_since_epoch().count()) +
                                static_cast<std::uint64_t>(timeout_ms) * ticks_per_ms();
    at_ = Clock::time_point(Clock::duration(static_cast<Clock::rep>(ticks)));
  }

  void clear() { at_.reset(); }

  std::optional<Clock::time_point> at() const { return at_; }

  bool passed(Clock::time_point now) const { return at_ && now >= *at_; }

  // Clears the deadline and returns true when it has passed at `now`. Clearing comes first, so
  // the deadline counts as spent and libcurl can set a new one from inside the
  // CURL_SOCKET_TIMEOUT action that follows.
  bool take_if_passed(Clock::time_point now) {
    if (!passed(now)) return false;
    at_.reset();
    return true;
  }

  // Milliseconds a wait starting at `now` may block: 0 once the deadline has passed, otherwise
  // the time left rounded up to whole milliseconds, so the wait does not end before the deadline
  // and find it not yet passed. Never more than `cap_ms` (which must not be negative), and
  // `cap_ms` when no deadline is set.
  int wait_ms(Clock::time_point now, int cap_ms) const {
    if (!at_) return cap_ms;
    if (now >= *at_) return 0;
    const std::uint64_t ticks = ticks_between(now, *at_);
    const std::uint64_t ms = ticks / ticks_per_ms() + (ticks % ticks_per_ms() != 0 ? 1 : 0);
    return ms < static_cast<std::uint64_t>(cap_ms) ? static_cast<int>(ms) : cap_ms;
  }

 private:
  static std::uint64_t ticks_per_ms() {
    return static_cast<std::uint64_t>(Clock::duration(std::chrono::milliseconds(1)).count());
  }

  // Ticks from `from` to `to` (to >= from). Unsigned arithmetic cannot overflow here, because
  // the difference of two int64 values with to >= from always fits in a uint64.
  static std::uint64_t ticks_between(Clock::time_point from, Clock::time_point to) {
    return static_cast<std::uint64_t>(to.time_since_epoch().count()) -
           static_cast<std::uint64_t>(from.time_since_epoch().count());
  }

  std::optional<Clock::time_point> at_;
};

}  // namespace sockaction
