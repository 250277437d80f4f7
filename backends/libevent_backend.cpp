#include "backends/libevent_backend.hpp"
#include "backends/ready_merge.hpp"

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

namespace sockaction {

struct LibeventBackend::Watch {
  Watch() = default;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  ~Watch() {
    if (socket_event) event_free(socket_event);
  }

  event* socket_event = nullptr;
  LibeventBackend* backend = nullptr;
  int fd = -1;
  Interest interest = Interest::read;
  bool added = false;   // event_add applied and no event_del since
  bool parked = false;  // unwatched, but the event stays added until it fires or closing()
  ReadySlot ready_slot;  // merges read and write readiness seen in one wait()
};

namespace {

short to_libevent_events(Interest interest) {
  short events = EV_PERSIST;
  if (wants_read(interest)) events |= EV_READ;
  if (wants_write(interest)) events |= EV_WRITE;
  return events;
}

// libevent reports failures as -1 and leaves the cause in errno only when a system call failed.
std::error_code last_error() {
  return {errno != 0 ? errno : EIO, std::generic_category()};
}

// Creates an event_base on the platform's best method (epoll on Linux) that reads no
// EVENT_* environment variables and takes no locks, since one thread drives it.
event_base* make_event_base() {
  event_config* config = event_config_new();
  if (!config) return nullptr;
  event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  event_config_set_flag(config, EVENT_BASE_FLAG_IGNORE_ENV);
  event_base* base = event_base_new_with_config(config);
  event_config_free(config);
  return base;
}

}  // namespace

// libevent 2.1 opens a pipe for signals when it creates the event_base, but installs a signal
// handler only for a signal event, and this backend adds none.
LibeventBackend::LibeventBackend() {
  errno = 0;
  base_ = make_event_base();
  if (!base_) throw std::system_error(last_error(), "event_base_new_with_config");
  timer_ = evtimer_new(base_, &on_timer, this);
  if (!timer_) {
    event_base_free(base_);
    throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "evtimer_new");
  }
}

LibeventBackend::~LibeventBackend() {
  watched_.clear();
  event_free(timer_);
  event_base_free(base_);
}

void LibeventBackend::on_socket(evutil_socket_t, short what, void* argument) {
  Watch& watch = *static_cast<Watch*>(argument);
  if (watch.parked) {
    // An idle socket woke up, for example because the server closed it. libcurl finds out when
    // it takes the connection from its cache, and watch() then adds the event again, which
    // reports the readiness once more because libevent's epoll is level-triggered.
    watch.backend->remove(watch);
    return;
  }
  int bits = 0;
  if (what & EV_READ) bits |= ready_read;
  if (what & EV_WRITE) bits |= ready_write;
  if (bits != 0) watch.backend->report(watch, bits);
}

// EVLOOP_ONCE returns after any callback, so the timer needs no action of its own.
void LibeventBackend::on_timer(evutil_socket_t, short, void*) {}

void LibeventBackend::report(Watch& watch, int bits) {
  if (ready_) merge_ready(*ready_, watch.ready_slot, counters_.waits, watch.fd, bits);
}

// libevent 2.1's epoll backend applies each event_add and event_del at once with one epoll_ctl,
// because this event_base runs without EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST. system_calls counts
// those, and one epoll_wait per event_base_loop call.
std::error_code LibeventBackend::add(Watch& watch) {
  ++counters_.system_calls;
  errno = 0;
  if (event_add(watch.socket_event, nullptr) != 0) return last_error();
  watch.added = true;
  return {};
}

void LibeventBackend::remove(Watch& watch) {
  if (!watch.added) return;
  ++counters_.system_calls;
  event_del(watch.socket_event);
  watch.added = false;
}

std::error_code LibeventBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);

  if (auto it = watched_.find(fd); it != watched_.end()) {
    Watch& watch = *it->second;
    // A parked event belongs to this same socket, back from libcurl's connection cache. Without
    // a closing() in between, the number was not reused.
    watch.parked = false;
    if (watch.interest == interest && watch.added) return {};
    if (watch.interest != interest) {
      // libevent cannot change the flags of a pending event, so take it out, assign the new
      // flags and add it again.
      remove(watch);
      watch.interest = interest;
      event_assign(watch.socket_event, base_, fd, to_libevent_events(interest), &on_socket, &watch);
    }
    return add(watch);
  }

  auto watch = std::make_unique<Watch>();
  watch->backend = this;
  watch->fd = fd;
  watch->interest = interest;
  watch->socket_event = event_new(base_, fd, to_libevent_events(interest), &on_socket, watch.get());
  if (!watch->socket_event) return std::make_error_code(std::errc::not_enough_memory);
  if (std::error_code error = add(*watch)) return error;
  watched_.emplace(fd, std::move(watch));
  return {};
}

// An unwatched socket keeps its event until the event fires or closing(). libcurl unwatches a
// keep-alive connection at the end of every transfer and watches it again for the next one, and
// deleting and adding the event cost two epoll_ctl calls per request.
std::error_code LibeventBackend::unwatch(int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return {};
  if (announced_.may_park(fd, it->second->interest)) {
    it->second->parked = true;
  } else {
    erase(it);
  }
  return {};
}

// An event still here belongs to a descriptor closed without closing().
void LibeventBackend::opened(int fd) {
  if (auto it = watched_.find(fd); it != watched_.end()) erase(it);
  announced_.add(fd);
}

// event_free deletes the event first. libevent ignores the EBADF or ENOENT of an fd that is
// closed already.
void LibeventBackend::closing(int fd) {
  announced_.remove(fd);
  if (auto it = watched_.find(fd); it != watched_.end()) erase(it);
}

void LibeventBackend::erase(std::unordered_map<int, std::unique_ptr<Watch>>::iterator it) {
  if (it->second->added) ++counters_.system_calls;
  watched_.erase(it);
}

std::error_code LibeventBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  // EVLOOP_NONBLOCK alone would keep dispatching while any socket stays ready, and a
  // level-triggered socket that libcurl has not read yet stays ready, so it is always combined
  // with EVLOOP_ONCE.
  int flags = EVLOOP_ONCE;
  if (timeout_ms == 0) {
    flags |= EVLOOP_NONBLOCK;
  } else if (timeout_ms > 0) {
    const timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(timer_, &timeout);
  }

  // event_base_loop returns at once, with no epoll_wait, when no event is added. So with timeout
  // -1 and no socket watched or parked, wait() returns instead of blocking forever.
  // NOTE: EVLOOP_ONCE keeps dispatching until a callback runs, so one call can make more than one
  // epoll_wait (after EINTR, or when the coarse clock reaches the timer's time late).
  if (event_base_get_num_events(base_, EVENT_BASE_COUNT_ADDED) > 0) ++counters_.system_calls;
  ready_ = &ready;
  errno = 0;
  const int status = event_base_loop(base_, flags);
  ready_ = nullptr;
  if (timeout_ms > 0) evtimer_del(timer_);
  if (status < 0) return last_error();
  return {};
}

BackendInfo libevent_backend_info() {
  return {
      .name = "libevent",
      .loop = LoopKind::socket_action,
      .description = std::string("libevent ") + event_get_version() +
                     ": persistent event per socket, event_base_loop(EVLOOP_ONCE) per wait",
      .descriptor_limit = -1,
      .probe =
          [] {
            errno = 0;
            event_base* base = make_event_base();
            if (!base) {
              return Availability{false, "event_base_new_with_config failed: " +
                                             last_error().message()};
            }
            event_base_free(base);
            return Availability{true, ""};
          },
      .create = [] { return std::make_unique<LibeventBackend>(); },
  };
}

}  // namespace sockaction
