#include "fuzz/event_sequence/event_loop.hpp"
#include "core/curl_info.hpp"

#include "fuzz/common/feedback.hpp"
#include "fuzz/event_sequence/transfers.hpp"

#include <fcntl.h>

#include <chrono>

namespace sockaction::fuzz::event_sequence {
namespace {

constexpr std::size_t max_removed_kept = 32;
// How much longer than its timeout a backend wait may block before the backend-wait rule fails.
// A wait that never returns is left to libFuzzer's -timeout or the test's timeout.
constexpr long max_wait_overshoot_ms = 1000;

// 0 for a cleared timer, 1 for "now", then one bucket per power of ten up to 1 s.
std::uint32_t timer_bucket(long timeout_ms) {
  if (timeout_ms < 0) return 0;
  if (timeout_ms == 0) return 1;
  if (timeout_ms < 10) return 2;
  if (timeout_ms < 100) return 3;
  if (timeout_ms < 1000) return 4;
  return 5;
}

bool descriptor_open(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) != -1; }

}  // namespace

EventLoop::EventLoop(RunState& state, Backend& backend, FakeServer& server)
    : state_(state), backend_(backend), server_(server) {
  multi_.reset(curl_multi_init());
  if (!multi_) state_.fail("harness-setup", "curl_multi_init failed");
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &EventLoop::on_socket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &EventLoop::on_timer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
  // As the driver's open-socket and close-socket callbacks do.
  server_.after_client_open = [this](int fd) { backend_.opened(fd); };
  server_.before_client_close = [this](int fd) { check_closing(fd); };
}

EventLoop::~EventLoop() { cleanup(); }

void EventLoop::cleanup() {
  multi_.reset();  // callbacks may still run here, while every member is alive
  server_.after_client_open = nullptr;
  server_.before_client_close = nullptr;
}

int EventLoop::on_socket(CURL*, curl_socket_t fd, int what, void* opaque, void*) {
  auto& loop = *static_cast<EventLoop*>(opaque);
  ++loop.state_.progress;
  SOCKACTION_FUZZ_TRACE(loop.state_, "socket callback fd %d %s", static_cast<int>(fd), curl_poll_name(what));
  int& previous = loop.last_what_[fd];
  note_feature(FeatureKind::socket_callback, static_cast<std::uint32_t>(what));
  note_feature(FeatureKind::socket_transition, static_cast<std::uint32_t>(previous * 8 + what));
  previous = what;
  if (what == CURL_POLL_REMOVE) {
    loop.remove(fd);
  } else {
    loop.announce(fd, what);
  }
  return 0;
}

int EventLoop::on_timer(CURLM*, long timeout_ms, void* opaque) {
  auto& loop = *static_cast<EventLoop*>(opaque);
  SOCKACTION_FUZZ_TRACE(loop.state_, "timer callback %ld ms", timeout_ms);
  note_feature(FeatureKind::timer_callback, timer_bucket(timeout_ms));
  loop.deadline_.set(timeout_ms, TimerDeadline::Clock::now());
  return 0;
}

void EventLoop::announce(curl_socket_t fd, int what) {
  if (what != CURL_POLL_IN && what != CURL_POLL_OUT && what != CURL_POLL_INOUT) {
    state_.fail("announce-open", "socket callback for fd " + std::to_string(fd) +
                                     " with unknown value " + std::to_string(what),
                Culprit::libcurl);
  }
  if (!descriptor_open(fd) || server_.is_server_end(fd)) {
    state_.fail("announce-open", "socket callback announced fd " + std::to_string(fd) + " (" +
                                     curl_poll_name(what) + "), which libcurl has no open socket for",
                Culprit::libcurl);
  }
  const auto interest = static_cast<Interest>(what);
  auto [entry, inserted] = sockets_.try_emplace(fd);
  if (inserted) entry->second.generation = next_generation_++;
  entry->second.interest = interest;
  if (std::error_code error = backend_.watch(fd, interest)) {
    state_.fail("backend-watch", std::string(backend_.name()) + ": watch(" + std::to_string(fd) +
                                     ") failed: " + error.message());
  }
}

void EventLoop::remove(curl_socket_t fd) {
  if (sockets_.erase(fd) == 0) {
    state_.fail("remove-announced", "CURL_POLL_REMOVE for fd " + std::to_string(fd) +
                                        ", which is not announced",
                Culprit::libcurl);
  }
  removed_.push_back(fd);
  if (removed_.size() > max_removed_kept) removed_.pop_front();
  if (std::error_code error = backend_.unwatch(fd)) {
    state_.fail("backend-unwatch", std::string(backend_.name()) + ": unwatch(" +
                                       std::to_string(fd) + ") failed: " + error.message());
  }
}

void EventLoop::check_closing(int fd) {
  backend_.closing(fd);  // as the driver's close-socket callback does
  if (sockets_.count(fd) == 0) return;
  state_.fail("remove-before-close",
              "libcurl closed fd " + std::to_string(fd) +
                  " while it was still announced, without CURL_POLL_REMOVE first",
              Culprit::libcurl);
}

void EventLoop::act(curl_socket_t fd, int events) {
  SOCKACTION_FUZZ_TRACE(state_, "action fd %d events %d", static_cast<int>(fd), events);
  int running = 0;
  if (CURLMcode code = curl_multi_socket_action(multi_.get(), fd, events, &running);
      code != CURLM_OK) {
    state_.fail("action-result", "curl_multi_socket_action(fd " + std::to_string(fd) + ", events " +
                                     std::to_string(events) + ") failed: " + curl_multi_strerror(code));
  }
  transfers_->drain_finished();
  transfers_->check_running(running);
}

std::vector<PendingEvent> EventLoop::wait(int timeout_ms) {
  std::vector<ReadyEvent> ready;
  SOCKACTION_FUZZ_TRACE(state_, "wait up to %d ms", timeout_ms);
  const auto started = std::chrono::steady_clock::now();
  if (std::error_code error = backend_.wait(timeout_ms, ready)) {
    state_.fail("backend-wait", std::string(backend_.name()) + ": wait(" + std::to_string(timeout_ms) +
                                    ") failed: " + error.message());
  }
  const auto blocked = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (blocked.count() > timeout_ms + max_wait_overshoot_ms) {
    state_.fail("backend-wait", std::string(backend_.name()) + ": wait(" + std::to_string(timeout_ms) +
                                    ") blocked for " + std::to_string(blocked.count()) + " ms");
  }
  std::vector<PendingEvent> pending;
  pending.reserve(ready.size());
  for (const ReadyEvent& event : ready) {
    auto it = sockets_.find(event.fd);
    pending.push_back({event, it == sockets_.end() ? 0 : it->second.generation});
  }
  SOCKACTION_FUZZ_TRACE(state_, "wait returned %zu events", pending.size());
  return pending;
}

void EventLoop::deliver_faithfully(const std::vector<PendingEvent>& pending) {
  for (const PendingEvent& item : pending) {
    auto it = sockets_.find(item.event.fd);
    if (it == sockets_.end() || it->second.generation != item.generation) continue;
    int mask = CURL_CSELECT_ERR;
    if (wants_read(it->second.interest)) mask |= CURL_CSELECT_IN;
    if (wants_write(it->second.interest)) mask |= CURL_CSELECT_OUT;
    const int events = item.event.events & mask;
    if (events != 0) act(item.event.fd, events);
  }
}

bool EventLoop::fire_passed_deadline() {
  if (!deadline_.take_if_passed(TimerDeadline::Clock::now())) return false;
  act(CURL_SOCKET_TIMEOUT, 0);
  return true;
}

int EventLoop::pick_removed(std::uint8_t pick) const {
  if (removed_.empty()) return -1;
  return removed_[pick % removed_.size()];
}

}  // namespace sockaction::fuzz::event_sequence
