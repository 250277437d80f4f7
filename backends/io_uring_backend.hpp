// io_uring(7) poll requests: watch() and unwatch() only record changes, and wait() submits them
// and waits for completions in one io_uring_enter call. Reports are level-triggered like epoll's,
// because a descriptor reported ready is polled again at the next wait().
#pragma once

#include "backends/announced_sockets.hpp"
#include "backends/registry.hpp"

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

// liburing's types, declared here so that users of this header need no liburing include path.
struct io_uring;
struct io_uring_sqe;

namespace sockaction {

enum class IoUringPollMode {
  // Multishot poll requests (IORING_POLL_ADD_MULTI, Linux 5.13) where the kernel takes them,
  // one-shot requests otherwise.
  automatic,
  // One-shot requests re-armed after each completion, and interest changes as poll remove plus
  // poll add: only what Linux 5.1 to 5.12 offer, forced for testing that path on newer kernels.
  one_shot,
};

struct IoUringOptions {
  IoUringPollMode poll_mode = IoUringPollMode::automatic;
  // Submission queue entries. 4096 leaves room for one change for each of more than 1024 sockets
  // per loop turn. More changes than fit are submitted early (counted in early_submits()). The
  // completion queue has twice as many entries, and completions beyond it wait for later calls.
  unsigned ring_entries = 4096;
};

class IoUringBackend final : public Backend {
 public:
  // Throws std::system_error when io_uring_queue_init fails, also after halving ring_entries
  // down to 64 on ENOMEM.
  explicit IoUringBackend(IoUringOptions options = {});
  ~IoUringBackend() override;
  IoUringBackend(const IoUringBackend&) = delete;
  IoUringBackend& operator=(const IoUringBackend&) = delete;

  std::string_view name() const override { return "io_uring"; }
  std::error_code watch(int fd, Interest interest) override;
  // In multishot mode, leaves the request running ("parked") when AnnouncedSockets::may_park
  // allows it, so that a watch() of the same socket costs no new request. libcurl unwatches a
  // keep-alive connection after each transfer and watches it again for the next one. A parked
  // request is removed when it completes or at closing().
  std::error_code unwatch(int fd) override;
  void opened(int fd) override;
  // Removes the request of a parked descriptor while the number is still this socket's.
  void closing(int fd) override;
  std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) override;
  BackendCounters counters() const override { return counters_; }

  // Whether poll requests are multishot. They are not in one-shot mode or on kernels before 5.13.
  bool multishot() const { return multishot_; }
  // Submissions made before wait() because the submission queue was full; each is also counted
  // in counters().system_calls.
  std::uint64_t early_submits() const { return early_submits_; }
  // Poll completions dropped because their request had been removed or replaced by the time
  // they were collected: by unwatch() or closing(), a one-shot interest change, or a hangup.
  std::uint64_t stale_completions() const { return stale_completions_; }

 private:
  // One watched descriptor. A new generation marks each new watch of a descriptor number, so
  // completions of requests made for an earlier socket with that number never match.
  struct Watch {
    Interest interest = Interest::read;
    std::uint32_t generation = 0;
    bool armed = false;          // a request with this generation was submitted and not ended
    unsigned armed_events = 0;   // the poll mask of that request
    bool recheck = false;        // multishot only: poll again by an update
    bool replace = false;        // multishot only: poll again by a removal and a new poll add
    bool queued = false;         // listed in changed_ for the next wait()
    bool parked = false;         // unwatched, but its multishot request still runs
  };

  void probe_multishot();
  void mark_changed(int fd, Watch& watch);
  std::error_code queue_removals(bool awaited);
  std::error_code queue_changes();
  std::error_code queue_watch(int fd, Watch& watch);
  ::io_uring_sqe* next_sqe(std::error_code& error);
  std::error_code submit_and_wait(int timeout_ms);
  // Handles every completion in the ring. With `ready` null, poll completions only make their
  // request poll again at the next submission; otherwise they are reported in `ready`.
  void collect_completions(std::vector<ReadyEvent>* ready);
  void handle_poll_completion(int fd, std::uint32_t generation, int result, unsigned flags,
                              std::vector<ReadyEvent>* ready);
  void poll_again(int fd, Watch& watch, unsigned revents);
  // Queues the removal of the request of `it` when one runs, and erases the entry.
  void forget(std::unordered_map<int, Watch>::iterator it);
  std::uint32_t next_generation();

  std::unique_ptr<io_uring> ring_;
  unsigned features_ = 0;  // IORING_FEAT_* bits the kernel reported at setup
  bool multishot_ = false;
  std::unordered_map<int, Watch> watches_;
  std::vector<int> changed_;                  // descriptors whose request the next wait() adds,
                                              // updates or replaces
  std::vector<std::uint64_t> removals_;       // poll request tags to cancel
  // Completions the queued removals and updates post at least, so the wait can ask for one more.
  unsigned expected_control_completions_ = 0;
  std::uint32_t last_generation_ = 0;
  std::unordered_map<int, std::size_t> ready_index_;  // fd -> its entry in wait()'s output
  AnnouncedSockets announced_;
  BackendCounters counters_;
  std::uint64_t early_submits_ = 0;
  std::uint64_t stale_completions_ = 0;
};

BackendInfo io_uring_backend_info();

}  // namespace sockaction
