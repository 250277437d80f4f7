// One accepted connection of HttpServer: reads requests, writes responses and closes gracefully.
#pragma once

#include "servers/pattern_body.hpp"
#include "servers/request_parser.hpp"
#include "servers/shared_state.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>

namespace sockaction::detail {

struct BytesRoute;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, SharedState& shared);
  ~HttpSession();

  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Registers the session with the server and reads the first request. The caller must own the
  // session through a shared_ptr.
  void start();

  // Cancels every pending operation and closes the socket. Must run on executor().
  void close_now();

  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  // Response header fields are allocated from arena_, which is released after every response.
  using ResponseFields = boost::beast::http::basic_fields<std::pmr::polymorphic_allocator<char>>;
  using PatternResponse = boost::beast::http::response<PatternBody, ResponseFields>;
  using PatternSerializer = boost::beast::http::response_serializer<PatternBody, ResponseFields>;
  using TextResponse = boost::beast::http::response<boost::beast::http::string_body>;

  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle_request();
  void prepare_pattern_response(const BytesRoute& route, bool keep_alive);
  void prepare_text_response(boost::beast::http::status status, std::string body,
                             bool keep_alive);

  void do_delay(std::chrono::milliseconds delay);
  void on_delay(boost::beast::error_code ec);

  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void release_response();

  void do_close();
  void do_drain();
  void on_drain(boost::beast::error_code ec, std::size_t bytes);
  void on_linger_timeout(boost::beast::error_code ec);

  // Reports `ec` unless it is part of a normal end: end of stream, or cancellation by stop().
  void report_unless_normal(std::string_view operation, boost::beast::error_code ec);

  SharedState& shared_;
  const std::uint64_t id_;
  const boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::socket socket_;
  // Timer for delay_ms before a response, and later for the time limit of the drain in
  // do_close().
  boost::asio::steady_timer timer_;
  bool closed_by_server_stop_ = false;

  // Reused for every request on this connection.
  boost::beast::flat_buffer buffer_;
  std::string target_;
  std::optional<RequestParser> parser_;

  // The response being written: pattern_response_ or text_response_ is set, not both.
  alignas(std::max_align_t) std::array<std::byte, 1024> arena_storage_;
  std::pmr::monotonic_buffer_resource arena_;
  std::optional<PatternResponse> pattern_response_;
  std::optional<PatternSerializer> pattern_serializer_;
  std::optional<TextResponse> text_response_;
  // True when only the header is written: for HEAD requests and for abort_after=0.
  bool header_only_ = false;
  // True when the body stops at abort_after and the connection closes after the write.
  bool aborts_ = false;
  // True when the connection stays open for another request after this response.
  bool keep_alive_ = true;
};

}  // namespace sockaction::detail
