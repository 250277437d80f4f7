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

// The epoll_event data of a registration: the fd in the low 32 bits and the registered interest
// above them, so that wait() gets the interest of each event without a lookup.
std::uint64_t to_event_data(int fd, Interest interest) {
  return static_cast<std::uint32_t>(fd) | (static_cast<std::uint64_t>(interest) << 32);
}

int fd_of(std::uint64_t data) { return static_cast<int>(static_cast<std::uint32_t>(data)); }

Interest interest_of(std::uint64_t data) { return static_cast<Interest>(data >> 32); }

// epoll reports EPOLLHUP and EPOLLERR whatever the interest, so the read bit is only set for a
// descriptor watched for reading.
int to_ready_bits(std::uint32_t events, Interest interest) {
  int bits = 0;
  if (wants_read(interest) && (events & (EPOLLIN | EPOLLHUP))) bits |= ready_read;
  if (events & EPOLLOUT) bits |= ready_write;
  // A hangup on a descriptor watched for writing only becomes the error bit, as in libcurl's own
  // Curl_socket_check (lib/select.c), so that libcurl still learns of it.
  if ((events & EPOLLERR) || (!wants_read(interest) && (events & EPOLLHUP))) bits |= ready_error;
  return bits;
}

}  // namespace

EpollBackend::EpollBackend() : events_(max_events_per_wait) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

EpollBackend::~EpollBackend() { close(epoll_fd_); }

EpollBackend::Watched* EpollBackend::find(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= watched_.size()) return nullptr;
  Watched& entry = watched_[fd];
  return entry.present ? &entry : nullptr;
}

std::error_code EpollBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  if (static_cast<std::size_t>(fd) >= watched_.size()) watched_.resize(fd + 1);
  Watched& entry = watched_[fd];
  entry.present = true;
  // A removal still pending is undone: without a closing() call in between, this is the same
  // socket, back from libcurl's connection cache.
  entry.removed = false;
  entry.wanted = interest;
  if (!entry.in_kernel || entry.registered != interest) changed_.push_back(fd);
  return {};
}

std::error_code EpollBackend::unwatch(int fd) {
  Watched* entry = find(fd);
  if (!entry) return {};
  if (entry->in_kernel && announced_.may_park(fd, entry->wanted)) {
    entry->removed = true;
    return {};
  }
  return drop(fd, *entry);
}

void EpollBackend::opened(int fd) {
  // An entry here belongs to a descriptor closed without closing(). The kernel dropped it from
  // the set at its close, so the DEL only meets ENOENT, which remove_from_kernel() accepts.
  if (Watched* entry = find(fd)) (void)drop(fd, *entry);
  announced_.add(fd);
}

void EpollBackend::closing(int fd) {
  announced_.remove(fd);
  // The kernel would drop the descriptor at close by itself, but only if no other descriptor
  // refers to the same socket, so remove it explicitly. An error here leaves nothing to undo.
  if (Watched* entry = find(fd)) (void)drop(fd, *entry);
}

std::error_code EpollBackend::drop(int fd, Watched& entry) {
  const bool in_kernel = entry.in_kernel;
  entry = {};
  return in_kernel ? remove_from_kernel(fd) : std::error_code{};
}

std::error_code EpollBackend::remove_from_kernel(int fd) {
  ++counters_.system_calls;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) {
    // Closed without closing() (EBADF), or closed and dropped from the set by the kernel
    // (ENOENT): nothing is left to remove.
    if (errno != EBADF && errno != ENOENT) return {errno, std::generic_category()};
  }
  return {};
}

std::error_code EpollBackend::register_interest(int fd, Watched& entry) {
  epoll_event event{};
  event.events = to_epoll_events(entry.wanted);
  event.data.u64 = to_event_data(fd, entry.wanted);
  const int operation = entry.in_kernel ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  ++counters_.system_calls;
  if (epoll_ctl(epoll_fd_, operation, fd, &event) != 0) {
    // A socket closed without closing() was dropped from the set by the kernel, so MOD finds
    // nothing when its number now belongs to a new socket: add that one.
    if (errno != ENOENT || operation != EPOLL_CTL_MOD) return {errno, std::generic_category()};
    ++counters_.system_calls;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return {errno, std::generic_category()};
  }
  entry.registered = entry.wanted;
  entry.in_kernel = true;
  return {};
}

std::error_code EpollBackend::apply_changes() {
  std::error_code first_error;
  for (int fd : changed_) {
    Watched* entry = find(fd);
    if (!entry) continue;  // closed, or handled by an earlier entry of changed_
    if (entry->removed || (entry->in_kernel && entry->registered == entry->wanted)) continue;
    if (std::error_code error = register_interest(fd, *entry); error && !first_error) {
      first_error = error;
    }
  }
  changed_.clear();
  return first_error;
}

std::error_code EpollBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  if (std::error_code error = apply_changes()) return error;
  ++counters_.waits;
  ++counters_.system_calls;
  const int count = epoll_wait(epoll_fd_, events_.data(), max_events_per_wait, timeout_ms);
  if (count < 0) {
    if (errno == EINTR) return {};
    return {errno, std::generic_category()};
  }
  for (int i = 0; i < count; ++i) {
    const std::uint64_t data = events_[i].data.u64;
    const int fd = fd_of(data);
    if (Watched* entry = find(fd); entry && entry->removed) {
      // Unwatched and ready: level-triggered, it would report again every turn, so it leaves
      // the set now. Not closed yet, because closing() would have erased it.
      *entry = {};
      if (std::error_code error = remove_from_kernel(fd)) return error;
      continue;
    }
    ready.push_back({fd, to_ready_bits(events_[i].events, interest_of(data))});
  }
  return {};
}

BackendInfo epoll_backend_info() {
  return {
      .name = "epoll",
      .loop = LoopKind::socket_action,
      .description = "epoll(7), level-triggered, interest changes applied before each wait",
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
