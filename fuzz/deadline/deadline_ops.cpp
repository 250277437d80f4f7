#include "fuzz/deadline/deadline_ops.hpp"

#include "core/deadline.hpp"
#include "fuzz/common/byte_reader.hpp"
#include "fuzz/common/rule_failure.hpp"

#include <charconv>
#include <climits>
#include <limits>

namespace sockaction::fuzz::deadline {
namespace {

using Clock = TimerDeadline::Clock;
// __extension__ keeps -Wpedantic quiet about the GCC and Clang extension type.
__extension__ typedef __int128 Int128;

constexpr std::string_view target_name = "deadline";
constexpr std::uint8_t cap_max_code = 255;  // a wait cap byte of 255 means INT_MAX

constexpr std::size_t argument_width(DeadlineOpKind kind) {
  switch (kind) {
    case DeadlineOpKind::set: return 8;
    case DeadlineOpKind::advance_ms: return 2;
    case DeadlineOpKind::advance_ns: return 4;
    case DeadlineOpKind::jump: return 8;
    case DeadlineOpKind::take: return 0;
    case DeadlineOpKind::clear: return 0;
    case DeadlineOpKind::wait: return 1;
  }
  return 0;
}

// The same rules as TimerDeadline, in 128-bit ticks where nothing can overflow.
struct Model {
  std::optional<Int128> at;

  static Int128 ticks_per_ms() { return Clock::duration(std::chrono::milliseconds(1)).count(); }
  static Int128 last_tick() { return Clock::time_point::max().time_since_epoch().count(); }

  void set(std::int64_t timeout_ms, Int128 now) {
    if (timeout_ms < 0) {
      at.reset();
      return;
    }
    const Int128 requested = now + static_cast<Int128>(timeout_ms) * ticks_per_ms();
    at = requested > last_tick() ? last_tick() : requested;
  }

  int wait_ms(Int128 now, int cap) const {
    if (!at) return cap;
    if (now >= *at) return 0;
    const Int128 left = *at - now;
    const Int128 ms = (left + ticks_per_ms() - 1) / ticks_per_ms();
    return ms < cap ? static_cast<int>(ms) : cap;
  }
};

Clock::time_point time_at(Int128 ticks) {
  return Clock::time_point(Clock::duration(static_cast<Clock::rep>(ticks)));
}

std::string to_text(Int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  std::string digits;
  while (value != 0) {
    const int digit = static_cast<int>(value % 10);
    digits.insert(digits.begin(), static_cast<char>('0' + (negative ? -digit : digit)));
    value /= 10;
  }
  return negative ? "-" + digits : digits;
}

std::string describe_deadline(const std::optional<Int128>& at) {
  return at ? "tick " + to_text(*at) : std::string("none");
}

class DeadlineCheck {
 public:
  void apply(const DeadlineOp& op);
  void check_state() const;
  std::uint64_t step = 0;

 private:
  [[noreturn]] void fail(std::string_view rule, const std::string& detail) const {
    break_rule(target_name, rule, step, detail);
  }
  void advance(Int128 ticks) {
    now_ += ticks;
    if (now_ > Model::last_tick()) now_ = Model::last_tick();
  }
  void check_wait(int cap) const;

  TimerDeadline deadline_;
  Model model_;
  Int128 now_ = 0;
};

void DeadlineCheck::apply(const DeadlineOp& op) {
  switch (op.kind) {
    case DeadlineOpKind::set:
      deadline_.set(static_cast<long>(op.value), time_at(now_));
      model_.set(op.value, now_);
      return;
    case DeadlineOpKind::advance_ms:
      return advance(static_cast<Int128>(op.value) * Model::ticks_per_ms());
    case DeadlineOpKind::advance_ns:
      return advance(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(op.value)).count());
    case DeadlineOpKind::jump:
      now_ = op.value;
      return;
    case DeadlineOpKind::take: {
      const bool was_passed = model_.at && now_ >= *model_.at;
      const bool cleared = deadline_.take_if_passed(time_at(now_));
      if (cleared != was_passed) {
        fail("take-if-passed", std::string("take_if_passed returned ") + (cleared ? "true" : "false") +
                                   " at tick " + to_text(now_) + " for deadline " +
                                   describe_deadline(model_.at));
      }
      if (cleared) model_.at.reset();
      return;
    }
    case DeadlineOpKind::clear:
      deadline_.clear();
      model_.at.reset();
      return;
    case DeadlineOpKind::wait:
      return check_wait(op.value == cap_max_code ? INT_MAX : static_cast<int>(op.value));
  }
}

void DeadlineCheck::check_state() const {
  const auto at = deadline_.at();
  const std::optional<Int128> actual =
      at ? std::optional<Int128>(at->time_since_epoch().count()) : std::nullopt;
  if (actual != model_.at) {
    fail("deadline-value", "the deadline is " + describe_deadline(actual) + ", the model has " +
                               describe_deadline(model_.at));
  }
  const bool passed = deadline_.passed(time_at(now_));
  const bool expected = model_.at && now_ >= *model_.at;
  if (passed != expected) {
    fail("deadline-passed", std::string("passed() is ") + (passed ? "true" : "false") +
                                " at tick " + to_text(now_) + " for deadline " +
                                describe_deadline(model_.at));
  }
}

void DeadlineCheck::check_wait(int cap) const {
  const int wait = deadline_.wait_ms(time_at(now_), cap);
  const int expected = model_.wait_ms(now_, cap);
  if (wait != expected) {
    fail("wait-rounding", "wait_ms returned " + std::to_string(wait) + " with cap " +
                              std::to_string(cap) + " at tick " + to_text(now_) + ", expected " +
                              std::to_string(expected) + " for deadline " +
                              describe_deadline(model_.at));
  }
  if (!model_.at || wait == cap || wait == 0) return;
  // A wait of `wait` ms must end at or after the deadline, and one ms less must end before it,
  // or the loop would wake early and spin or oversleep.
  const Int128 wake = now_ + static_cast<Int128>(wait) * Model::ticks_per_ms();
  if (wake > Model::last_tick()) return;
  if (!deadline_.passed(time_at(wake)) || deadline_.passed(time_at(wake - Model::ticks_per_ms()))) {
    fail("wait-rounding", "a wait of " + std::to_string(wait) + " ms from tick " + to_text(now_) +
                              " does not end at the first whole millisecond past deadline " +
                              describe_deadline(model_.at));
  }
}

std::optional<std::int64_t> parse_integer(std::string_view word) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (error != std::errc() || end != word.data() + word.size()) return std::nullopt;
  return value;
}

struct OpName {
  std::string_view name;
  DeadlineOpKind kind;
  std::int64_t min;
  std::int64_t max;
};

constexpr OpName op_names[] = {
    {"set", DeadlineOpKind::set, std::numeric_limits<std::int64_t>::min(),
     std::numeric_limits<std::int64_t>::max()},
    {"advance-ms", DeadlineOpKind::advance_ms, 0, 0xffff},
    {"advance-ns", DeadlineOpKind::advance_ns, 0, 0xffffffff},
    {"jump", DeadlineOpKind::jump, std::numeric_limits<std::int64_t>::min(),
     std::numeric_limits<std::int64_t>::max()},
    {"take", DeadlineOpKind::take, 0, 0},
    {"clear", DeadlineOpKind::clear, 0, 0},
    {"wait", DeadlineOpKind::wait, 0, cap_max_code - 1},
};

}  // namespace

std::vector<DeadlineOp> decode_deadline_ops(std::span<const std::uint8_t> input) {
  ByteReader reader(input);
  std::vector<DeadlineOp> ops;
  while (auto kind_byte = reader.byte()) {
    DeadlineOp op;
    op.kind = static_cast<DeadlineOpKind>(*kind_byte % deadline_op_count);
    const std::size_t width = argument_width(op.kind);
    auto value = reader.little_endian(width);
    if (!value) break;
    // 8-byte fields are two's complement; shorter ones are unsigned.
    op.value = static_cast<std::int64_t>(*value);
    ops.push_back(op);
  }
  return ops;
}

std::optional<std::vector<std::uint8_t>> encode_deadline_ops(const std::vector<DeadlineOp>& ops) {
  std::vector<std::uint8_t> out;
  for (const DeadlineOp& op : ops) {
    const std::size_t width = argument_width(op.kind);
    if (width < 8 && (op.value < 0 || static_cast<std::uint64_t>(op.value) >> (8 * width) != 0)) {
      return std::nullopt;
    }
    out.push_back(static_cast<std::uint8_t>(op.kind));
    const auto bits = static_cast<std::uint64_t>(op.value);
    for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  }
  return out;
}

std::optional<std::vector<DeadlineOp>> parse_deadline_text(std::string_view text, std::string& error) {
  std::vector<DeadlineOp> ops;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    line = line.substr(0, line.find('#'));
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);

    const auto space = line.find(' ');
    const std::string_view verb = line.substr(0, space);
    const std::string_view argument =
        space == std::string_view::npos ? std::string_view() : line.substr(line.find_first_not_of(' ', space));
    const OpName* match = nullptr;
    for (const OpName& candidate : op_names) {
      if (candidate.name == verb) match = &candidate;
    }
    if (!match) {
      error = "line " + std::to_string(line_number) + ": unknown operation \"" + std::string(verb) + "\"";
      return std::nullopt;
    }
    DeadlineOp op{.kind = match->kind};
    if (argument_width(match->kind) == 0) {
      if (!argument.empty()) {
        error = "line " + std::to_string(line_number) + ": " + std::string(verb) + " takes no argument";
        return std::nullopt;
      }
    } else if (match->kind == DeadlineOpKind::wait && argument == "max") {
      op.value = cap_max_code;
    } else {
      const auto value = parse_integer(argument);
      if (!value || *value < match->min || *value > match->max) {
        error = "line " + std::to_string(line_number) + ": " + std::string(verb) +
                " takes an integer from " + std::to_string(match->min) + " to " +
                std::to_string(match->max) + ", got \"" + std::string(argument) + "\"";
        return std::nullopt;
      }
      op.value = *value;
    }
    ops.push_back(op);
  }
  return ops;
}

void run_deadline_ops(const std::vector<DeadlineOp>& ops) {
  DeadlineCheck check;
  for (const DeadlineOp& op : ops) {
    check.apply(op);
    check.check_state();
    ++check.step;
  }
}

}  // namespace sockaction::fuzz::deadline
