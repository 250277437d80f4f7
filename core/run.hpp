// Runs a workload through one backend and returns what it measured.
#pragma once

#include "backends/registry.hpp"
#include "core/run_stats.hpp"
#include "core/workload.hpp"

#include <chrono>
#include <cstdio>

namespace sockaction {

struct DriverOptions {
  // Passes 0 ("events unknown") to curl_multi_socket_action instead of the ready bits, as a loop
  // that cannot tell reading from writing would. libcurl must then find out by itself.
  bool unknown_event_mask = false;
  // Receives one line per callback, action and wakeup when set. Off by default; the cost when off
  // is one pointer test per event.
  std::FILE* trace = nullptr;
  // Wall-clock bound of the whole run; the run stops with a fatal error when it passes.
  std::chrono::milliseconds run_limit{120'000};
};

// Runs `spec` through `backend`. When the backend cannot be created or fails during the run,
// returns stats with fatal_error set. Throws std::invalid_argument for an invalid spec.
RunStats run_workload(const BackendInfo& backend, const WorkloadSpec& spec,
                      const DriverOptions& options = {});

}  // namespace sockaction
