#include "fuzz/event_sequence/scenario.hpp"

#include "fuzz/common/byte_reader.hpp"

namespace sockaction::fuzz::event_sequence {
namespace {

// Bits of the first transfer flag byte.
constexpr std::uint8_t flag_reuse = 1 << 0;
constexpr int upload_shift = 1;  // bits 1 and 2: UploadKind
constexpr std::uint8_t flag_timeout = 1 << 3;
constexpr std::uint8_t flag_pause_in_write = 1 << 4;
constexpr std::uint8_t flag_pause_in_read = 1 << 5;
constexpr std::uint8_t flag_head = 1 << 6;
constexpr std::uint8_t flag_deferred = 1 << 7;
// Bits of the second transfer flag byte; bits 5 to 7 are ignored.
constexpr std::uint8_t flag_small_buffer = 1 << 0;
constexpr std::uint8_t flag_accept_encoding = 1 << 1;
constexpr std::uint8_t flag_fail_on_error = 1 << 2;
constexpr std::uint8_t flag_http10 = 1 << 3;
constexpr std::uint8_t flag_ignore_content_length = 1 << 4;

constexpr std::uint8_t max_wait_ms = 15;
constexpr std::uint8_t max_hold_steps = 7;

TransferOptions decode_transfer(std::uint8_t flags, std::uint8_t more_flags,
                                std::uint8_t timeout_code, std::uint8_t upload_size_code) {
  TransferOptions options;
  options.reuse = (flags & flag_reuse) != 0;
  options.upload = static_cast<UploadKind>((flags >> upload_shift) & 3);
  options.timeout = (flags & flag_timeout) != 0;
  options.pause_in_write = (flags & flag_pause_in_write) != 0;
  options.pause_in_read = (flags & flag_pause_in_read) != 0;
  options.head = (flags & flag_head) != 0;
  options.deferred = (flags & flag_deferred) != 0;
  options.small_buffer = (more_flags & flag_small_buffer) != 0;
  options.accept_encoding = (more_flags & flag_accept_encoding) != 0;
  options.fail_on_error = (more_flags & flag_fail_on_error) != 0;
  options.http10 = (more_flags & flag_http10) != 0;
  options.ignore_content_length = (more_flags & flag_ignore_content_length) != 0;
  options.timeout_code = timeout_code;
  options.upload_size_code = upload_size_code;
  return options;
}

void encode_transfer(const TransferOptions& options, std::vector<std::uint8_t>& out) {
  std::uint8_t flags = static_cast<std::uint8_t>(static_cast<unsigned>(options.upload) << upload_shift);
  if (options.reuse) flags |= flag_reuse;
  if (options.timeout) flags |= flag_timeout;
  if (options.pause_in_write) flags |= flag_pause_in_write;
  if (options.pause_in_read) flags |= flag_pause_in_read;
  if (options.head) flags |= flag_head;
  if (options.deferred) flags |= flag_deferred;
  std::uint8_t more_flags = 0;
  if (options.small_buffer) more_flags |= flag_small_buffer;
  if (options.accept_encoding) more_flags |= flag_accept_encoding;
  if (options.fail_on_error) more_flags |= flag_fail_on_error;
  if (options.http10) more_flags |= flag_http10;
  if (options.ignore_content_length) more_flags |= flag_ignore_content_length;
  out.insert(out.end(), {flags, more_flags, options.timeout_code, options.upload_size_code});
}

template <typename Enum>
Enum enum_from_byte(std::uint8_t byte, std::size_t count) {
  return static_cast<Enum>(byte % count);
}

// Reads the arguments of a step whose kind byte was already read. Returns nothing when the
// input ends first.
std::optional<Step> decode_step_arguments(StepKind kind, ByteReader& reader) {
  Step step;
  step.kind = kind;
  auto next = [&reader](std::uint8_t& field) {
    auto byte = reader.byte();
    if (byte) field = *byte;
    return byte.has_value();
  };
  std::uint8_t raw = 0;
  switch (kind) {
    case StepKind::deliver:
      if (!next(raw)) return std::nullopt;
      step.mode = enum_from_byte<DeliveryMode>(raw, delivery_mode_count);
      if (!next(step.bits) || !next(raw)) return std::nullopt;
      step.wait_ms = raw % (max_wait_ms + 1);
      return step;
    case StepKind::flush_delayed:
      return step;
    case StepKind::inject:
      if (!next(raw)) return std::nullopt;
      step.target = enum_from_byte<InjectTarget>(raw, inject_target_count);
      if (!next(step.pick) || !next(step.bits)) return std::nullopt;
      return step;
    case StepKind::fire_timeout:
      if (!next(raw)) return std::nullopt;
      step.count = 1 + raw % 2;
      return step;
    case StepKind::hold_timer:
      if (!next(raw)) return std::nullopt;
      step.count = raw % (max_hold_steps + 1);
      return step;
    case StepKind::server_write: {
      if (!next(step.pick) || !next(raw)) return std::nullopt;
      auto data = reader.bytes(raw);
      if (!data) return std::nullopt;
      step.data = std::move(*data);
      return step;
    }
    case StepKind::server_respond:
      if (!next(step.pick) || !next(raw)) return std::nullopt;
      step.response = enum_from_byte<ResponseTemplate>(raw, response_template_count);
      return step;
    case StepKind::pause:
      if (!next(step.pick) || !next(raw)) return std::nullopt;
      step.direction = enum_from_byte<PauseDirection>(raw, pause_direction_count);
      return step;
    case StepKind::server_half_close:
    case StepKind::server_close:
    case StepKind::server_stall:
    case StepKind::unpause:
    case StepKind::abort_transfer:
    case StepKind::add_transfer:
      if (!next(step.pick)) return std::nullopt;
      return step;
  }
  return std::nullopt;
}

bool encode_step(const Step& step, std::vector<std::uint8_t>& out) {
  out.push_back(static_cast<std::uint8_t>(step.kind));
  auto put = [&out](auto value) { out.push_back(static_cast<std::uint8_t>(value)); };
  switch (step.kind) {
    case StepKind::deliver:
      if (step.wait_ms > max_wait_ms) return false;
      put(step.mode), put(step.bits), put(step.wait_ms);
      return true;
    case StepKind::flush_delayed:
      return true;
    case StepKind::inject:
      put(step.target), put(step.pick), put(step.bits);
      return true;
    case StepKind::fire_timeout:
      if (step.count < 1 || step.count > 2) return false;
      put(step.count - 1);
      return true;
    case StepKind::hold_timer:
      if (step.count > max_hold_steps) return false;
      put(step.count);
      return true;
    case StepKind::server_write:
      if (step.data.size() > 255) return false;
      put(step.pick), put(step.data.size());
      out.insert(out.end(), step.data.begin(), step.data.end());
      return true;
    case StepKind::server_respond:
      put(step.pick), put(step.response);
      return true;
    case StepKind::pause:
      put(step.pick), put(step.direction);
      return true;
    case StepKind::server_half_close:
    case StepKind::server_close:
    case StepKind::server_stall:
    case StepKind::unpause:
    case StepKind::abort_transfer:
    case StepKind::add_transfer:
      put(step.pick);
      return true;
  }
  return false;
}

}  // namespace

std::optional<Scenario> decode_scenario(std::span<const std::uint8_t> input) {
  ByteReader reader(input);
  Scenario scenario;
  auto backend = reader.byte();
  auto count = reader.byte();
  if (!backend || !count) return std::nullopt;
  scenario.backend = *backend;
  const std::size_t transfers = 1 + *count % max_transfers;
  for (std::size_t i = 0; i < transfers; ++i) {
    auto fields = reader.bytes(4);
    if (!fields) return std::nullopt;
    const auto byte = [&fields](std::size_t at) { return static_cast<std::uint8_t>((*fields)[at]); };
    scenario.transfers.push_back(decode_transfer(byte(0), byte(1), byte(2), byte(3)));
  }
  while (auto kind_byte = reader.byte()) {
    const auto kind = enum_from_byte<StepKind>(*kind_byte, step_kind_count);
    auto step = decode_step_arguments(kind, reader);
    if (!step) break;
    scenario.steps.push_back(std::move(*step));
  }
  return scenario;
}

std::optional<std::vector<std::uint8_t>> encode_scenario(const Scenario& scenario) {
  if (scenario.transfers.empty() || scenario.transfers.size() > max_transfers) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.push_back(scenario.backend);
  out.push_back(static_cast<std::uint8_t>(scenario.transfers.size() - 1));
  for (const TransferOptions& options : scenario.transfers) encode_transfer(options, out);
  for (const Step& step : scenario.steps) {
    if (!encode_step(step, out)) return std::nullopt;
  }
  return out;
}

}  // namespace sockaction::fuzz::event_sequence
