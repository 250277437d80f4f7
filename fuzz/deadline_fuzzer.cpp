// Fuzz target: timer callback values and clock moves against TimerDeadline (core/deadline.hpp),
// the deadline bookkeeping of a curl_multi_socket_action loop. The input format is described in
// deadline/deadline_ops.hpp.
#include "fuzz/deadline/deadline_ops.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sockaction::fuzz::deadline;
  run_deadline_ops(decode_deadline_ops({data, size}));
  return 0;
}
