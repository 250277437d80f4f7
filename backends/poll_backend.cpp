#include "backends/poll_backend.hpp"

#include <cerrno>

namespace sockaction {
namespace {

short to_poll_events(Interest interest) {
  short events = 0;
  if (wants_read(interest)) events |= POLLIN;
  if (wants_write(interest)) events |= POLLOUT;
  return events;
}

// `requested` is the pollfd's events field. poll(2) sets POLLHUP, POLLERR and POLLNVAL whatever
// was requested, so the read bit is only set for a descriptor watched for reading.
int to_ready_bits(short requested, short revents) {
  int events = 0;
  const bool read_requested = (requested & POLLIN) != 0;
  // POLLHUP without POLLIN still means a read would return EOF, so libcurl must read.
  if (read_requested && (revents & (POLLIN | POLLHUP))) events |= ready_read;
  if (revents & POLLOUT) events |= ready_write;
  // A hangup on a descriptor watched for writing only becomes the error bit, as in libcurl's own
  // Curl_socket_check (lib/select.c), so that libcurl still learns of it.
  if ((revents & (POLLERR | POLLNVAL)) || (!read_requested && (revents & POLLHUP))) events |= ready_error;
  return events;
}

}  // namespace

std::error_code PollBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  if (auto it = index_.find(fd); it != index_.end()) {
    fds_[it->second].events = to_poll_events(interest);
    return {};
  }
  index_.emplace(fd, fds_.size());
  fds_.push_back({fd, to_poll_events(interest), 0});
  return {};
}

std::error_code PollBackend::unwatch(int fd) {
  auto it = index_.find(fd);
  if (it == index_.end()) return {};
  // Move the last entry into the hole so the array stays dense.
  const std::size_t position = it->second;
  index_.erase(it);
  if (position != fds_.size() - 1) {
    fds_[position] = fds_.back();
    index_[fds_[position].fd] = position;
  }
  fds_.pop_back();
  return {};
}

std::error_code PollBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  ++counters_.system_calls;
  const int count = poll(fds_.data(), fds_.size(), timeout_ms);
  if (count < 0) {
    if (errno == EINTR) return {};
    return {errno, std::generic_category()};
  }
  for (const pollfd& entry : fds_) {
    if (entry.revents == 0) continue;
    ready.push_back({entry.fd, to_ready_bits(entry.events, entry.revents)});
  }
  return {};
}

BackendInfo poll_backend_info() {
  return {
      .name = "poll",
      .loop = LoopKind::socket_action,
      .description = "poll(2), level-triggered",
      .descriptor_limit = -1,
      .probe = [] { return Availability{true, ""}; },
      .create = [] { return std::make_unique<PollBackend>(); },
  };
}

}  // namespace sockaction
