// Reporting of a broken oracle rule: one line on stderr, then abort(), which libFuzzer and the
// replay runner both treat as a crash.
#pragma once

#include <cstdint>
#include <string_view>

namespace sockaction::fuzz {

// The party that broke a rule, so the message points to where to look.
enum class Culprit {
  harness_or_backend,  // the target, its loop or a sockaction backend
  libcurl,             // libcurl broke its documented callback contract
};

// Prints "<target>: rule <rule> broken at step <step>: <detail>" and aborts. Messages for
// libcurl faults also name fuzz/KNOWN_LIBCURL_FAULTS.md and the libcurl version in use.
[[noreturn]] void break_rule(std::string_view target, std::string_view rule, std::uint64_t step,
                             std::string_view detail,
                             Culprit culprit = Culprit::harness_or_backend);

// Whether SOCKACTION_FUZZ_TRACE is set in the environment, read once per process.
bool trace_enabled();

}  // namespace sockaction::fuzz
