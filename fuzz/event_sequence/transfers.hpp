// The easy handles of one run: their options, callbacks and life cycle, and the rules about
// how libcurl reports them finished.
#pragma once

#include "core/curl_handles.hpp"
#include "fuzz/event_sequence/fake_server.hpp"
#include "fuzz/event_sequence/run_state.hpp"
#include "fuzz/event_sequence/scenario.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace sockaction::fuzz::event_sequence {

enum class TransferStatus {
  not_added,  // deferred and not added yet
  in_multi,   // added and not reported done
  done,       // reported done by curl_multi_info_read and removed
  aborted,    // removed by an abort step before it finished
};

struct Transfer {
  std::size_t index = 0;
  TransferOptions options;
  RunState* state = nullptr;
  EasyHandle easy;
  TransferStatus status = TransferStatus::not_added;
  unsigned done_reports = 0;
  CURLcode result = CURLE_OK;
  std::string upload;           // the request body the read callback sends
  std::size_t upload_sent = 0;
  bool paused_in_write = false;  // the write callback has paused once already
  bool paused_in_read = false;
  bool paused_by_step = false;   // a pause step paused it and no unpause followed
};

class TransferSet {
 public:
  // Creates and configures one easy handle per entry of `options`. Connections go through
  // `server`; `multi` must outlive this set.
  TransferSet(RunState& state, FakeServer& server, CURLM* multi,
              const std::vector<TransferOptions>& options);
  // Removes the transfers still in the multi handle, then cleans up every easy handle.
  ~TransferSet();
  TransferSet(const TransferSet&) = delete;
  TransferSet& operator=(const TransferSet&) = delete;

  std::size_t size() const { return transfers_.size(); }

  void add_undeferred();
  void add(std::uint8_t pick);
  void add_all_deferred();
  void pause(std::uint8_t pick, PauseDirection direction);
  void unpause(std::uint8_t pick);
  void unpause_all();
  void abort(std::uint8_t pick);

  // Reads every curl_multi_info_read message and removes each finished transfer. Enforces the
  // done-once rule. Returns how many finished.
  std::size_t drain_finished();

  // Checks the running count an action returned against the transfers added and not yet
  // reported done or aborted (rule running-count). Call it after drain_finished().
  void check_running(int running) const;

  // Transfers added and neither done nor aborted.
  std::size_t in_flight() const;
  bool all_finished() const;
  // One line per unfinished transfer, for messages.
  std::string describe_unfinished() const;

 private:
  static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* transfer);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* transfer);
  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* transfer);
  void configure(Transfer& transfer, FakeServer& server);
  Transfer& at(std::uint8_t pick) { return *transfers_[pick % transfers_.size()]; }
  void add_transfer(Transfer& transfer);
  void set_pause(Transfer& transfer, int bitmask);

  RunState& state_;
  CURLM* multi_;
  std::vector<std::unique_ptr<Transfer>> transfers_;
};

}  // namespace sockaction::fuzz::event_sequence
