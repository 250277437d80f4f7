#include "core/body_pattern.hpp"

#include <array>
#include <map>
#include <mutex>
#include <vector>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace sockaction {
namespace {

std::vector<std::byte> make_pattern_buffer() {
  // Printable characters from a 64-bit LCG (Knuth's MMIX constants), so a body dumped by
  // `curl -v` or a trace is readable and still has no short repeats.
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<std::byte> buffer(2 * pattern_period);
  std::uint64_t state = 0x5eed5eed5eed5eedULL;
  for (std::size_t i = 0; i < pattern_period; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto index = static_cast<std::size_t>(state >> 58);  // top 6 bits: 0..63
    buffer[i] = static_cast<std::byte>(alphabet[index]);
    buffer[i + pattern_period] = buffer[i];
  }
  return buffer;
}

constexpr std::uint32_t crc32c_polynomial = 0x82f63b78;  // reflected Castagnoli polynomial

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ crc32c_polynomial : c >> 1;
    table[n] = c;
  }
  return table;
}

std::uint32_t crc32c_table(std::uint32_t crc, const std::byte* data, std::size_t size) {
  static const auto table = make_crc_table();
  for (std::size_t i = 0; i < size; ++i)
    crc = table[(crc ^ static_cast<std::uint8_t>(data[i])) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                              const std::byte* data,
                                                              std::size_t size) {
  std::uint64_t value = crc;
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    __builtin_memcpy(&word, data + i, 8);
    value = _mm_crc32_u64(value, word);
  }
  auto result = static_cast<std::uint32_t>(value);
  for (; i < size; ++i) result = _mm_crc32_u8(result, static_cast<std::uint8_t>(data[i]));
  return result;
}
#endif

}  // namespace

std::span<const std::byte> pattern_buffer() {
  static const std::vector<std::byte> buffer = make_pattern_buffer();
  return buffer;
}

std::byte pattern_byte(std::uint64_t offset) {
  return pattern_buffer()[offset % pattern_period];
}

std::uint32_t crc32c_update(std::uint32_t crc, std::span<const std::byte> data) {
  crc = ~crc;
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  if (has_sse42) return ~crc32c_sse42(crc, data.data(), data.size());
#endif
  return ~crc32c_table(crc, data.data(), data.size());
}

std::uint32_t pattern_crc32c(std::uint64_t size) {
  static std::mutex mutex;
  static std::map<std::uint64_t, std::uint32_t> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(size); it != cache.end()) return it->second;

  std::uint32_t crc = 0;
  const auto buffer = pattern_buffer();
  for (std::uint64_t done = 0; done < size;) {
    const auto piece = std::min<std::uint64_t>(size - done, pattern_period);
    crc = crc32c_update(crc, buffer.subspan(done % pattern_period, piece));
    done += piece;
  }
  cache.emplace(size, crc);
  return crc;
}

}  // namespace sockaction
