// A Beast Body type whose bytes come from the shared body pattern (core/body_pattern.hpp), so a
// response of any size is written from slices of one static buffer without copying.
#pragma once

#include "core/body_pattern.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace sockaction::detail {

// Error that PatternBody's writer reports when it stops at PatternBody::value_type::abort_after.
enum class pattern_body_error { aborted = 1 };

const boost::system::error_category& pattern_body_category() noexcept;

inline boost::system::error_code make_error_code(pattern_body_error error) noexcept {
  return {static_cast<int>(error), pattern_body_category()};
}

}  // namespace sockaction::detail

template <>
struct boost::system::is_error_code_enum<sockaction::detail::pattern_body_error> : std::true_type {};

namespace sockaction::detail {

// Byte i of the body is pattern_byte(i). Writing only: the server never parses a PatternBody.
struct PatternBody {
  struct value_type {
    std::uint64_t size = 0;
    // Number of bytes after which the writer stops with pattern_body_error::aborted while the
    // header still announces `size`. Empty, or not less than size, sends the whole body.
    std::optional<std::uint64_t> abort_after;
  };

  static std::uint64_t size(const value_type& body) { return body.size; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& body)
        : end_(std::min(body.size, body.abort_after.value_or(body.size))),
          aborts_(end_ < body.size) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    // Returns the next slice of at most pattern_period bytes. With abort_after = 0 the caller
    // writes the header alone (http::async_write_header), because the serializer sends nothing
    // of a message whose first get() fails.
    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      if (position_ == end_) {
        if (aborts_) {
          ec = pattern_body_error::aborted;
        } else {
          ec = {};
        }
        return boost::none;
      }

      const auto offset = static_cast<std::size_t>(position_ % pattern_period);
      const auto length = static_cast<std::size_t>(
          std::min<std::uint64_t>(pattern_period, end_ - position_));
      position_ += length;
      ec = {};
      const auto slice = pattern_buffer().subspan(offset, length);
      // `more` stays true at the abort point, so the serializer calls get() again and gets the error.
      const bool more = position_ < end_ || aborts_;
      return {{const_buffers_type(slice.data(), slice.size()), more}};
    }

   private:
    std::uint64_t position_ = 0;
    std::uint64_t end_;
    bool aborts_;
  };
};

}  // namespace sockaction::detail
