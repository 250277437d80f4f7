// epoll(7), level-triggered: one epoll_ctl per interest change, one epoll_wait per loop turn.
#pragma once

#include "backends/registry.hpp"

#include <sys/epoll.h>

#include <unordered_map>

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
  std::error_code unwatch(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  int epoll_fd_ = -1;
  std::unordered_map<int, Interest> watched_;
  std::vector<epoll_event> events_;
  BackendCounters counters_;
};

BackendInfo epoll_backend_info();

}  // namespace sockaction
