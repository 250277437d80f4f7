#include "core/workload.hpp"

#include "core/body_pattern.hpp"
#include "core/curl_handles.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sockaction {

void ensure_curl_global_init() {
  static const bool initialized = [] {
    if (CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
      std::fprintf(stderr, "sockaction: curl_global_init failed: %s\n", curl_easy_strerror(code));
      std::abort();
    }
    return true;
  }();
  (void)initialized;
}

void check_transfer(const WorkloadSpec& spec, TransferResult& result) {
  result.ok = false;
  if (result.code != CURLE_OK) {
    result.error = std::string("transfer failed: ") + curl_easy_strerror(result.code);
  } else if (result.status != spec.expected_status) {
    result.error = "HTTP status " + std::to_string(result.status) + ", expected " +
                   std::to_string(spec.expected_status);
  } else if (spec.expected_bytes && result.bytes != *spec.expected_bytes) {
    result.error = "received " + std::to_string(result.bytes) + " body bytes, expected " +
                   std::to_string(*spec.expected_bytes);
  } else if (spec.expect_pattern_body && spec.expected_bytes &&
             result.crc32c != pattern_crc32c(*spec.expected_bytes)) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "body CRC-32C %08x, expected %08x", result.crc32c,
                  pattern_crc32c(*spec.expected_bytes));
    result.error = buffer;
  } else {
    result.ok = true;
    result.error.clear();
  }
}

std::optional<std::string> validate_workload(const WorkloadSpec& spec) {
  if (spec.concurrency <= 0) {
    return "invalid concurrency " + std::to_string(spec.concurrency) +
           ": it must be at least 1";
  }
  if (spec.transfers == 0) return std::string("invalid transfer count 0: it must be at least 1");
  if (spec.timeout_ms < 0) {
    return "invalid timeout " + std::to_string(spec.timeout_ms) + " ms: use 0 for none";
  }

  ensure_curl_global_init();
  UrlHandle url(curl_url());
  if (!url) return std::string("curl_url failed (out of memory?)");
  if (CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, spec.url.c_str(), 0);
      code != CURLUE_OK) {
    return "invalid URL \"" + spec.url + "\": " + curl_url_strerror(code) +
           "; give an absolute http:// or https:// URL";
  }
  char* scheme = nullptr;
  curl_url_get(url.get(), CURLUPART_SCHEME, &scheme, 0);
  const std::string scheme_text = scheme ? scheme : "";
  curl_free(scheme);
  if (scheme_text != "http" && scheme_text != "https") {
    return "invalid URL \"" + spec.url + "\": scheme \"" + scheme_text +
           "\" is not supported; give an http:// or https:// URL";
  }
  return std::nullopt;
}

}  // namespace sockaction
