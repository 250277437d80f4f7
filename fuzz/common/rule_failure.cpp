#include "fuzz/common/rule_failure.hpp"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>

namespace sockaction::fuzz {

void break_rule(std::string_view target, std::string_view rule, std::uint64_t step,
                std::string_view detail, Culprit culprit) {
  std::fprintf(stderr, "%.*s: rule %.*s broken at step %llu: %.*s\n",
               static_cast<int>(target.size()), target.data(), static_cast<int>(rule.size()),
               rule.data(), static_cast<unsigned long long>(step), static_cast<int>(detail.size()),
               detail.data());
  if (culprit == Culprit::libcurl) {
    std::fprintf(stderr,
                 "%.*s: this is a fault in libcurl %s, not in sockaction; see "
                 "fuzz/KNOWN_LIBCURL_FAULTS.md\n",
                 static_cast<int>(target.size()), target.data(),
                 curl_version_info(CURLVERSION_NOW)->version);
  }
  std::fflush(stderr);
  std::abort();
}

bool trace_enabled() {
  static const bool enabled = std::getenv("SOCKACTION_FUZZ_TRACE") != nullptr;
  return enabled;
}

}  // namespace sockaction::fuzz
