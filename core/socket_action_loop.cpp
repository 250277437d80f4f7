#include "core/socket_action_loop.hpp"

#include "core/curl_info.hpp"

#include <algorithm>
#include <cstdarg>
#include <string>

namespace sockaction {
namespace {

// Maximum single wait, so the run limit is checked at least this often when libcurl has set
// no deadline.
constexpr long long max_wait_ms = 60'000;

// Returns the bits of `events` within the socket's current interest. Errors always pass, because
// libcurl must learn of them whatever it waits for.
int mask_to_interest(int events, Interest interest) {
  int mask = ready_error;
  if (wants_read(interest)) mask |= ready_read;
  if (wants_write(interest)) mask |= ready_write;
  return events & mask;
}

}  // namespace

SocketActionLoop::SocketActionLoop(Backend& backend, const WorkloadSpec& spec,
                                   const DriverOptions& options, RunStats& stats)
    : backend_(backend), spec_(spec), options_(options), stats_(stats) {}

void SocketActionLoop::trace(const char* format, ...) const {
  if (!options_.trace) return;
  const double seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
  std::fprintf(options_.trace, "%10.6f ", seconds);
  va_list arguments;
  va_start(arguments, format);
  std::vfprintf(options_.trace, format, arguments);
  va_end(arguments);
  std::fputc('\n', options_.trace);
}

void SocketActionLoop::fail(std::string message) {
  if (!stats_.fatal_error) stats_.fatal_error = std::move(message);
}

int SocketActionLoop::on_socket(CURL*, curl_socket_t fd, int what, void* loop, void*) {
  return static_cast<SocketActionLoop*>(loop)->update_socket(fd, what);
}

int SocketActionLoop::on_timer(CURLM*, long timeout_ms, void* loop) {
  static_cast<SocketActionLoop*>(loop)->set_deadline(timeout_ms);
  return 0;
}

int SocketActionLoop::update_socket(curl_socket_t fd, int what) {
  ++stats_.counters.socket_callbacks;
  ++progress_;
  if (options_.trace) trace("socket_cb fd=%d what=%s", static_cast<int>(fd), curl_poll_name(what));

  std::error_code error;
  if (what == CURL_POLL_REMOVE) {
    if (static_cast<std::size_t>(fd) < sockets_.size()) sockets_[fd].generation = 0;
    error = backend_.unwatch(fd);
  } else if (fd < 0) {
    error = std::make_error_code(std::errc::bad_file_descriptor);
  } else {
    if (static_cast<std::size_t>(fd) >= sockets_.size()) sockets_.resize(fd + 1);
    WatchedSocket& entry = sockets_[fd];
    if (entry.generation == 0) {
      entry.generation = next_generation_++;
      if (entry.announced_before) ++stats_.counters.reused_descriptors;
      entry.announced_before = true;
    }
    entry.interest = static_cast<Interest>(what);
    error = backend_.watch(fd, entry.interest);
  }
  if (error) {
    std::string message = std::string(backend_.name()) + ": cannot " +
                          (what == CURL_POLL_REMOVE ? "unwatch" : "watch") + " fd " +
                          std::to_string(fd) + ": " + error.message();
    if (error == std::errc::value_too_large && backend_.descriptor_limit() >= 0) {
      message += " (this backend only takes descriptors below " +
                 std::to_string(backend_.descriptor_limit()) +
                 "; lower the concurrency or use poll or epoll)";
    }
    fail(std::move(message));
    // CURLMOPT_SOCKETFUNCTION(3), as of libcurl 7.85: an error aborts every transfer in progress.
    return -1;
  }
  return 0;
}

const SocketActionLoop::WatchedSocket* SocketActionLoop::watched(curl_socket_t fd) const {
  if (fd < 0 || static_cast<std::size_t>(fd) >= sockets_.size()) return nullptr;
  const WatchedSocket& entry = sockets_[fd];
  return entry.generation != 0 ? &entry : nullptr;
}

void SocketActionLoop::set_deadline(long timeout_ms) {
  ++stats_.counters.timer_callbacks;
  if (options_.trace) trace("timer_cb timeout_ms=%ld", timeout_ms);
  // Only a positive timeout needs the clock: 0 is due at any time, and -1 clears. libcurl
  // passes 0 for every transfer added, so this saves a clock read per request.
  deadline_.set(timeout_ms, timeout_ms > 0 ? Clock::now() : Clock::time_point::min());
}

bool SocketActionLoop::act(curl_socket_t fd, int events) {
  ++stats_.counters.socket_actions;
  if (options_.trace) trace("action fd=%d events=%d", static_cast<int>(fd), events);
  int running = 0;
  if (CURLMcode code = curl_multi_socket_action(multi_.get(), fd, events, &running);
      code != CURLM_OK) {
    fail(std::string("curl_multi_socket_action failed: ") + curl_multi_strerror(code));
    return false;
  }
  if (auto error = pool_->drain_finished()) {
    fail(std::move(*error));
    return false;
  }
  return !stats_.fatal_error;
}

int SocketActionLoop::next_timeout_ms(Clock::time_point run_deadline) const {
  const auto now = Clock::now();
  if (now >= run_deadline) return 0;
  // Capped by the run's own limit, so a run that libcurl leaves without a deadline still ends.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(run_deadline - now).count();
  const int cap_ms = static_cast<int>(std::min<long long>(left, max_wait_ms));
  return deadline_.wait_ms(now, cap_ms);
}

bool SocketActionLoop::wait_for_events(int timeout_ms) {
  ready_.clear();
  ++stats_.counters.wakeups;
  if (std::error_code error = backend_.wait(timeout_ms, ready_)) {
    fail(std::string(backend_.name()) + ": wait failed: " + error.message());
    return false;
  }
  if (options_.trace) trace("wakeup events=%zu timeout_ms=%d", ready_.size(), timeout_ms);

  // Snapshot which socket each event belongs to before any action can change the table.
  pending_.clear();
  for (const ReadyEvent& event : ready_) {
    const WatchedSocket* entry = watched(event.fd);
    pending_.push_back({event, entry ? entry->generation : 0});
  }
  return true;
}

bool SocketActionLoop::dispatch_events() {
  for (const PendingEvent& pending : pending_) {
    const WatchedSocket* entry = watched(pending.event.fd);
    const bool same_socket = entry && entry->generation == pending.generation;
    const int events = same_socket ? mask_to_interest(pending.event.events, entry->interest) : 0;
    if (events == 0) {
      ++stats_.counters.stale_events;
      if (options_.trace) trace("drop fd=%d events=%d", pending.event.fd, pending.event.events);
      continue;
    }
    if (!act(pending.event.fd, options_.unknown_event_mask ? 0 : events)) return false;
  }
  return true;
}

bool SocketActionLoop::refill() {
  if (auto error = pool_->refill()) {
    fail(std::move(*error));
    return false;
  }
  return true;
}

bool SocketActionLoop::fire_expired_deadline() {
  // take_if_passed clears the deadline first: it is spent, and libcurl sets a new one from
  // inside the action if it needs one.
  if (!deadline_.take_if_passed(Clock::now())) return true;
  ++stats_.counters.timer_expirations;
  return act(CURL_SOCKET_TIMEOUT, 0);
}

void SocketActionLoop::run() {
  started_at_ = Clock::now();
  const auto run_deadline = started_at_ + options_.run_limit;

  multi_.reset(curl_multi_init());
  if (!multi_) return fail("curl_multi_init failed (out of memory?)");
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &SocketActionLoop::on_socket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &SocketActionLoop::on_timer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);

  pool_.emplace(multi_.get(), spec_, stats_, progress_, &backend_);
  if (auto error = pool_->start()) return fail(std::move(*error));
  deadline_.clear();
  if (!act(CURL_SOCKET_TIMEOUT, 0) || !refill()) return;

  while (!pool_->all_finished()) {
    if (Clock::now() >= run_deadline) {
      return fail("run limit of " + std::to_string(options_.run_limit.count()) +
                  " ms passed with " + std::to_string(pool_->in_flight()) +
                  " transfers in flight");
    }
    if (!wait_for_events(next_timeout_ms(run_deadline))) return;
    const std::uint64_t progress_before = progress_;
    if (!dispatch_events() || !refill() || !fire_expired_deadline() || !refill()) return;
    if (progress_ == progress_before) ++stats_.counters.idle_wakeups;
  }
}

}  // namespace sockaction
