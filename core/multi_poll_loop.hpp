// The baseline loop: libcurl waits by itself with curl_multi_poll, and curl_multi_perform drives
// every transfer. No socket or timer callback is installed.
#pragma once

#include "core/run.hpp"

namespace sockaction {

void run_multi_poll_loop(const WorkloadSpec& spec, const DriverOptions& options, RunStats& stats);

}  // namespace sockaction
