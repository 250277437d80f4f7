// select(2): the portable baseline, limited to descriptors below FD_SETSIZE.
#pragma once

#include "backends/registry.hpp"

#include <sys/select.h>

#include <map>

namespace sockaction {

class SelectBackend final : public Backend {
 public:
  std::string_view name() const override { return "select"; }
  // Rejects an fd at or above FD_SETSIZE with std::errc::value_too_large before it reaches an
  // fd_set, because FD_SET past the end of the set writes out of bounds.
  std::error_code watch(int fd, Interest interest) override;
  std::error_code unwatch(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }
  int descriptor_limit() const override { return FD_SETSIZE; }

 private:
  std::map<int, Interest> watched_;  // ordered, so the highest fd (select's nfds - 1) is last
  BackendCounters counters_;
};

BackendInfo select_backend_info();

}  // namespace sockaction
