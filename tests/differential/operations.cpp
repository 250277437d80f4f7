// Operation sequences: names, fuzzer decoding, seeded generation, and the text form.

#include "tests/differential/differential.hpp"

#include <array>
#include <charconv>
#include <random>

namespace sockaction::differential {
namespace {

constexpr std::array<std::string_view, op_kind_count> kind_names = {
    "watch_read",          "watch_write",       "watch_read_write",     "unwatch",
    "peer_write",          "peer_read_all",     "local_write_fill",     "local_read_all",
    "peer_shutdown_write", "peer_close",        "local_shutdown_write", "close_and_reuse",
    "close_unwatched_and_reuse", "same_turn",
};

// Largest byte count decode_operations() gives a peer_write. The peer's send buffer is small
// (see socket_pool.cpp), so larger writes would stop at EAGAIN anyway.
constexpr std::uint16_t max_decoded_write = 16384;

// Relative frequency of each kind in random_operations(), indexed by OpKind. Watches dominate
// because most readiness changes only matter while the fd is watched. Hangups and closes are rare
// so that a slot spends most of a sequence connected. same_turn is common enough that runs of
// several changes within one loop turn occur in most sequences.
constexpr std::array<unsigned, op_kind_count> kind_weights = {
    10, 8, 8, 6,  // watch_read, watch_write, watch_read_write, unwatch
    14, 6, 6, 8,  // peer_write, peer_read_all, local_write_fill, local_read_all
    2, 2, 2, 5,   // peer_shutdown_write, peer_close, local_shutdown_write, close_and_reuse
    3, 10,        // close_unwatched_and_reuse, same_turn
};

OpKind weighted_kind(std::uint64_t draw) {
  unsigned total = 0;
  for (unsigned weight : kind_weights) total += weight;
  unsigned position = static_cast<unsigned>(draw % total);
  for (std::size_t i = 0; i < op_kind_count; ++i) {
    if (position < kind_weights[i]) return static_cast<OpKind>(i);
    position -= kind_weights[i];
  }
  return OpKind::watch_read;  // unreachable: position < total
}

std::optional<OpKind> kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < op_kind_count; ++i) {
    if (kind_names[i] == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

// Splits `line` at spaces and tabs, dropping empty fields.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t position = 0;
  while (position < line.size()) {
    const std::size_t start = line.find_first_not_of(" \t\r", position);
    if (start == std::string_view::npos) break;
    std::size_t end = line.find_first_of(" \t\r", start);
    if (end == std::string_view::npos) end = line.size();
    fields.push_back(line.substr(start, end - start));
    position = end;
  }
  return fields;
}

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
  Number number{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

}  // namespace

std::string_view op_kind_name(OpKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < op_kind_count ? kind_names[index] : std::string_view("invalid");
}

std::vector<Operation> decode_operations(std::span<const std::uint8_t> bytes) {
  std::vector<Operation> ops;
  std::size_t position = 0;
  while (position + 2 <= bytes.size()) {
    Operation op;
    op.kind = static_cast<OpKind>(bytes[position] % op_kind_count);
    op.slot = op.kind == OpKind::same_turn ? 0 : static_cast<std::uint8_t>(bytes[position + 1] % pool_size);
    position += 2;
    if (op.kind == OpKind::peer_write) {
      if (position + 2 > bytes.size()) break;
      const unsigned raw = bytes[position] | (bytes[position + 1] << 8);
      op.value = static_cast<std::uint16_t>(raw % max_decoded_write + 1);
      position += 2;
    }
    ops.push_back(op);
  }
  return ops;
}

std::vector<Operation> random_operations(std::uint64_t seed, std::size_t count) {
  // std::mt19937_64's output is fixed by the standard, unlike the distributions, so the draws
  // are reduced by hand.
  std::mt19937_64 generator(seed);
  std::vector<Operation> ops;
  ops.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Operation op;
    op.kind = weighted_kind(generator());
    // Three ops in four go to slots 0-3, so that each of those slots gets enough operations in a
    // short sequence for its states to interact.
    const std::uint64_t slot_draw = generator();
    op.slot = static_cast<std::uint8_t>(slot_draw % 4 != 0 ? (slot_draw >> 8) % 4 : (slot_draw >> 8) % pool_size);
    if (op.kind == OpKind::same_turn) op.slot = 0;
    if (op.kind == OpKind::peer_write) {
      // Mostly small writes, which leave the receive queue short, and sometimes large ones.
      const std::uint64_t size_draw = generator();
      op.value = static_cast<std::uint16_t>(size_draw % 8 != 0 ? 1 + (size_draw >> 8) % 64
                                                               : 1 + (size_draw >> 8) % max_decoded_write);
    }
    ops.push_back(op);
  }
  return ops;
}

std::string format_operations(std::span<const Operation> ops) {
  std::string text;
  for (const Operation& op : ops) {
    text += op_kind_name(op.kind);
    text += ' ';
    text += std::to_string(op.slot);
    if (op.kind == OpKind::peer_write || op.value != 0) {
      text += ' ';
      text += std::to_string(op.value);
    }
    text += '\n';
  }
  return text;
}

std::optional<std::vector<Operation>> parse_operations(std::string_view text) {
  std::vector<Operation> ops;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

    const std::vector<std::string_view> fields = split_fields(line);
    if (fields.empty() || fields[0].starts_with('#')) continue;
    if (fields.size() < 2 || fields.size() > 3) return std::nullopt;

    const std::optional<OpKind> kind = kind_from_name(fields[0]);
    const std::optional<unsigned> slot = parse_number<unsigned>(fields[1]);
    if (!kind || !slot || *slot >= pool_size) return std::nullopt;
    Operation op{*kind, static_cast<std::uint8_t>(*slot), 0};
    if (fields.size() == 3) {
      const std::optional<std::uint16_t> value = parse_number<std::uint16_t>(fields[2]);
      if (!value) return std::nullopt;
      op.value = *value;
    }
    ops.push_back(op);
  }
  return ops;
}

}  // namespace sockaction::differential
