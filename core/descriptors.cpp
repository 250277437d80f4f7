#include "core/descriptors.hpp"

#include <sys/resource.h>

#include <filesystem>
#include <system_error>

namespace sockaction {
namespace {

// Descriptors kept free for the process's own needs: standard streams, the backend's own
// descriptor (epoll, io_uring), the listener, report files and libcurl's resolver.
constexpr std::size_t reserved_descriptors = 64;

}  // namespace

std::size_t raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t descriptors_needed(int concurrency, bool in_process_server) {
  const auto per_transfer = in_process_server ? 2u : 1u;
  return static_cast<std::size_t>(concurrency) * per_transfer + reserved_descriptors;
}

std::optional<std::string> check_descriptor_limit(int concurrency, bool in_process_server) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  const std::size_t needed = descriptors_needed(concurrency, in_process_server);
  if (needed <= limit.rlim_cur) return std::nullopt;
  return "concurrency " + std::to_string(concurrency) + " needs about " + std::to_string(needed) +
         " descriptors, more than this process's limit of " + std::to_string(limit.rlim_cur) +
         " (ulimit -n); raise the limit with ulimit -n or lower the concurrency";
}

std::size_t count_open_descriptors() {
  std::error_code error;
  for (const char* folder : {"/proc/self/fd", "/dev/fd"}) {
    std::filesystem::directory_iterator it(folder, error);
    if (error) continue;
    std::size_t count = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(error)) ++count;
    return count - 1;  // the iterator's own descriptor is listed too
  }
  return 0;
}

}  // namespace sockaction
