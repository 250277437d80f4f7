// State shared by HttpServer, its accept loop and its sessions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sockaction::detail {

class HttpSession;

class SharedState {
 public:
  explicit SharedState(std::function<void(std::string_view)> error_handler)
      : error_handler_(std::move(error_handler)) {}

  // Adds a session to the set that begin_stop() closes. Returns false once stopping has begun,
  // in which case the caller drops the session.
  bool register_session(HttpSession* session);
  // Called from the session's destructor.
  void unregister_session(HttpSession* session);
  // Rejects further sessions and returns owning pointers to the open ones. Sessions whose
  // destructor is already running are left out: they close their socket themselves.
  std::vector<std::shared_ptr<HttpSession>> begin_stop();

  // Passes one line to the error handler of HttpServerOptions, if there is one.
  void report_error(std::string_view message) const {
    if (error_handler_) error_handler_(message);
  }

  std::uint64_t next_connection_id() { return next_connection_id_.fetch_add(1, std::memory_order_relaxed); }
  void count_response() { responses_sent_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t responses_sent() const { return responses_sent_.load(std::memory_order_relaxed); }

 private:
  const std::function<void(std::string_view)> error_handler_;
  std::atomic<std::uint64_t> next_connection_id_{1};
  std::atomic<std::uint64_t> responses_sent_{0};

  std::mutex mutex_;
  bool stopping_ = false;                     // guarded by mutex_
  std::unordered_set<HttpSession*> sessions_;  // guarded by mutex_
};

}  // namespace sockaction::detail
