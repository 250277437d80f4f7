// Boost.Asio: an io_context with a posix::stream_descriptor per socket that waits with
// async_wait. Each wait() runs handlers until one reports a ready socket or the timeout passes.
// An unwatched socket keeps its descriptor object, unreported, until closing().
#pragma once

#include "backends/announced_sockets.hpp"
#include "backends/registry.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sockaction {

class AsioBackend final : public Backend {
 public:
  AsioBackend();
  // Releases every descriptor without closing it, then destroys the io_context.
  ~AsioBackend() override;
  AsioBackend(const AsioBackend&) = delete;
  AsioBackend& operator=(const AsioBackend&) = delete;

  std::string_view name() const override { return "asio"; }
  // NOTE: Asio's first async_wait on a descriptor switches it to non-blocking mode. libcurl's
  // sockets are non-blocking already, but another caller's blocking socket would change.
  std::error_code watch(int fd, Interest interest) override;
  std::error_code unwatch(int fd) override;
  void opened(int fd) override;
  void closing(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

 private:
  struct Watch;  // a socket's descriptor object and the state of its waits

  std::error_code register_again(int fd, Watch& watch, Interest interest);
  void erase(std::unordered_map<int, std::unique_ptr<Watch>>::iterator it);
  void arm(int fd, Watch& watch);
  void start_wait(int fd, Watch& watch, bool for_write);
  void on_wait_done(int fd, std::uint64_t generation, bool for_write,
                    const boost::system::error_code& error);
  void report(int fd, Watch& watch, int bits);
  void run_handlers(int timeout_ms);

  boost::asio::io_context io_context_{1};
  // Keeps the io_context from stopping when no wait is pending, so run_one_until blocks for the
  // whole timeout instead of returning at once.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_guard_;
  std::unordered_map<int, std::unique_ptr<Watch>> watched_;
  // Sockets whose interest may have a direction without a pending wait. wait() starts those waits.
  std::vector<int> to_arm_;
  std::uint64_t next_generation_ = 1;
  std::vector<ReadyEvent>* ready_ = nullptr;  // the vector wait() appends to, null outside wait()
  AnnouncedSockets announced_;
  BackendCounters counters_;
};

BackendInfo asio_backend_info();

}  // namespace sockaction
