#include "fuzz/common/feedback.hpp"

#include <cstddef>

namespace sockaction::fuzz {
namespace {

constexpr std::size_t counter_count = 4096;

// libFuzzer finds this array through the linker-defined __start_ and __stop_ symbols of the
// section, so the name of the section matters and the array must stay in the binary.
__attribute__((section("__libfuzzer_extra_counters"), used))
std::uint8_t counters[counter_count];

}  // namespace

void note_feature(FeatureKind kind, std::uint32_t value) {
  const std::size_t index =
      (static_cast<std::size_t>(kind) * 2654435761u + value) % counter_count;
  if (counters[index] != 0xff) ++counters[index];
}

}  // namespace sockaction::fuzz
