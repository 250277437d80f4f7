// The input of the event sequence target: which backend, which transfers, and the steps that the
// fake server and the perturbing event loop take.
//
// Binary layout (decode_scenario() reads it, encode_scenario() writes it):
//   byte 0          backend: index into the socket_action backends of the registry, modulo
//                   their number; an unavailable one is replaced by the next available one
//   byte 1          transfer count: 1 + byte % max_transfers
//   4 bytes each    transfer options: flags, more flags, timeout code, upload size code
//   steps           one kind byte (modulo step_kind_count) and its arguments, as listed at
//                   StepKind; a step cut short by the end of the input is dropped
// Every byte string at least header_size(transfers) long decodes to a scenario.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockaction::fuzz::event_sequence {

inline constexpr std::size_t max_transfers = 8;

enum class UploadKind : std::uint8_t {
  none,
  put_sized,    // CURLOPT_UPLOAD with CURLOPT_INFILESIZE_LARGE, body from the read callback
  put_chunked,  // CURLOPT_UPLOAD of unknown size: chunked request body from the read callback
  post_fields,  // CURLOPT_COPYPOSTFIELDS
};

struct TransferOptions {
  bool reuse = true;             // false sets CURLOPT_FORBID_REUSE
  UploadKind upload = UploadKind::none;
  bool timeout = false;          // sets CURLOPT_TIMEOUT_MS to timeout_ms()
  bool pause_in_write = false;   // the first write callback returns CURL_WRITEFUNC_PAUSE
  bool pause_in_read = false;    // the first read callback returns CURL_READFUNC_PAUSE
  bool head = false;             // CURLOPT_NOBODY
  bool deferred = false;         // added by an add step, or when delivery turns faithful
  bool small_buffer = false;     // CURLOPT_BUFFERSIZE 1024, so responses arrive in pieces
  bool accept_encoding = false;  // CURLOPT_ACCEPT_ENCODING "": libcurl decodes bodies
  bool fail_on_error = false;    // CURLOPT_FAILONERROR
  bool http10 = false;           // CURLOPT_HTTP_VERSION 1.0
  bool ignore_content_length = false;  // CURLOPT_IGNORE_CONTENT_LENGTH
  std::uint8_t timeout_code = 0;       // see timeout_ms()
  std::uint8_t upload_size_code = 0;   // see upload_bytes()

  long timeout_ms() const { return 5 + 4L * timeout_code; }
  std::size_t upload_bytes() const { return 64u * upload_size_code; }

  friend bool operator==(const TransferOptions&, const TransferOptions&) = default;
};

// The way a deliver step hands the events of one backend wait to curl_multi_socket_action.
enum class DeliveryMode : std::uint8_t {
  faithful,   // as SocketActionLoop does: stale events dropped, bits masked to the interest
  mask_zero,  // action with mask 0 ("events unknown")
  drop_bits,  // the reported bits minus `bits`
  add_bits,   // the reported bits plus the read/write bits of `bits`
  error,      // the reported bits plus CURL_CSELECT_ERR
  duplicate,  // every event delivered twice
  delay,      // kept back until a flush_delayed step, by when it may be stale
  skip,       // not delivered at all: a level-triggered backend reports it again later
  unchecked,  // the raw bits, without the stale-event check of the faithful mode
};
inline constexpr std::size_t delivery_mode_count = 9;

// The descriptor an inject step sends an event for.
enum class InjectTarget : std::uint8_t {
  removed,      // one libcurl announced and then removed with CURL_POLL_REMOVE
  unannounced,  // a server end: open, but never handed to libcurl
  closed,       // the number of a client socket libcurl has closed (maybe reused since)
};
inline constexpr std::size_t inject_target_count = 3;

// Canned responses for respond steps, so the fuzzer reaches complete exchanges quickly.
enum class ResponseTemplate : std::uint8_t {
  ok_length,            // 200 with Content-Length and a 5-byte body
  ok_chunked,           // 200 with a chunked body
  no_content,           // 204
  not_modified,         // 304 with a Content-Length but no body
  continue_100,         // an interim 100 Continue only
  http10_no_length,     // HTTP/1.0 200 whose body ends when the server closes
  ok_connection_close,  // 200 with Connection: close
  headers_only,         // 200 headers promising 100 bytes, body left to write steps
  moved,                // 301 with a Location (redirects are not followed)
  chunked_trailer,      // 200 chunked with a trailer
  unauthorized,         // 401 with WWW-Authenticate
  large_body,           // 200 with a 200 000-byte body, more than fits in a socket buffer
};
inline constexpr std::size_t response_template_count = 12;

enum class PauseDirection : std::uint8_t { recv, send, all };
inline constexpr std::size_t pause_direction_count = 3;

// Step kinds and the argument bytes each one takes after its kind byte.
enum class StepKind : std::uint8_t {
  deliver,            // mode, bits, wait_ms (byte % 16): wait on the backend, then deliver
  flush_delayed,      // (none): deliver the events a delay delivery kept back
  inject,             // target, pick, bits: an action for a descriptor chosen by target
  fire_timeout,       // count (1 + byte % 2): CURL_SOCKET_TIMEOUT now, whatever the deadline
  hold_timer,         // count (byte % 8): skip firing a passed deadline for that many steps
  server_write,       // pick, length, then length bytes: queue raw bytes for the client
  server_respond,     // pick, template: queue a canned response
  server_half_close,  // pick: shutdown(SHUT_WR) once the queued bytes are sent
  server_close,       // pick: close the server end at once, dropping queued bytes
  server_stall,       // pick: stop or resume reading what the client sends
  pause,              // pick, direction: curl_easy_pause on transfer pick % transfers
  unpause,            // pick: curl_easy_pause(CURLPAUSE_CONT)
  abort_transfer,     // pick: curl_multi_remove_handle while it is in flight
  add_transfer,       // pick: add a deferred transfer now
};
inline constexpr std::size_t step_kind_count = 14;

struct Step {
  StepKind kind = StepKind::deliver;
  DeliveryMode mode = DeliveryMode::faithful;
  InjectTarget target = InjectTarget::removed;
  ResponseTemplate response = ResponseTemplate::ok_length;
  PauseDirection direction = PauseDirection::recv;
  std::uint8_t pick = 0;     // connection or transfer (modulo the live ones) or descriptor
  std::uint8_t bits = 0;     // CURL_CSELECT_* bits for drop_bits, add_bits and inject
  std::uint8_t wait_ms = 0;  // deliver: how long the backend wait may block (below 16)
  std::uint8_t count = 0;    // fire_timeout: actions in a row; hold_timer: steps
  std::string data;          // server_write: the bytes, at most 255

  friend bool operator==(const Step&, const Step&) = default;
};

struct Scenario {
  std::uint8_t backend = 0;
  std::vector<TransferOptions> transfers;  // 1 to max_transfers
  std::vector<Step> steps;

  friend bool operator==(const Scenario&, const Scenario&) = default;
};

// Decodes fuzzer input as described at the top of this file. Returns nothing when the input ends
// inside the header.
std::optional<Scenario> decode_scenario(std::span<const std::uint8_t> input);

// Encodes `scenario` so that decode_scenario() returns it unchanged. Returns nothing when a field
// is out of its range (no transfers or too many, a count or wait too large, data over 255 bytes).
std::optional<std::vector<std::uint8_t>> encode_scenario(const Scenario& scenario);

// Parses the text form used by fuzz/scenarios/event_sequence/*.txt (described in
// fuzz/README.md). `backend_index` maps a backend name to the byte decode_scenario() expects.
// On failure returns nothing and sets `error` to a sentence naming the line.
std::optional<Scenario> parse_scenario_text(
    std::string_view text, std::optional<std::uint8_t> (*backend_index)(std::string_view name),
    std::string& error);

// The name text scenarios use for a template, and the bytes it sends.
std::string_view response_template_name(ResponseTemplate response);
std::string response_template_bytes(ResponseTemplate response);

}  // namespace sockaction::fuzz::event_sequence
