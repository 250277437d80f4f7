// epoll(7), level-triggered, with as few epoll_ctl calls as correctness allows:
//  - interest changes are applied just before the next epoll_wait, so a change that libcurl
//    undoes within one loop turn costs nothing;
//  - an unwatched socket announced with opened() stays in the epoll set, and is removed only
//    when it reports an event or is closed. A keep-alive connection idles in libcurl's
//    connection cache between transfers (CURL_POLL_REMOVE, later CURL_POLL_IN again) without
//    any system call, unless the server closes it meanwhile. Other descriptors leave the set at
//    unwatch(), because libcurl closes them without closing();
//  - closes come through closing(), which removes the descriptor while it is still open, so no
//    epoll_ctl ever names a closed number.
#pragma once

#include "backends/announced_sockets.hpp"
#include "backends/registry.hpp"

#include <sys/epoll.h>

#include <vector>

namespace sockaction {

class EpollBackend final : public Backend {
 public:
  // Throws std::system_error when epoll_create1 fails.
  EpollBackend();
  ~EpollBackend() override;
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  std::string_view name() const override { return "epoll"; }
  std::error_code watch(int fd, Interest interest) override;
  // Stops reporting `fd`. An announced `fd` leaves the epoll set when it next becomes ready or
  // is closed, any other at once.
  std::error_code unwatch(int fd) override;
  void opened(int fd) override;
  // Removes `fd` from the epoll set at once, while the number is still this socket's.
  void closing(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  struct Watched {
    bool present = false;                  // watched, or unwatched but still in the epoll set
    Interest wanted = Interest::read;      // what libcurl asked for last
    Interest registered = Interest::read;  // what the kernel's epoll set holds, if valid
    bool in_kernel = false;                // the epoll set contains this descriptor
    bool removed = false;                  // unwatched, but still in the epoll set
  };
  std::error_code apply_changes();
  std::error_code remove_from_kernel(int fd);
  // Forgets `entry` and removes `fd` from the epoll set if it is there.
  std::error_code drop(int fd, Watched& entry);
  std::error_code register_interest(int fd, Watched& entry);
  // The entry of `fd` when it is present, otherwise nullptr.
  Watched* find(int fd);

  int epoll_fd_ = -1;
  // Indexed by descriptor number, which is small and dense. A hash table allocated a node for
  // every transfer that came back to a cached connection.
  std::vector<Watched> watched_;
  std::vector<int> changed_;  // fds whose `wanted` may differ from `registered`
  AnnouncedSockets announced_;
  std::vector<epoll_event> events_;
  BackendCounters counters_;
};

BackendInfo epoll_backend_info();

}  // namespace sockaction
