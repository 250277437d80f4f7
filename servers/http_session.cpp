#include "servers/http_session.hpp"

#include "servers/route.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <string>
#include <tuple>
#include <utility>

namespace sockaction::detail {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How long a closing connection waits for the client to close its side. Closing a socket whose
// receive queue still contains data sends RST, which can make the client drop the end of the last
// response, so the session reads and discards until EOF for at most this long.
constexpr std::chrono::milliseconds linger_timeout{1000};

constexpr std::size_t drain_read_size = 4096;

bool is_request_syntax_error(beast::error_code ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

HttpSession::HttpSession(tcp::socket socket, SharedState& shared)
    : shared_(shared),
      id_(shared.next_connection_id()),
      executor_(socket.get_executor()),
      socket_(std::move(socket)),
      timer_(executor_),
      arena_(arena_storage_.data(), arena_storage_.size()) {}

HttpSession::~HttpSession() { shared_.unregister_session(this); }

void HttpSession::start() {
  if (!shared_.register_session(this)) return;  // the server is stopping
  do_read();
}

void HttpSession::close_now() {
  closed_by_server_stop_ = true;
  timer_.cancel();
  beast::error_code ignored;
  socket_.close(ignored);
}

//------------------------------------------------------------------------------------------------
// Reading a request

void HttpSession::do_read() {
  parser_.emplace(target_);
  http::async_read(socket_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) {
    do_close();
    return;
  }
  if (ec && is_request_syntax_error(ec)) {
    report_unless_normal("read request", ec);
    prepare_text_response(http::status::bad_request, "malformed request: " + ec.message() + "\n",
                          false);
    do_write();
    return;
  }
  if (ec) {
    report_unless_normal("read request", ec);
    return;
  }
  handle_request();
}

void HttpSession::handle_request() {
  const auto method = parser_->method();
  const bool keep_alive = parser_->keep_alive();

  if (method != http::verb::get && method != http::verb::head) {
    prepare_text_response(http::status::method_not_allowed,
                          "method not allowed: this server answers GET and HEAD\n", keep_alive);
    text_response_->set(http::field::allow, "GET, HEAD");
    do_write();
    return;
  }

  auto route = parse_route(target_);
  if (route.status == http::status::ok && route.bytes.chunked && parser_->version() < 11) {
    route.status = http::status::bad_request;
    route.message = "chunked=1 needs HTTP/1.1: HTTP/1.0 has no chunked transfer coding\n";
  }
  if (route.status != http::status::ok) {
    prepare_text_response(route.status, std::move(route.message), keep_alive);
    do_write();
    return;
  }

  prepare_pattern_response(route.bytes, keep_alive);
  if (route.bytes.delay.count() > 0) {
    do_delay(route.bytes.delay);
  } else {
    do_write();
  }
}

void HttpSession::prepare_pattern_response(const BytesRoute& route, bool keep_alive) {
  const bool head = parser_->method() == http::verb::head;
  // A HEAD response carries no body, so abort_after has nothing to cut.
  aborts_ = route.abort_after.has_value() && !head;
  header_only_ = head || (aborts_ && *route.abort_after == 0);
  keep_alive_ = keep_alive && !route.close && !aborts_;

  PatternBody::value_type body;
  body.size = head ? 0 : route.size;
  body.abort_after = route.abort_after;
  pattern_response_.emplace(std::piecewise_construct, std::make_tuple(body),
                            std::make_tuple(std::pmr::polymorphic_allocator<char>(&arena_)));

  auto& response = *pattern_response_;
  response.result(http::status::ok);
  response.version(parser_->version());
  response.set(http::field::content_type, "application/octet-stream");
  if (route.chunked) {
    response.chunked(true);
  } else {
    response.content_length(route.size);
  }
  // An aborted response does not announce the close: to the client it looks like a connection
  // that broke in the middle of the body.
  response.keep_alive(keep_alive && !route.close);
}

void HttpSession::prepare_text_response(http::status status, std::string body, bool keep_alive) {
  header_only_ = parser_ && parser_->method() == http::verb::head;
  aborts_ = false;
  keep_alive_ = keep_alive;

  text_response_.emplace(status, parser_ ? parser_->version() : 11);
  auto& response = *text_response_;
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::move(body);
  response.prepare_payload();
  if (header_only_) response.body().clear();
  response.keep_alive(keep_alive);
}

//------------------------------------------------------------------------------------------------
// Delaying and writing the response

void HttpSession::do_delay(std::chrono::milliseconds delay) {
  timer_.expires_after(delay);
  timer_.async_wait(beast::bind_front_handler(&HttpSession::on_delay, shared_from_this()));
}

void HttpSession::on_delay(beast::error_code ec) {
  if (ec) {
    report_unless_normal("wait for delay_ms", ec);
    return;
  }
  do_write();
}

void HttpSession::do_write() {
  auto handler = beast::bind_front_handler(&HttpSession::on_write, shared_from_this());
  if (text_response_) {
    http::async_write(socket_, *text_response_, std::move(handler));
    return;
  }
  pattern_serializer_.emplace(*pattern_response_);
  if (header_only_) {
    http::async_write_header(socket_, *pattern_serializer_, std::move(handler));
  } else {
    http::async_write(socket_, *pattern_serializer_, std::move(handler));
  }
}

void HttpSession::on_write(beast::error_code ec, std::size_t) {
  // An abort_after response ends with pattern_body_error::aborted, or without error when only
  // the header was to be sent.
  const bool aborted_as_requested = aborts_ && (!ec || ec == pattern_body_error::aborted);
  if (ec && !aborted_as_requested) {
    report_unless_normal("write response", ec);
    return;
  }
  shared_.count_response();
  release_response();

  if (!keep_alive_) {
    do_close();
    return;
  }
  do_read();
}

void HttpSession::release_response() {
  pattern_serializer_.reset();
  pattern_response_.reset();
  text_response_.reset();
  arena_.release();
}

//------------------------------------------------------------------------------------------------
// Graceful close: send FIN, then discard input until the client closes or linger_timeout passes.

void HttpSession::do_close() {
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    // Typically ENOTCONN after the client reset the connection: nothing is left to drain.
    socket_.close(ec);
    return;
  }
  timer_.expires_after(linger_timeout);
  timer_.async_wait(beast::bind_front_handler(&HttpSession::on_linger_timeout, shared_from_this()));
  do_drain();
}

void HttpSession::do_drain() {
  buffer_.clear();
  socket_.async_read_some(buffer_.prepare(drain_read_size),
                          beast::bind_front_handler(&HttpSession::on_drain, shared_from_this()));
}

void HttpSession::on_drain(beast::error_code ec, std::size_t) {
  if (!ec) {
    do_drain();
    return;
  }
  timer_.cancel();
  socket_.close(ec);
}

void HttpSession::on_linger_timeout(beast::error_code ec) {
  if (ec == asio::error::operation_aborted) return;
  socket_.close(ec);  // completes the pending drain read with operation_aborted
}

//------------------------------------------------------------------------------------------------

void HttpSession::report_unless_normal(std::string_view operation, beast::error_code ec) {
  if (closed_by_server_stop_ || ec == asio::error::operation_aborted || ec == asio::error::eof ||
      ec == http::error::end_of_stream) {
    return;
  }
  std::string message = "connection ";
  message += std::to_string(id_);
  message += ": ";
  message += operation;
  message += " failed: ";
  message += ec.message();
  shared_.report_error(message);
}

}  // namespace sockaction::detail
