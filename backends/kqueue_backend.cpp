#include "backends/kqueue_backend.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sockaction {
namespace {

// Events one kevent() returns at most, besides the changelist errors it may report. More ready
// sockets are reported on the next turn, because level-triggered filters stay active.
constexpr std::size_t max_events_per_wait = 1024;

// Ready bits of one returned filter. EV_EOF marks a socket whose peer has closed, and fflags then
// contains the socket error, if there is one.
int to_ready_bits(const struct kevent& event) {
  int bits = 0;
  if (event.filter == EVFILT_READ) bits |= ready_read;
  if (event.filter == EVFILT_WRITE) bits |= ready_write;
  if (event.flags & EV_EOF) {
    bits |= ready_read;
    if (event.fflags != 0) bits |= ready_error;
  }
  return bits;
}

int open_kqueue() {
  const int fd = kqueue();
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

}  // namespace

KqueueBackend::KqueueBackend() {
  kqueue_fd_ = open_kqueue();
  if (kqueue_fd_ < 0) throw std::system_error(errno, std::generic_category(), "kqueue");
}

KqueueBackend::~KqueueBackend() { close(kqueue_fd_); }

// Fields are set one by one rather than with EV_SET, whose FreeBSD version is a C compound
// literal, and whose field types differ between the BSDs (NetBSD's filter is unsigned).
void KqueueBackend::queue_change(int fd, int filter, unsigned flags) {
  struct kevent change{};
  change.ident = static_cast<uintptr_t>(fd);
  change.filter = static_cast<decltype(change.filter)>(filter);
  change.flags = static_cast<decltype(change.flags)>(flags);
  changes_.push_back(change);
}

std::error_code KqueueBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  auto [it, inserted] = watched_.try_emplace(fd, interest);
  const bool had_read = !inserted && wants_read(it->second);
  const bool had_write = !inserted && wants_write(it->second);
  it->second = interest;

  // EV_ADD of a filter that exists only updates it, so it is queued again for an unchanged
  // direction. That also registers the filter anew for a socket that reused the number of one
  // closed without unwatch(), since close() drops the old socket's filters.
  if (wants_read(interest)) {
    queue_change(fd, EVFILT_READ, EV_ADD);
  } else if (had_read) {
    queue_change(fd, EVFILT_READ, EV_DELETE);
  }
  if (wants_write(interest)) {
    queue_change(fd, EVFILT_WRITE, EV_ADD);
  } else if (had_write) {
    queue_change(fd, EVFILT_WRITE, EV_DELETE);
  }
  return {};
}

std::error_code KqueueBackend::unwatch(int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return {};
  // libcurl closes the socket before the next wait() applies these deletes. close() has then
  // dropped the filters already, and the deletes fail with ENOENT or EBADF, which wait() ignores.
  if (wants_read(it->second)) queue_change(fd, EVFILT_READ, EV_DELETE);
  if (wants_write(it->second)) queue_change(fd, EVFILT_WRITE, EV_DELETE);
  watched_.erase(it);
  return {};
}

void KqueueBackend::add_ready(int fd, int bits, std::vector<ReadyEvent>& ready) {
  auto [entry, inserted] = ready_index_.try_emplace(fd, ready.size());
  if (inserted) {
    ready.push_back({fd, bits});
  } else {
    ready[entry->second].events |= bits;
  }
}

std::error_code KqueueBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  // kevent() reports a failed change in the event list when there is room and fails the whole
  // call when there is none, so the list has one entry per change besides the events.
  events_.resize(changes_.size() + max_events_per_wait);
  timespec timeout{};
  timeout.tv_sec = timeout_ms / 1000;
  timeout.tv_nsec = static_cast<long>(timeout_ms % 1000) * 1'000'000L;

  ++counters_.system_calls;
  const int count =
      kevent(kqueue_fd_, changes_.data(), static_cast<int>(changes_.size()), events_.data(),
             static_cast<int>(events_.size()), timeout_ms < 0 ? nullptr : &timeout);
  const int saved_errno = errno;
  // After success or EINTR the kernel has applied every change.
  // NOTE: after another failure it may have applied only some. The rest are dropped all the same.
  changes_.clear();
  if (count < 0) {
    if (saved_errno == EINTR) return {};
    return {saved_errno, std::generic_category()};
  }

  ready_index_.clear();
  for (int i = 0; i < count; ++i) {
    const struct kevent& event = events_[static_cast<std::size_t>(i)];
    const int fd = static_cast<int>(event.ident);
    if ((event.flags & EV_ERROR) == 0) {
      add_ready(fd, to_ready_bits(event), ready);
      continue;
    }
    // A change failed. FreeBSD then returns only the failures, without waiting for events, so
    // the driver simply waits again. ENOENT comes from deleting a filter that close() dropped.
    const int error = static_cast<int>(event.data);
    if (error == 0 || error == ENOENT) continue;
    auto it = watched_.find(fd);
    const bool wanted = it != watched_.end() && (event.filter == EVFILT_READ
                                                     ? wants_read(it->second)
                                                     : wants_write(it->second));
    // A failed add for a direction still watched (EBADF: libcurl's socket is gone) goes to
    // libcurl as an error. Anything else is a delete, or an add for a socket unwatched since,
    // and needs nothing more.
    if (wanted) add_ready(fd, ready_error, ready);
  }
  return {};
}

BackendInfo kqueue_backend_info() {
  return {
      .name = "kqueue",
      .loop = LoopKind::socket_action,
      .description = "kqueue(2), level-triggered, changes applied by the kevent() that waits",
      .descriptor_limit = -1,
      .probe =
          [] {
            const int fd = open_kqueue();
            if (fd < 0) {
              return Availability{false, "kqueue() failed: " +
                                             std::error_code(errno, std::generic_category()).message()};
            }
            close(fd);
            return Availability{true, ""};
          },
      .create = [] { return std::make_unique<KqueueBackend>(); },
  };
}

}  // namespace sockaction
