// Parsing of request targets into what the server should send back.
#pragma once

#include <boost/beast/http/status.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockaction::detail {

// Largest accepted delay_ms: one hour, so the deadline cannot overflow steady_clock.
inline constexpr std::uint64_t max_delay_ms = 3'600'000;

// A valid /bytes/N request.
struct BytesRoute {
  std::uint64_t size = 0;
  std::chrono::milliseconds delay{0};
  bool close = false;
  bool chunked = false;
  // Number of body bytes sent before the connection is closed. Always less than size.
  std::optional<std::uint64_t> abort_after;
};

struct RouteResult {
  // ok, not_found or bad_request.
  boost::beast::http::status status = boost::beast::http::status::ok;
  BytesRoute bytes;  // valid when status is ok
  // Plain-text body for the error statuses, ending in a newline.
  std::string message;
};

// Parses a request target such as "/bytes/1024?chunked=1&delay_ms=5". Bad input is reported
// in the status, not thrown: an unknown path gives not_found, a malformed N or query bad_request.
RouteResult parse_route(std::string_view target);

}  // namespace sockaction::detail
