// kqueue(2), level-triggered EVFILT_READ and EVFILT_WRITE filters. watch() and unwatch() only
// append to a changelist, and wait() hands it to the kernel in the kevent() call that waits, so
// a loop turn costs one system call.
#pragma once

#include "backends/registry.hpp"

#include <sys/types.h>
#include <sys/event.h>

#include <unordered_map>
#include <vector>

namespace sockaction {

class KqueueBackend final : public Backend {
 public:
  // Throws std::system_error when kqueue() fails.
  KqueueBackend();
  ~KqueueBackend() override;
  KqueueBackend(const KqueueBackend&) = delete;
  KqueueBackend& operator=(const KqueueBackend&) = delete;

  std::string_view name() const override { return "kqueue"; }
  std::error_code watch(int fd, Interest interest) override;
  std::error_code unwatch(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  void queue_change(int fd, int filter, unsigned flags);
  void add_ready(int fd, int bits, std::vector<ReadyEvent>& ready);

  int kqueue_fd_ = -1;
  std::unordered_map<int, Interest> watched_;  // interest once the changelist is applied
  std::vector<struct kevent> changes_;
  std::vector<struct kevent> events_;
  std::unordered_map<int, std::size_t> ready_index_;  // fd -> its entry in wait()'s output
  BackendCounters counters_;
};

BackendInfo kqueue_backend_info();

}  // namespace sockaction
