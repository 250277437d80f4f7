// libuv: one uv_poll_t per socket and a uv_timer_t for the timeout. Each wait() runs one loop
// iteration (or a few, when one ends without a callback) and collects what the callbacks report.
#pragma once

#include "backends/announced_sockets.hpp"
#include "backends/registry.hpp"

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace sockaction {

class LibuvBackend final : public Backend {
 public:
  // Throws std::system_error when uv_loop_init or uv_timer_init fails.
  LibuvBackend();
  // Closes every handle, runs the loop until their close callbacks have run and closes the loop.
  ~LibuvBackend() override;
  LibuvBackend(const LibuvBackend&) = delete;
  LibuvBackend& operator=(const LibuvBackend&) = delete;

  std::string_view name() const override { return "libuv"; }
  // NOTE: uv_poll_init_socket switches the socket to non-blocking mode. libcurl's sockets are
  // non-blocking already, but another caller's blocking socket would change.
  std::error_code watch(int fd, Interest interest) override;
  // Leaves the handle polling ("parked"), so that a watch() of the same socket costs no system
  // call: libcurl unwatches a keep-alive connection after each transfer and watches it again for
  // the next one. A parked handle is closed when it fires or at closing().
  std::error_code unwatch(int fd) override;
  // Closes the handle of `fd`, parked or not, while the number is still this socket's.
  void opened(int fd) override;
  void closing(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  struct Watch;  // a poll handle with the state its callback needs

  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* timer);
  static void on_close(uv_handle_t* handle);

  std::error_code start(Watch& watch);
  void close(Watch* watch);
  // Drops `watch` from watched_ and stopped_ and closes its handle.
  void forget(Watch* watch);
  void report(Watch& watch, int bits);
  int run_iteration(uv_run_mode mode);

  uv_loop_t loop_{};
  uv_timer_t timer_{};
  bool timer_fired_ = false;
  std::unordered_map<int, Watch*> watched_;
  // Handles libuv stopped when it reported an error. The next wait() starts them again, so an
  // error stays visible as it would with a level-triggered poll.
  std::vector<Watch*> stopped_;
  std::size_t closing_ = 0;  // handles whose close callback has not run yet
  std::uint64_t iterations_ = 0;  // uv_run calls so far
  std::vector<ReadyEvent>* ready_ = nullptr;  // the vector wait() appends to, null outside wait()
  AnnouncedSockets announced_;
  BackendCounters counters_;
};

BackendInfo libuv_backend_info();

}  // namespace sockaction
