// An in-process HTTP/1.1 server (Boost.Beast) for benchmarks and tests, bound to loopback.
//
// Routes (GET):
//   /bytes/N                 200 with N bytes of the body pattern (core/body_pattern.hpp)
//   query delay_ms=D         the response starts D ms after the request arrived
//   query close=1            "Connection: close", and the server closes after the response
//   query chunked=1          chunked transfer coding instead of Content-Length
//   query abort_after=K      announces N bytes, sends K < N of them, then closes the connection
//   anything else            404
// A malformed N, an unknown query parameter or value, abort_after >= N, and chunked=1 in an
// HTTP/1.0 request get 400. A method other than GET or HEAD gets 405. Both come with a one-line
// text/plain body that names the problem. HEAD gets the header that GET would get. Keep-alive follows the request: HTTP/1.1 keeps the connection open
// unless the request has "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sockaction {

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // listening address; loopback unless a caller says otherwise
  std::uint16_t port = 0;              // 0 picks an ephemeral port, read back with port()
  int threads = 1;                     // threads running the server's io_context
  // Called with a one-line description of each failed accept and of each connection that ended
  // with an error. End of stream and closes done by stop() are not errors. Runs on a server
  // thread, on several at once when threads > 1. Empty: errors are not reported.
  std::function<void(std::string_view message)> on_connection_error;
};

class HttpServer {
 public:
  // Binds, listens and starts the threads. Throws std::system_error when an option is invalid
  // or binding fails, after releasing what it opened.
  explicit HttpServer(HttpServerOptions options = {});
  // Stops the server as stop() does.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Closes the listener and every connection, then joins the threads. Idempotent.
  // Must not be called from on_connection_error, which runs on a thread that stop() joins.
  void stop();

  std::uint16_t port() const;
  // "http://ADDRESS:PORT" followed by `target`, which starts with '/'.
  std::string url(std::string_view target) const;
  // Responses sent so far, counted when their last byte was written.
  // NOTE: the count rises when the write completes on the server thread, so a client can
  // receive a response a moment before it is counted. Tests should poll rather than compare once.
  std::uint64_t responses_sent() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sockaction
