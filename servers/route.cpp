#include "servers/route.hpp"

#include <charconv>

namespace sockaction::detail {
namespace {

using boost::beast::http::status;

constexpr std::string_view bytes_prefix = "/bytes/";

// Parses a whole string of decimal digits. Rejects signs, spaces, empty input and overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

RouteResult bad_request(std::string message) {
  RouteResult result;
  result.status = status::bad_request;
  result.message = std::move(message);
  result.message += '\n';
  return result;
}

std::string quoted(std::string_view text) {
  std::string result = "'";
  result += text;
  result += "'";
  return result;
}

// Parses "0" or "1" for the flag `name`. Returns an error message otherwise.
std::optional<std::string> parse_flag(std::string_view name, std::string_view value, bool& flag) {
  if (value == "0" || value == "1") {
    flag = value == "1";
    return std::nullopt;
  }
  return std::string(name) + " must be 0 or 1, got " + quoted(value);
}

// Applies one "key=value" query parameter to `route`. Returns an error message on failure.
std::optional<std::string> apply_parameter(std::string_view parameter, BytesRoute& route) {
  const auto equals = parameter.find('=');
  if (equals == std::string_view::npos) {
    return "missing value for query parameter " + quoted(parameter) + ": write it as name=value";
  }
  const auto name = parameter.substr(0, equals);
  const auto value = parameter.substr(equals + 1);

  if (name == "close") return parse_flag(name, value, route.close);
  if (name == "chunked") return parse_flag(name, value, route.chunked);

  if (name == "delay_ms") {
    const auto delay = parse_decimal(value);
    if (!delay || *delay > max_delay_ms) {
      return "delay_ms must be an integer from 0 to " + std::to_string(max_delay_ms) +
             ", got " + quoted(value);
    }
    route.delay = std::chrono::milliseconds(*delay);
    return std::nullopt;
  }

  if (name == "abort_after") {
    const auto count = parse_decimal(value);
    if (!count) {
      return "abort_after must be a non-negative integer, got " + quoted(value);
    }
    route.abort_after = *count;
    return std::nullopt;
  }

  return "unknown query parameter " + quoted(name) +
         " (known: delay_ms, close, chunked, abort_after)";
}

}  // namespace

RouteResult parse_route(std::string_view target) {
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  if (!path.starts_with(bytes_prefix)) {
    RouteResult result;
    result.status = status::not_found;
    result.message = "not found: " + std::string(path) + " (this server serves only /bytes/N)\n";
    return result;
  }

  RouteResult result;
  const auto size_text = path.substr(bytes_prefix.size());
  const auto size = parse_decimal(size_text);
  if (!size) {
    return bad_request("invalid N " + quoted(size_text) +
                       " in /bytes/N: expected a decimal byte count below 2^64");
  }
  result.bytes.size = *size;

  // Parameters are separated by '&'. Empty ones ("a=1&&b=2", a trailing '&') are skipped, and a
  // repeated parameter takes its last value.
  std::string_view rest = query;
  while (!rest.empty()) {
    const auto ampersand = rest.find('&');
    const auto parameter = rest.substr(0, ampersand);
    rest = ampersand == std::string_view::npos ? std::string_view{} : rest.substr(ampersand + 1);
    if (parameter.empty()) continue;
    if (auto error = apply_parameter(parameter, result.bytes)) return bad_request(*error);
  }

  if (result.bytes.abort_after && *result.bytes.abort_after >= result.bytes.size) {
    return bad_request("abort_after must be less than N (" + std::to_string(result.bytes.size) +
                       "), got " + std::to_string(*result.bytes.abort_after));
  }
  return result;
}

}  // namespace sockaction::detail
