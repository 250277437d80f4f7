// The registry of event mechanisms in this build, available here or not.
#pragma once

#include "core/backend.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sockaction {

// The loop the driver runs for a backend.
enum class LoopKind {
  socket_action,  // the driver's curl_multi_socket_action loop waits through a Backend
  multi_poll,     // libcurl waits by itself: curl_multi_perform plus curl_multi_poll (baseline)
};

struct Availability {
  bool available = false;
  std::string reason;  // why not, when !available; empty otherwise
};

struct BackendInfo {
  std::string name;
  LoopKind loop = LoopKind::socket_action;
  std::string description;
  // Highest descriptor number plus one that the backend can watch, or -1 when it has no limit of
  // its own (select's is FD_SETSIZE).
  int descriptor_limit = -1;
  // Whether the backend can run on this machine. Backends left out of the build return the
  // reason they were left out; others probe the kernel or library at run time.
  std::function<Availability()> probe;
  // Creates an instance. Throws std::system_error when the kernel or library refuses; null for
  // the multi_poll baseline, which has no Backend object.
  std::function<std::unique_ptr<Backend>()> create;
};

// Every backend of this build, in report order, including those not available here.
const std::vector<BackendInfo>& all_backends();

// The backend called `name`, or null.
const BackendInfo* find_backend(std::string_view name);

// Comma-separated names of all_backends(), for error messages and help text.
std::string backend_names();

}  // namespace sockaction
