// The input of the deadline target: timer callback values and clock moves applied to
// TimerDeadline (core/deadline.hpp), checked against a model in 128-bit integers.
//
// Binary layout: a sequence of operations, each a kind byte (modulo deadline_op_count) followed
// by the argument bytes listed at DeadlineOpKind. An operation cut short by the end of the input
// is dropped, so every byte string decodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockaction::fuzz::deadline {

enum class DeadlineOpKind : std::uint8_t {
  set,         // 8 bytes, little-endian two's complement: the timer callback's long value
  advance_ms,  // 2 bytes: the clock moves on this many milliseconds (saturating at its end)
  advance_ns,  // 4 bytes: the clock moves on this many nanoseconds (saturating at its end)
  jump,        // 8 bytes: the clock reads this many ticks since its epoch, even negative
  take,        // (none): take_if_passed()
  clear,       // (none): clear()
  wait,        // 1 byte: wait_ms() with this cap, or with INT_MAX for 255
};
inline constexpr std::size_t deadline_op_count = 7;

struct DeadlineOp {
  DeadlineOpKind kind = DeadlineOpKind::take;
  std::int64_t value = 0;  // the argument, when the kind takes one

  friend bool operator==(const DeadlineOp&, const DeadlineOp&) = default;
};

std::vector<DeadlineOp> decode_deadline_ops(std::span<const std::uint8_t> input);

// Encodes `ops` so that decode_deadline_ops() returns them unchanged, or returns nothing when an
// argument does not fit its field.
std::optional<std::vector<std::uint8_t>> encode_deadline_ops(const std::vector<DeadlineOp>& ops);

// Parses one operation per line ("set 100", "advance-ms 5", "advance-ns 999999", "jump -3",
// "take", "clear", "wait 10", "wait max"); '#' starts a comment. On failure returns nothing and
// sets `error` to a sentence naming the line.
std::optional<std::vector<DeadlineOp>> parse_deadline_text(std::string_view text, std::string& error);

// Applies `ops` to a TimerDeadline and to the model, and aborts through break_rule() at the
// first disagreement or broken property.
void run_deadline_ops(const std::vector<DeadlineOp>& ops);

}  // namespace sockaction::fuzz::deadline
