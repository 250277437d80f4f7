// Extra coverage features from what libcurl did, for libFuzzer. The distribution's libcurl has
// no coverage instrumentation, so without these the fuzzer could not tell two inputs apart that
// run the same harness code but end in different libcurl results.
#pragma once

#include <cstdint>

namespace sockaction::fuzz {

enum class FeatureKind : std::uint32_t {
  transfer_result = 1,   // value: the CURLcode of a finished transfer
  response_code,         // value: its HTTP status
  socket_callback,       // value: CURL_POLL_* value
  socket_transition,     // value: previous and current CURL_POLL_* value of one descriptor
  timer_callback,        // value: a bucket of the timeout in ms
  progress_free_wakeups, // value: how many the faithful phase had
};

// Counts one occurrence of (kind, value) in libFuzzer's extra counters section
// (__libfuzzer_extra_counters), which libFuzzer clears before each input and reads after it.
// In builds without libFuzzer the counters are an ordinary array that nothing reads.
void note_feature(FeatureKind kind, std::uint32_t value);

}  // namespace sockaction::fuzz
