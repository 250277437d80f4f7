// The easy handles of a run: starts transfers, checks finished ones, keeps C in flight.
#pragma once

#include "core/backend.hpp"
#include "core/curl_handles.hpp"
#include "core/run_stats.hpp"
#include "core/workload.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sockaction {

class TransferPool {
 public:
  // `multi` must outlive the pool. Finished transfers are appended to stats.results and
  // counted in stats. `progress` is incremented whenever body bytes arrive or a transfer ends.
  // `backend`, when set, hears of every socket libcurl closes, just before the close, and must
  // outlive `multi`, because libcurl closes cached connections in curl_multi_cleanup.
  TransferPool(CURLM* multi, const WorkloadSpec& spec, RunStats& stats, std::uint64_t& progress,
               Backend* backend = nullptr);
  // Removes the transfers still in flight from the multi handle.
  ~TransferPool();
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;

  // Adds the first min(concurrency, transfers) transfers. Returns an error sentence on failure.
  std::optional<std::string> start();

  // Reads every curl_multi_info_read message, records each finished transfer and removes it from
  // the multi handle. Its slot waits for refill(). Returns an error sentence on failure.
  std::optional<std::string> drain_finished();

  // Starts a transfer in each slot drain_finished() freed, while transfers remain. Returns an
  // error sentence on failure.
  std::optional<std::string> refill();

  bool all_finished() const { return finished_ == spec_.transfers; }
  std::size_t in_flight() const { return started_ - finished_; }

 private:
  struct Slot;
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* slot);
  static curl_socket_t on_open_socket(void* backend, curlsocktype purpose, curl_sockaddr* address);
  static int on_close_socket(void* backend, curl_socket_t fd);
  std::optional<std::string> configure(Slot& slot);
  std::optional<std::string> launch(Slot& slot);
  void record(Slot& slot, CURLcode code);

  CURLM* multi_;
  const WorkloadSpec& spec_;
  RunStats& stats_;
  std::uint64_t& progress_;
  Backend* backend_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_slots_;
  std::size_t started_ = 0;
  std::size_t finished_ = 0;
};

}  // namespace sockaction
