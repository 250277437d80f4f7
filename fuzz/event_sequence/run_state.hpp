// The state every part of one event sequence run shares: the step number for messages, the
// progress counter behind the busy-loop rule, and the phase.
#pragma once

#include "fuzz/common/rule_failure.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

namespace sockaction::fuzz::event_sequence {

inline constexpr const char* target_name = "event_sequence";

struct RunState {
  std::uint64_t step = 0;
  // Incremented by every sign that libcurl moved: socket callbacks, body, header and upload
  // callbacks, finished transfers and bytes the fake server read. Timer callbacks do not count,
  // so a loop of zero timeouts shows up as progress-free.
  std::uint64_t progress = 0;
  // Set once the input is used up: from then on events are delivered as SocketActionLoop would,
  // and no step pauses a transfer.
  bool faithful = false;
  bool trace = trace_enabled();

  [[noreturn]] void fail(const char* rule, const std::string& detail,
                         Culprit culprit = Culprit::harness_or_backend) const {
    break_rule(target_name, rule, step, detail, culprit);
  }
};

// printf-style trace to stderr when SOCKACTION_FUZZ_TRACE is set.
#define SOCKACTION_FUZZ_TRACE(state, ...)                              \
  do {                                                                 \
    if ((state).trace) {                                               \
      std::fprintf(stderr, "[step %llu] ",                             \
                   static_cast<unsigned long long>((state).step));     \
      std::fprintf(stderr, __VA_ARGS__);                               \
      std::fputc('\n', stderr);                                        \
    }                                                                  \
  } while (false)

}  // namespace sockaction::fuzz::event_sequence
