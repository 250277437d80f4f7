// The curl_multi_socket_action loop, and the callback contract it obeys.
//
// The contract between libcurl and this loop (libcurl 7.66 or later; the man pages of
// CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION and curl_multi_socket_action state it):
//
//  1. Socket callback. CURL_POLL_IN, CURL_POLL_OUT and CURL_POLL_INOUT replace the interest in
//     the socket; CURL_POLL_REMOVE stops watching it. REMOVE does not mean the socket is closed,
//     and a socket number can come back later as a different connection. The callback only
//     updates the backend and this loop's socket table; it never calls back into libcurl.
//  2. Timer callback. It only records one deadline: -1 clears it, 0 means "as soon as possible",
//     N means N ms from now. It never calls curl_multi_socket_action itself; the loop does, on
//     its next turn.
//  3. The loop starts with curl_multi_socket_action(CURL_SOCKET_TIMEOUT) after the first
//     transfers are added. Each ready socket gets one action with its CURL_CSELECT_IN/OUT/ERR
//     bits, or with 0 when the driver runs in unknown-mask mode.
//  4. When the deadline passes, the loop clears it first, so it counts as spent. Then it calls
//     curl_multi_socket_action(CURL_SOCKET_TIMEOUT), from which libcurl sets a new deadline
//     through the timer callback if it needs one.
//  5. After every action, curl_multi_info_read is drained. Replacements for finished transfers
//     are added once every event of the wait has had its action, so one CURL_SOCKET_TIMEOUT
//     action starts them together. Adding each at once cost epoll 9 % of requests/s at C=64.
//  6. libcurl opens its connection sockets through CURLOPT_OPENSOCKETFUNCTION, which announces
//     each with Backend::opened(fd), and closes them through CURLOPT_CLOSESOCKETFUNCTION, which
//     calls Backend::closing(fd) first. libcurl 7.88.1 closes its threaded resolver's socketpair
//     and a happy-eyeballs loser by itself, the loser before its CURL_POLL_REMOVE, so backends
//     keep only announced sockets last watched for read registered while unwatched.
//  7. A ready event collected in a wait is dropped when, by the time it would be delivered, libcurl
//     has removed that socket or removed it and announced a new socket with the same number.
//     Bits libcurl no longer asks for are masked out; CURL_CSELECT_ERR always passes.
#pragma once

#include "core/backend.hpp"
#include "core/curl_handles.hpp"
#include "core/deadline.hpp"
#include "core/run.hpp"
#include "core/transfer_pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace sockaction {

class SocketActionLoop {
 public:
  SocketActionLoop(Backend& backend, const WorkloadSpec& spec, const DriverOptions& options,
                   RunStats& stats);
  SocketActionLoop(const SocketActionLoop&) = delete;
  SocketActionLoop& operator=(const SocketActionLoop&) = delete;

  // Runs until every transfer has finished or a fatal error (stored in stats.fatal_error).
  void run();

 private:
  using Clock = std::chrono::steady_clock;

  // One entry per descriptor number, indexed by the number: descriptors are small and dense,
  // and a hash table here cost a node allocation for every transfer on a reused connection.
  struct WatchedSocket {
    Interest interest = Interest::read;
    std::uint64_t generation = 0;  // new at each announcement of the socket, 0 when unwatched
    bool announced_before = false;  // the number has been announced earlier in this run
  };
  struct PendingEvent {
    ReadyEvent event;
    std::uint64_t generation = 0;
  };

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* loop, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* loop);
  int update_socket(curl_socket_t fd, int what);
  // The entry of a watched socket, or nullptr when libcurl is not watching `fd`.
  const WatchedSocket* watched(curl_socket_t fd) const;
  void set_deadline(long timeout_ms);

  bool act(curl_socket_t fd, int events);
  int next_timeout_ms(Clock::time_point run_deadline) const;
  bool wait_for_events(int timeout_ms);
  bool dispatch_events();
  bool refill();
  bool fire_expired_deadline();
  void fail(std::string message);
  void trace(const char* format, ...) const __attribute__((format(printf, 2, 3)));

  Backend& backend_;
  const WorkloadSpec& spec_;
  const DriverOptions& options_;
  RunStats& stats_;
  std::uint64_t progress_ = 0;
  std::uint64_t next_generation_ = 1;
  TimerDeadline deadline_;
  std::vector<WatchedSocket> sockets_;
  std::vector<ReadyEvent> ready_;
  std::vector<PendingEvent> pending_;
  Clock::time_point started_at_;
  MultiHandle multi_;
  // Declared after multi_, so it is destroyed before it and can remove its easy handles.
  std::optional<TransferPool> pool_;
};

}  // namespace sockaction
