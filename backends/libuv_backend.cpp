#include "backends/libuv_backend.hpp"
#include "backends/ready_merge.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>

namespace sockaction {

struct LibuvBackend::Watch {
  uv_poll_t handle{};
  LibuvBackend* backend = nullptr;
  int fd = -1;
  Interest interest = Interest::read;
  bool stopped_by_error = false;
  bool parked = false;  // unwatched, but the handle still polls until it fires or closing()
  std::uint64_t started_before = 0;  // loop iterations run before the last uv_poll_start
  ReadySlot ready_slot;  // merges read and write readiness seen in one wait()
};

namespace {

// System calls libuv 1.44.2 makes on Linux inside each function this backend calls, as strace
// shows them. The backend cannot see them, so system_calls adds these figures.
// NOTE: other libuv versions may make other calls, so with those the count is an estimate.
// uv_poll_init_socket: epoll_ctl ADD and DEL to test the fd, and ioctl FIONBIO.
constexpr std::uint64_t calls_per_poll_init = 3;
// uv_poll_start: epoll_ctl DEL at once, and ADD at the start of the next iteration.
constexpr std::uint64_t calls_per_poll_start = 2;
// uv_close of a poll handle: epoll_ctl DEL.
constexpr std::uint64_t calls_per_close = 1;
// uv_run: epoll_wait, or more than one after EINTR or when it returns 1024 events.
constexpr std::uint64_t calls_per_iteration = 1;

// libuv's error codes on Unix are negated errno values.
std::error_code from_uv(int status) { return {-status, std::generic_category()}; }

int to_uv_events(Interest interest) {
  int events = 0;
  // UV_DISCONNECT (EPOLLRDHUP) reports a peer's shutdown as readable too, where libcurl reads EOF.
  if (wants_read(interest)) events |= UV_READABLE | UV_DISCONNECT;
  if (wants_write(interest)) events |= UV_WRITABLE;
  return events;
}

int to_ready_bits(int uv_events) {
  int bits = 0;
  if (uv_events & (UV_READABLE | UV_DISCONNECT)) bits |= ready_read;
  if (uv_events & UV_WRITABLE) bits |= ready_write;
  return bits;
}

}  // namespace

LibuvBackend::LibuvBackend() {
  if (int status = uv_loop_init(&loop_); status < 0) {
    throw std::system_error(from_uv(status), "uv_loop_init");
  }
  if (int status = uv_timer_init(&loop_, &timer_); status < 0) {
    uv_loop_close(&loop_);
    throw std::system_error(from_uv(status), "uv_timer_init");
  }
  timer_.data = this;
}

LibuvBackend::~LibuvBackend() {
  for (auto& [fd, watch] : watched_) close(watch);
  watched_.clear();
  stopped_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);

  // Every handle is closing, so the loop does not block and returns once the close callbacks ran.
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (int status = uv_loop_close(&loop_); status != 0) {
    std::fprintf(stderr,
                 "libuv backend: uv_loop_close failed: %s (%zu poll handles still closing)\n",
                 uv_strerror(status), closing_);
  }
}

void LibuvBackend::on_poll(uv_poll_t* handle, int status, int events) {
  Watch& watch = *static_cast<Watch*>(handle->data);
  if (watch.parked) {
    // An idle socket woke up, for example because the server closed it. libcurl finds out when
    // it takes the connection from its cache, and watch() then makes a new handle.
    watch.backend->forget(&watch);
    return;
  }
  if (status < 0) {
    // libuv 1.44 stops the handle before it reports POLLERR as UV_EBADF.
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(handle)) && !watch.stopped_by_error) {
      watch.stopped_by_error = true;
      watch.backend->stopped_.push_back(&watch);
    }
    // libuv reports no readiness with an error, although data may still be readable. Report
    // every direction libcurl waits for, as select(2) marks a socket with a pending error both
    // readable and writable, so libcurl reads what is left before it meets the error.
    watch.backend->report(watch, ready_error | to_ready_bits(to_uv_events(watch.interest)));
    return;
  }
  if (int bits = to_ready_bits(events); bits != 0) watch.backend->report(watch, bits);
}

void LibuvBackend::on_timer(uv_timer_t* timer) {
  static_cast<LibuvBackend*>(timer->data)->timer_fired_ = true;
}

void LibuvBackend::on_close(uv_handle_t* handle) {
  auto* watch = static_cast<Watch*>(handle->data);
  --watch->backend->closing_;
  delete watch;
}

void LibuvBackend::report(Watch& watch, int bits) {
  if (ready_) merge_ready(*ready_, watch.ready_slot, counters_.waits, watch.fd, bits);
}

std::error_code LibuvBackend::start(Watch& watch) {
  watch.stopped_by_error = false;
  watch.started_before = iterations_;
  counters_.system_calls += calls_per_poll_start;
  const int status = uv_poll_start(&watch.handle, to_uv_events(watch.interest), &on_poll);
  if (status < 0) return from_uv(status);
  return {};
}

void LibuvBackend::close(Watch* watch) {
  // uv_close stops the poll handle and removes the fd from libuv's epoll set at once, and libuv's
  // documentation allows closing the fd right after it. Only the close callback waits for a later
  // loop iteration, so the Watch lives until then.
  counters_.system_calls += calls_per_close;
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->handle), &on_close);
  ++closing_;
}

std::error_code LibuvBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);

  if (auto it = watched_.find(fd); it != watched_.end()) {
    Watch& watch = *it->second;
    // A parked handle is this same socket, back from libcurl's connection cache: without a
    // closing() in between, the number was not reused.
    watch.parked = false;
    if (watch.interest == interest && !watch.stopped_by_error) return {};
    watch.interest = interest;
    return start(watch);
  }

  // A handle for this fd number may still be closing after unwatch(). libuv 1.44 accepts the new
  // one anyway, because uv_close already dropped the old handle from the loop's fd table (the
  // loop_backends_test suite checks this).
  auto watch = std::make_unique<Watch>();
  watch->handle.data = watch.get();
  watch->backend = this;
  watch->fd = fd;
  watch->interest = interest;
  counters_.system_calls += calls_per_poll_init;
  if (int status = uv_poll_init_socket(&loop_, &watch->handle, fd); status < 0) {
    return from_uv(status);  // the handle was not initialized, so it needs no uv_close
  }
  Watch* started = watch.release();
  watched_.emplace(fd, started);
  if (std::error_code error = start(*started)) {
    unwatch(fd);
    return error;
  }
  return {};
}

std::error_code LibuvBackend::unwatch(int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return {};
  Watch* watch = it->second;
  // Only a handle whose start libuv has applied is parked. libuv adds the descriptor to its epoll
  // set in the next iteration and aborts when that fails, so a socket closed before then must
  // not have a started handle.
  if (!watch->stopped_by_error && watch->started_before < iterations_ &&
      announced_.may_park(fd, watch->interest)) {
    watch->parked = true;
    return {};
  }
  forget(watch);
  return {};
}

// A handle still here belongs to a descriptor closed without closing(). Starting it again would
// make libuv's epoll_ctl MOD fail with ENOENT, and libuv aborts on that, so it is closed.
void LibuvBackend::opened(int fd) {
  if (auto it = watched_.find(fd); it != watched_.end()) forget(it->second);
  announced_.add(fd);
}

void LibuvBackend::closing(int fd) {
  announced_.remove(fd);
  if (auto it = watched_.find(fd); it != watched_.end()) forget(it->second);
}

void LibuvBackend::forget(Watch* watch) {
  watched_.erase(watch->fd);
  std::erase(stopped_, watch);
  close(watch);
}

// uv_run returns at once, with no epoll_wait, when no handle is active or closing.
int LibuvBackend::run_iteration(uv_run_mode mode) {
  if (uv_loop_alive(&loop_)) counters_.system_calls += calls_per_iteration;
  const int alive = uv_run(&loop_, mode);
  ++iterations_;
  return alive;
}

std::error_code LibuvBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  ready_ = &ready;
  const std::size_t first = ready.size();

  for (Watch* watch : stopped_) {
    if (std::error_code error = start(*watch)) {
      ready_ = nullptr;
      return error;
    }
  }
  stopped_.clear();

  // An iteration does not block while a close callback is pending. Run those callbacks in a
  // non-blocking iteration first, which also collects the sockets that are ready already.
  if (closing_ > 0 || timeout_ms == 0) {
    run_iteration(UV_RUN_NOWAIT);
    if (timeout_ms == 0 || ready.size() > first) {
      ready_ = nullptr;
      return {};
    }
  }

  timer_fired_ = false;
  if (timeout_ms > 0) {
    // The timer counts from the loop's cached time, which is stale after the driver's work. It
    // repeats every millisecond after it first fires. An iteration runs due timers before it
    // polls, so a one-shot timer that came due just before uv_run left no timer to bound the
    // poll. epoll_wait then blocked until a socket woke it, 43 s in one fuzzer run.
    uv_update_time(&loop_);
    uv_timer_start(&timer_, &on_timer, static_cast<std::uint64_t>(timeout_ms), 1);
  }
  // An iteration can end without a callback, for example on an epoll event for an fd libuv has
  // stopped watching. Run another one then, until a socket is ready or the timer has fired.
  // NOTE: with timeout -1 and no socket watched or parked, this returns at once instead of
  // blocking forever.
  while (ready.size() == first && !timer_fired_) {
    if (run_iteration(UV_RUN_ONCE) == 0) break;  // no active handle is left to wake the loop
  }
  uv_timer_stop(&timer_);
  ready_ = nullptr;
  return {};
}

BackendInfo libuv_backend_info() {
  return {
      .name = "libuv",
      .loop = LoopKind::socket_action,
      .description = std::string("libuv ") + uv_version_string() +
                     ": uv_poll_t per socket, one loop iteration per wait",
      .descriptor_limit = -1,
      .probe =
          [] {
            uv_loop_t loop;
            if (int status = uv_loop_init(&loop); status < 0) {
              return Availability{false,
                                  std::string("uv_loop_init failed: ") + uv_strerror(status)};
            }
            uv_loop_close(&loop);
            return Availability{true, ""};
          },
      .create = [] { return std::make_unique<LibuvBackend>(); },
  };
}

}  // namespace sockaction
