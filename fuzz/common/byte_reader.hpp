// Sequential reads from a fuzzer input. A read past the end returns nothing, so a decoder can
// stop at the first incomplete field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sockaction::fuzz {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> data) : data_(data) {}

  bool empty() const { return position_ >= data_.size(); }
  std::size_t remaining() const { return data_.size() - position_; }

  std::optional<std::uint8_t> byte() {
    if (empty()) return std::nullopt;
    return data_[position_++];
  }

  // The next `count` bytes, or nothing (and no bytes consumed) when fewer remain.
  std::optional<std::string> bytes(std::size_t count) {
    if (remaining() < count) return std::nullopt;
    std::string out(reinterpret_cast<const char*>(data_.data() + position_), count);
    position_ += count;
    return out;
  }

  // A little-endian unsigned integer of `width` bytes (at most 8), or nothing when fewer remain.
  std::optional<std::uint64_t> little_endian(std::size_t width) {
    if (remaining() < width) return std::nullopt;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) {
      value |= static_cast<std::uint64_t>(data_[position_ + i]) << (8 * i);
    }
    position_ += width;
    return value;
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t position_ = 0;
};

}  // namespace sockaction::fuzz
