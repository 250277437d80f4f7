// An HTTP request parser that keeps only what the routes need, so parsing a request stores no
// header fields and allocates nothing once the target string has grown to its usual size.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <string>

namespace sockaction::detail {

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // Stores the request target in `target`, which the session reuses for every request.
  explicit RequestParser(std::string& target) : target_(target) { target_.clear(); }

  boost::beast::http::verb method() const { return method_; }
  // 10 for HTTP/1.0, 11 for HTTP/1.1.
  unsigned version() const { return version_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method, string_view, string_view target,
                       int version, error_code&) override {
    method_ = method;
    target_.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }

  // Only called when parsing responses.
  void on_response_impl(int, string_view, int, error_code&) override {}

  // basic_parser tracks Connection and the framing fields itself (keep_alive(), chunked(),
  // content_length()), and the routes need no other field.
  void on_field_impl(boost::beast::http::field, string_view, string_view, error_code&) override {}
  void on_header_impl(error_code&) override {}

  // Request bodies are read (up to basic_parser's body limit, 1 MiB for requests) and ignored.
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  std::string& target_;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  unsigned version_ = 11;
};

}  // namespace sockaction::detail
