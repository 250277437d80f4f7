#include "backends/epoll_backend.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sockaction {
namespace {

// Events one epoll_wait returns at most; more ready sockets are reported on the next turn,
// because level-triggered epoll keeps them ready.
constexpr int max_events_per_wait = 1024;

std::uint32_t to_epoll_events(Interest interest) {
  std::uint32_t events = 0;
  if (wants_read(interest)) events |= EPOLLIN;
  if (wants_write(interest)) events |= EPOLLOUT;
  return events;
}

int to_ready_bits(std::uint32_t events) {
  int bits = 0;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) bits |= ready_read;
  if (events & EPOLLOUT) bits |= ready_write;
  if (events & EPOLLERR) bits |= ready_error;
  return bits;
}

}  // namespace

EpollBackend::EpollBackend() : events_(max_events_per_wait) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

EpollBackend::~EpollBackend() { close(epoll_fd_); }

std::error_code EpollBackend::watch(int fd, Interest interest) {
  epoll_event event{};
  event.events = to_epoll_events(interest);
  event.data.fd = fd;
  auto it = watched_.find(fd);
  const int operation = it == watched_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (it != watched_.end() && it->second == interest) return {};

  ++counters_.system_calls;
  if (epoll_ctl(epoll_fd_, operation, fd, &event) != 0) {
    // The kernel drops a closed descriptor from the set by itself. If libcurl closed a socket
    // without CURL_POLL_REMOVE and the number came back, MOD finds nothing: add it anew.
    if (errno != ENOENT || operation != EPOLL_CTL_MOD) return {errno, std::generic_category()};
    ++counters_.system_calls;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return {errno, std::generic_category()};
  }
  watched_[fd] = interest;
  return {};
}

std::error_code EpollBackend::unwatch(int fd) {
  if (watched_.erase(fd) == 0) return {};
  ++counters_.system_calls;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) {
    // Already closed (EBADF) or dropped by the kernel at close (ENOENT): nothing left to do.
    if (errno == EBADF || errno == ENOENT) return {};
    return {errno, std::generic_category()};
  }
  return {};
}

std::error_code EpollBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  ++counters_.system_calls;
  const int count = epoll_wait(epoll_fd_, events_.data(), max_events_per_wait, timeout_ms);
  if (count < 0) {
    if (errno == EINTR) return {};
    return {errno, std::generic_category()};
  }
  for (int i = 0; i < count; ++i) {
    ready.push_back({events_[i].data.fd, to_ready_bits(events_[i].events)});
  }
  return {};
}

BackendInfo epoll_backend_info() {
  return {
      .name = "epoll",
      .loop = LoopKind::socket_action,
      .description = "epoll(7), level-triggered",
      .descriptor_limit = -1,
      .probe =
          [] {
            const int fd = epoll_create1(EPOLL_CLOEXEC);
            if (fd < 0) {
              return Availability{false, "epoll_create1 failed: " +
                                             std::error_code(errno, std::generic_category()).message()};
            }
            close(fd);
            return Availability{true, ""};
          },
      .create = [] { return std::make_unique<EpollBackend>(); },
  };
}

}  // namespace sockaction
