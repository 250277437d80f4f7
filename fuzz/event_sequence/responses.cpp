#include "fuzz/event_sequence/scenario.hpp"

#include <array>

namespace sockaction::fuzz::event_sequence {
namespace {

constexpr std::size_t large_body_bytes = 200'000;

struct TemplateEntry {
  std::string_view name;
  std::string_view bytes;  // empty for large_body, which is generated
};

constexpr std::array<TemplateEntry, response_template_count> templates = {{
    {"200-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
    {"200-chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"},
    {"204", "HTTP/1.1 204 No Content\r\n\r\n"},
    {"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n"},
    {"100-continue", "HTTP/1.1 100 Continue\r\n\r\n"},
    {"http1.0-no-length", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"},
    {"200-connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"},
    {"200-headers-only", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"},
    {"301", "HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"},
    {"200-chunked-trailer",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\n"
     "X-Sum: 1\r\n\r\n"},
    {"401",
     "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n"},
    {"200-large", ""},
}};

std::string large_body_response() {
  std::string response = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(large_body_bytes) +
                         "\r\n\r\n";
  response.reserve(response.size() + large_body_bytes);
  for (std::size_t i = 0; i < large_body_bytes; ++i) {
    response.push_back(static_cast<char>('a' + i % 26));
  }
  return response;
}

}  // namespace

std::string_view response_template_name(ResponseTemplate response) {
  return templates[static_cast<std::size_t>(response)].name;
}

std::string response_template_bytes(ResponseTemplate response) {
  if (response == ResponseTemplate::large_body) {
    static const std::string large = large_body_response();
    return large;
  }
  return std::string(templates[static_cast<std::size_t>(response)].bytes);
}

}  // namespace sockaction::fuzz::event_sequence
