#include "backends/select_backend.hpp"

#include <cerrno>

namespace sockaction {

std::error_code SelectBackend::watch(int fd, Interest interest) {
  if (fd < 0 || fd >= FD_SETSIZE) return std::make_error_code(std::errc::value_too_large);
  watched_[fd] = interest;
  return {};
}

std::error_code SelectBackend::unwatch(int fd) {
  watched_.erase(fd);
  return {};
}

std::error_code SelectBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  // Socket errors show up as readable or writable in select(2). Its exceptfds set reports TCP
  // urgent data only, which libcurl never requests, so it is not used.
  fd_set readable, writable;
  FD_ZERO(&readable);
  FD_ZERO(&writable);
  for (const auto& [fd, interest] : watched_) {
    if (wants_read(interest)) FD_SET(fd, &readable);
    if (wants_write(interest)) FD_SET(fd, &writable);
  }
  const int nfds = watched_.empty() ? 0 : watched_.rbegin()->first + 1;
  timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};

  ++counters_.waits;
  ++counters_.system_calls;
  const int count = select(nfds, &readable, &writable, nullptr, timeout_ms < 0 ? nullptr : &timeout);
  if (count < 0) {
    if (errno == EINTR) return {};
    return {errno, std::generic_category()};
  }
  if (count == 0) return {};

  for (const auto& [fd, interest] : watched_) {
    int events = 0;
    if (FD_ISSET(fd, &readable)) events |= ready_read;
    if (FD_ISSET(fd, &writable)) events |= ready_write;
    if (events) ready.push_back({fd, events});
  }
  return {};
}

BackendInfo select_backend_info() {
  return {
      .name = "select",
      .loop = LoopKind::socket_action,
      .description = "select(2), level-triggered, descriptors below FD_SETSIZE",
      .descriptor_limit = FD_SETSIZE,
      .probe = [] { return Availability{true, ""}; },
      .create = [] { return std::make_unique<SelectBackend>(); },
  };
}

}  // namespace sockaction
