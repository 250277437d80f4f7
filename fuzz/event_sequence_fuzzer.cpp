// Fuzz target: libcurl driven through a sockaction backend with perturbed event delivery, against
// a fake server on socketpairs. The input format is described in event_sequence/scenario.hpp and
// the rules in fuzz/README.md.
#include "core/curl_handles.hpp"
#include "fuzz/event_sequence/scenario.hpp"
#include "fuzz/event_sequence/step_runner.hpp"

#include <csignal>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sockaction::ensure_curl_global_init();
  // A send to a socketpair whose other end is closed must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sockaction::fuzz::event_sequence;
  if (auto scenario = decode_scenario({data, size})) run_scenario(*scenario);
  return 0;
}
