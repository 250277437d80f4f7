// poll(2): no descriptor limit, cost linear in the number of watched sockets per wait.
#pragma once

#include "backends/registry.hpp"

#include <poll.h>

#include <unordered_map>

namespace sockaction {

class PollBackend final : public Backend {
 public:
  std::string_view name() const override { return "poll"; }
  std::error_code watch(int fd, Interest interest) override;
  std::error_code unwatch(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  std::vector<pollfd> fds_;                 // the array poll(2) takes, kept dense
  std::unordered_map<int, std::size_t> index_;  // fd -> position in fds_
  BackendCounters counters_;
};

BackendInfo poll_backend_info();

}  // namespace sockaction
