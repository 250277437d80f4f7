// libevent 2.1: one persistent event per socket and a timer event for the timeout. Each wait()
// runs event_base_loop with EVLOOP_ONCE and collects what the callbacks report. An unwatched
// socket keeps its event, unreported, until the event fires or closing().
#pragma once

#include "backends/announced_sockets.hpp"
#include "backends/registry.hpp"

#include <event2/event.h>

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sockaction {

class LibeventBackend final : public Backend {
 public:
  // Throws std::system_error when libevent cannot create the event_base or the timer event.
  LibeventBackend();
  // Frees every event, then the event_base, which closes the descriptors libevent opened.
  ~LibeventBackend() override;
  LibeventBackend(const LibeventBackend&) = delete;
  LibeventBackend& operator=(const LibeventBackend&) = delete;

  std::string_view name() const override { return "libevent"; }
  std::error_code watch(int fd, Interest interest) override;
  std::error_code unwatch(int fd) override;
  void opened(int fd) override;
  void closing(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  struct Watch;  // a socket's event with the state its callback needs

  static void on_socket(evutil_socket_t fd, short what, void* watch);
  static void on_timer(evutil_socket_t, short, void* backend);

  std::error_code add(Watch& watch);
  void remove(Watch& watch);
  // Frees the event, which deletes it first when it is added.
  void erase(std::unordered_map<int, std::unique_ptr<Watch>>::iterator it);
  void report(Watch& watch, int bits);

  event_base* base_ = nullptr;
  event* timer_ = nullptr;
  std::unordered_map<int, std::unique_ptr<Watch>> watched_;
  std::vector<ReadyEvent>* ready_ = nullptr;  // the vector wait() appends to, null outside wait()
  AnnouncedSockets announced_;
  BackendCounters counters_;
};

BackendInfo libevent_backend_info();

}  // namespace sockaction
