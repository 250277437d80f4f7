// Deterministic response bodies shared by the servers that generate them and the driver that
// checks them. Byte i of every generated body is pattern_byte(i), so any size can be served as
// slices of one buffer and verified without storing the expected body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sockaction {

// Length of one period of the pattern. A prime, so the pattern never lines up with the
// power-of-two read and write sizes of sockets and libcurl's buffers.
inline constexpr std::size_t pattern_period = 65521;

// Two periods of the pattern back to back: a slice of up to pattern_period bytes that starts at
// any offset below pattern_period is contiguous here.
std::span<const std::byte> pattern_buffer();

// Byte `offset` of a generated body.
std::byte pattern_byte(std::uint64_t offset);

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start). Uses SSE4.2 where the CPU
// has it, a table otherwise; both give the same value.
std::uint32_t crc32c_update(std::uint32_t crc, std::span<const std::byte> data);

// CRC-32C of the first `size` bytes of the pattern, cached per size.
std::uint32_t pattern_crc32c(std::uint64_t size);

}  // namespace sockaction
