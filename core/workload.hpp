// Workloads of N transfers in total with C in flight, and the checks of each finished transfer.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sockaction {

struct WorkloadSpec {
  std::string url;              // every transfer fetches this URL
  std::size_t transfers = 1;    // total transfers in the run
  int concurrency = 1;          // transfers in flight at once (closed loop)
  bool reuse_connections = true;  // false sets CURLOPT_FORBID_REUSE: one connection per transfer
  long timeout_ms = 0;          // CURLOPT_TIMEOUT_MS for each transfer; 0 leaves it unset
  long connect_timeout_ms = 10000;  // CURLOPT_CONNECTTIMEOUT_MS, so a lost SYN cannot stall a run
  long expected_status = 200;   // HTTP status a transfer must have to count as done
  // Body size the server promises, and whether the body is the generated pattern (so its
  // CRC-32C is checked). Unset for an external URL whose body is not known.
  std::optional<std::uint64_t> expected_bytes;
  bool expect_pattern_body = false;
};

// The outcome of one transfer, checked against the WorkloadSpec.
struct TransferResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
  long connects = 0;  // connections the transfer opened (CURLINFO_NUM_CONNECTS); 0 when reused
  std::chrono::nanoseconds latency{0};  // from curl_multi_add_handle to CURLMSG_DONE
  bool ok = false;                      // code, status, size and checksum all as expected
  std::string error;                    // why !ok, empty otherwise
};

// Checks `result` against `spec`, filling result.ok and result.error.
void check_transfer(const WorkloadSpec& spec, TransferResult& result);

// Returns a sentence naming the first invalid field of `spec`, or nothing when it is valid.
std::optional<std::string> validate_workload(const WorkloadSpec& spec);

}  // namespace sockaction
