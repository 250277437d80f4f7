// A curl_multi_socket_action loop for the fuzz target. It follows the callback contract written
// at the top of core/socket_action_loop.hpp, like SocketActionLoop, but it does not run by
// itself: the step runner decides when to wait, what to deliver and when to fire the timer, so
// it can also deliver events unfaithfully. Its socket callback enforces the socket rules.
#pragma once

#include "core/backend.hpp"
#include "core/curl_handles.hpp"
#include "core/deadline.hpp"
#include "fuzz/event_sequence/fake_server.hpp"
#include "fuzz/event_sequence/run_state.hpp"

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

namespace sockaction::fuzz::event_sequence {

class TransferSet;

// A ready event, with the generation its socket had when the wait returned it.
struct PendingEvent {
  ReadyEvent event;
  std::uint64_t generation = 0;
};

class EventLoop {
 public:
  EventLoop(RunState& state, Backend& backend, FakeServer& server);
  // Cleans up the multi handle if cleanup() was not called.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  CURLM* multi() const { return multi_.get(); }
  // The transfers whose messages each action drains; set before the first action.
  void attach(TransferSet& transfers) { transfers_ = &transfers; }

  // curl_multi_socket_action(fd, events), then drains finished transfers and checks the
  // running count.
  void act(curl_socket_t fd, int events);

  // One backend wait of at most `timeout_ms` (0 to 15 in the fuzz phase, capped in the
  // faithful phase). Each event keeps its socket's generation for deliver_faithfully().
  std::vector<PendingEvent> wait(int timeout_ms);

  // Delivers `pending` as SocketActionLoop does: drops an event whose socket libcurl removed
  // or replaced since the wait, masks the bits to the current interest (CURL_CSELECT_ERR always
  // passes) and drops what is left empty.
  void deliver_faithfully(const std::vector<PendingEvent>& pending);

  // Fires CURL_SOCKET_TIMEOUT when the deadline has passed, after clearing it, so libcurl can set
  // a new one during the action. Returns whether it fired.
  bool fire_passed_deadline();

  const TimerDeadline& deadline() const { return deadline_; }
  bool watching_any() const { return !sockets_.empty(); }

  // A descriptor libcurl announced and then removed, or -1 if there is none.
  int pick_removed(std::uint8_t pick) const;

  // Calls curl_multi_cleanup. Every transfer must be removed from the multi handle first.
  void cleanup();

 private:
  struct WatchedSocket {
    Interest interest = Interest::read;
    std::uint64_t generation = 0;
  };

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* loop, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* loop);
  void announce(curl_socket_t fd, int what);
  void remove(curl_socket_t fd);
  void check_closing(int fd);

  RunState& state_;
  Backend& backend_;
  FakeServer& server_;
  TransferSet* transfers_ = nullptr;
  TimerDeadline deadline_;
  std::unordered_map<curl_socket_t, WatchedSocket> sockets_;
  std::unordered_map<curl_socket_t, int> last_what_;  // for FeatureKind::socket_transition
  std::deque<int> removed_;  // most recent last, at most max_removed_kept
  std::uint64_t next_generation_ = 1;
  MultiHandle multi_;
};

}  // namespace sockaction::fuzz::event_sequence
