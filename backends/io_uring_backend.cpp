#include "backends/io_uring_backend.hpp"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace sockaction {
namespace {

// Every request carries a tag in user_data: bits 0-31 are the descriptor, bits 32-61 the watch
// generation and bits 62-63 the request kind. A poll request, the update or removal aimed at it
// and the completions of all three carry the same descriptor and generation.
enum class RequestKind : std::uint64_t {
  poll = 0,
  update = 1,
  remove = 2,
  other = 3,  // the multishot probe's requests, and liburing's LIBURING_UDATA_TIMEOUT (all ones)
};

constexpr int generation_shift = 32;
constexpr int kind_shift = 62;
constexpr std::uint32_t generation_mask = (1u << 30) - 1;

constexpr std::uint64_t make_tag(RequestKind kind, int fd, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(kind) << kind_shift) |
         (static_cast<std::uint64_t>(generation & generation_mask) << generation_shift) |
         static_cast<std::uint32_t>(fd);
}

constexpr std::uint64_t with_kind(std::uint64_t tag, RequestKind kind) {
  return make_tag(kind, static_cast<int>(static_cast<std::uint32_t>(tag)),
                  static_cast<std::uint32_t>(tag >> generation_shift));
}

RequestKind tag_kind(std::uint64_t tag) { return static_cast<RequestKind>(tag >> kind_shift); }
int tag_fd(std::uint64_t tag) { return static_cast<int>(static_cast<std::uint32_t>(tag)); }
std::uint32_t tag_generation(std::uint64_t tag) {
  return static_cast<std::uint32_t>(tag >> generation_shift) & generation_mask;
}

unsigned poll_events(Interest interest) {
  unsigned events = 0;
  if (wants_read(interest)) events |= POLLIN | POLLRDHUP;
  if (wants_write(interest)) events |= POLLOUT;
  return events;
}

int to_ready_bits(unsigned revents) {
  int bits = 0;
  if (revents & (POLLIN | POLLHUP | POLLRDHUP)) bits |= ready_read;
  if (revents & POLLOUT) bits |= ready_write;
  if (revents & (POLLERR | POLLNVAL)) bits |= ready_error;
  return bits;
}

// Ready bits that a watch with `interest` reports: its directions, and errors always.
int interest_bits(Interest interest) {
  int bits = ready_error;
  if (wants_read(interest)) bits |= ready_read;
  if (wants_write(interest)) bits |= ready_write;
  return bits;
}

// Ring set-up flags, preferred first. A kernel takes the first set it supports. SUBMIT_ALL (5.18)
// keeps one rejected entry from ending the batch. COOP_TASKRUN with TASKRUN_FLAG (5.19) posts a
// completion at the loop's next system call instead of through an interrupt, which took 17 % of
// the loop thread's CPU at concurrency 64 on a 2-core VM.
constexpr unsigned setup_flag_choices[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

// Sets up `ring` with the first of setup_flag_choices the kernel takes. Halves `entries` on
// ENOMEM down to 64, because kernels before 5.12 charge the rings to RLIMIT_MEMLOCK.
int setup_ring(io_uring& ring, unsigned entries, unsigned& features) {
  std::size_t choice = 0;
  while (true) {
    io_uring_params params{};
    params.flags = setup_flag_choices[choice];
    const int result = io_uring_queue_init_params(entries, &ring, &params);
    if (result == 0) {
      features = params.features;
      return 0;
    }
    if (result == -EINVAL && choice + 1 < std::size(setup_flag_choices)) {
      ++choice;
    } else if (result == -ENOMEM && entries > 64) {
      entries /= 2;
    } else {
      return result;
    }
  }
}

Availability probe_io_uring() {
  io_uring ring;
  const int result = io_uring_queue_init(8, &ring, 0);
  if (result == 0) {
    io_uring_queue_exit(&ring);
    return {true, ""};
  }
  std::string reason = "io_uring_queue_init failed: " +
                       std::error_code(-result, std::generic_category()).message();
  switch (-result) {
    case ENOSYS:
      reason += " (the kernel is older than 5.1 or was built without CONFIG_IO_URING)";
      break;
    case EPERM:
      reason += " (the kernel.io_uring_disabled sysctl disables io_uring, or a seccomp filter such"
                " as a container runtime's default profile blocks it)";
      break;
    case ENOMEM:
      reason += " (kernels before 5.12 charge the ring to RLIMIT_MEMLOCK, so raise ulimit -l)";
      break;
    default:
      break;
  }
  return {false, reason};
}

}  // namespace

IoUringBackend::IoUringBackend(IoUringOptions options) : ring_(std::make_unique<io_uring>()) {
  const unsigned entries = std::max(options.ring_entries, 1u);
  if (const int result = setup_ring(*ring_, entries, features_); result < 0) {
    throw std::system_error(-result, std::generic_category(),
                            "io_uring_queue_init with " + std::to_string(entries) + " entries");
  }
  if (options.poll_mode == IoUringPollMode::automatic) probe_multishot();
}

IoUringBackend::~IoUringBackend() { io_uring_queue_exit(ring_.get()); }

// Sets multishot_ when the kernel runs a multishot poll and updates its mask. Kernels before 5.13
// reject both with EINVAL. The probe's own system calls are not counted in counters().
void IoUringBackend::probe_multishot() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return;
  io_uring& ring = *ring_;
  constexpr std::uint64_t add_tag = make_tag(RequestKind::other, 1, 0);
  constexpr std::uint64_t update_tag = make_tag(RequestKind::other, 2, 0);
  constexpr std::uint64_t remove_tag = make_tag(RequestKind::other, 3, 0);

  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_poll_multishot(sqe, fd, POLLIN);
  sqe->user_data = add_tag;
  sqe = io_uring_get_sqe(&ring);
  // The mask stays POLLIN: an eventfd is always writable, and a POLLOUT completion would also
  // carry add_tag.
  io_uring_prep_poll_update(sqe, add_tag, 0, POLLIN,
                            IORING_POLL_UPDATE_EVENTS | IORING_POLL_ADD_MULTI);
  sqe->user_data = update_tag;
  sqe = io_uring_get_sqe(&ring);
  io_uring_prep_poll_remove(sqe, add_tag);
  sqe->user_data = remove_tag;

  // Without IORING_SETUP_SUBMIT_ALL the kernel stops at a rejected entry, so the rest are
  // submitted again.
  for (int attempt = 0; attempt < 3 && io_uring_sq_ready(&ring) > 0; ++attempt) {
    if (io_uring_submit(&ring) < 0) break;
  }
  __kernel_timespec timeout{.tv_sec = 1, .tv_nsec = 0};
  io_uring_cqe* cqe = nullptr;
  io_uring_wait_cqes(&ring, &cqe, 3, &timeout, nullptr);

  int add_result = 0;
  int update_result = -EINVAL;
  unsigned head = 0;
  unsigned count = 0;
  io_uring_for_each_cqe(&ring, head, cqe) {
    if (cqe->user_data == add_tag) add_result = cqe->res;
    if (cqe->user_data == update_tag) update_result = cqe->res;
    ++count;
  }
  io_uring_cq_advance(&ring, count);
  close(fd);
  // Any probe completion still to come carries RequestKind::other and is dropped.
  multishot_ = add_result == -ECANCELED && update_result == 0;
}

std::uint32_t IoUringBackend::next_generation() {
  // NOTE: the 30-bit generation wraps after about 10^9 watches. A completion then matches a new
  // watch only if its request outlived all of them.
  last_generation_ = (last_generation_ + 1) & generation_mask;
  return last_generation_;
}

void IoUringBackend::mark_changed(int fd, Watch& watch) {
  if (watch.queued) return;
  watch.queued = true;
  changed_.push_back(fd);
}

std::error_code IoUringBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  auto [it, inserted] = watches_.try_emplace(fd);
  Watch& watch = it->second;
  if (inserted) {
    watch.generation = next_generation();
  } else if (watch.parked) {
    // The socket is back from libcurl's connection cache. Data left unread while it was parked
    // would never wake the request, so the next wait() polls once more.
    watch.parked = false;
    watch.recheck = true;
  } else if (watch.interest == interest && (watch.armed || watch.queued)) {
    return {};
  }
  watch.interest = interest;
  mark_changed(fd, watch);
  return {};
}

std::error_code IoUringBackend::unwatch(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return {};
  if (multishot_ && it->second.armed && !it->second.replace &&
      announced_.may_park(fd, it->second.interest)) {
    it->second.parked = true;
    return {};
  }
  forget(it);
  return {};
}

// A request still here belongs to a descriptor closed without closing(). Its removal names it by
// tag, so it cannot touch the new socket.
void IoUringBackend::opened(int fd) {
  if (auto it = watches_.find(fd); it != watches_.end()) forget(it);
  announced_.add(fd);
}

void IoUringBackend::closing(int fd) {
  announced_.remove(fd);
  if (auto it = watches_.find(fd); it != watches_.end()) forget(it);
  if (removals_.empty()) return;
  // Submitted now, not at the next wait(), because until its request ends the kernel keeps the
  // socket open after libcurl closes it. The completions are not awaited, because the next
  // wait() may collect them before it blocks.
  if (queue_removals(false)) return;  // left in removals_ for the next wait()
  ++counters_.system_calls;
  io_uring_submit(ring_.get());
}

void IoUringBackend::forget(std::unordered_map<int, Watch>::iterator it) {
  // The removal names the request by tag, not by descriptor, so it still finds it after libcurl
  // has closed the socket and even after the number is reused. A request never submitted needs
  // no removal.
  if (it->second.armed) {
    removals_.push_back(make_tag(RequestKind::poll, it->first, it->second.generation));
  }
  watches_.erase(it);
}

// Completions posted since the last wait() describe readiness that libcurl may have used up in
// the meantime, for example data it has read since. They only make the request poll again, in the
// same io_uring_enter that waits, and wait() reports what completes during that call.
std::error_code IoUringBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  collect_completions(nullptr);
  if (std::error_code error = queue_changes()) return error;
  if (std::error_code error = submit_and_wait(timeout_ms)) return error;
  collect_completions(&ready);
  return {};
}

io_uring_sqe* IoUringBackend::next_sqe(std::error_code& error) {
  if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get())) return sqe;
  // The submission queue is full: hand what it contains to the kernel now, without waiting.
  ++early_submits_;
  ++counters_.system_calls;
  if (const int result = io_uring_submit(ring_.get()); result < 0) {
    error = std::error_code(-result, std::generic_category());
    return nullptr;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) error = std::make_error_code(std::errc::resource_unavailable_try_again);
  return sqe;
}

// Turns removals_ into queue entries. With `awaited`, the wait that submits them counts on
// their completions. Returns an error, with the rest left in removals_, when the queue is full.
std::error_code IoUringBackend::queue_removals(bool awaited) {
  const bool skip_success = (features_ & IORING_FEAT_CQE_SKIP) != 0;
  for (std::size_t i = 0; i < removals_.size(); ++i) {
    std::error_code error;
    io_uring_sqe* sqe = next_sqe(error);
    if (!sqe) {
      removals_.erase(removals_.begin(), removals_.begin() + static_cast<std::ptrdiff_t>(i));
      return error;
    }
    io_uring_prep_poll_remove(sqe, removals_[i]);
    sqe->user_data = with_kind(removals_[i], RequestKind::remove);
    if (skip_success) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    // Either the cancelled request completes with ECANCELED or the removal fails and completes.
    if (awaited) ++expected_control_completions_;
  }
  removals_.clear();
  return {};
}

// Turns the removals and changed watches recorded since the last wait() into queue entries.
std::error_code IoUringBackend::queue_changes() {
  if (std::error_code error = queue_removals(true)) return error;

  for (std::size_t i = 0; i < changed_.size(); ++i) {
    auto it = watches_.find(changed_[i]);
    if (it == watches_.end() || !it->second.queued) continue;
    it->second.queued = false;
    if (it->second.parked) {
      // libcurl does not wait for this socket now, so the next watch() polls it again.
      it->second.recheck = false;
      continue;
    }
    if (std::error_code error = queue_watch(changed_[i], it->second)) {
      mark_changed(changed_[i], it->second);
      changed_.erase(changed_.begin(), changed_.begin() + static_cast<std::ptrdiff_t>(i));
      return error;
    }
  }
  changed_.clear();
  return {};
}

// Queues what brings the kernel's request for `fd` in line with `watch`: a poll add when none
// runs, an update or a replacement when the mask changed or the request must poll again, nothing
// otherwise.
std::error_code IoUringBackend::queue_watch(int fd, Watch& watch) {
  const unsigned events = poll_events(watch.interest);
  std::error_code error;
  if (!watch.armed) {
    io_uring_sqe* sqe = next_sqe(error);
    if (!sqe) return error;
    if (multishot_) {
      io_uring_prep_poll_multishot(sqe, fd, events);
    } else {
      io_uring_prep_poll_add(sqe, fd, events);
    }
    sqe->user_data = make_tag(RequestKind::poll, fd, watch.generation);
    watch.armed = true;
    watch.armed_events = events;
    watch.recheck = false;
    watch.replace = false;
    return {};
  }
  if (watch.armed_events == events && !watch.recheck && !watch.replace) return {};

  const std::uint64_t tag = make_tag(RequestKind::poll, fd, watch.generation);
  if (multishot_ && !watch.replace) {
    // A multishot poll completes when the descriptor's wait queue is woken, not while it stays
    // ready, so after a report libcurl may leave data unread and never hear of it again. The
    // update polls the descriptor once more, which gives level-triggered results like epoll's.
    io_uring_sqe* sqe = next_sqe(error);
    if (!sqe) return error;
    io_uring_prep_poll_update(sqe, tag, 0, events,
                              IORING_POLL_UPDATE_EVENTS | IORING_POLL_ADD_MULTI);
    sqe->user_data = with_kind(tag, RequestKind::update);
    if (features_ & IORING_FEAT_CQE_SKIP) {
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    } else {
      ++expected_control_completions_;
    }
    watch.armed_events = events;
    watch.recheck = false;
    return {};
  }

  // Cancels the request and adds one with a new generation, so whatever the old request completes
  // with is dropped. One-shot mode changes masks this way. A multishot request whose socket hung up
  // is replaced too, because the add looks the descriptor number up again. A request holds a
  // reference to its socket, so without this a socket closed without unwatch() stays open in
  // the kernel, and its hangup would be reported for whichever socket has the number now.
  // NOTE: such a socket whose peer stays open is still polled until unwatch(), and data the peer
  // sends is reported for the number. libcurl unwatches (CURL_POLL_REMOVE) before it closes.
  io_uring_sqe* sqe = next_sqe(error);
  if (!sqe) return error;
  io_uring_prep_poll_remove(sqe, tag);
  sqe->user_data = with_kind(tag, RequestKind::remove);
  if (features_ & IORING_FEAT_CQE_SKIP) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  ++expected_control_completions_;
  watch.armed = false;
  watch.replace = false;
  watch.generation = next_generation();
  return queue_watch(fd, watch);
}

// Submits the queue and waits in one liburing call. counters_.system_calls counts one
// io_uring_enter when that call has entries to submit or, while waiting, fewer completions ready
// than it waits for: the conditions under which liburing 2.3 enters the kernel. A wait(0) uses
// io_uring_submit, which also enters to flush an overflowed completion queue.
// NOTE: a wait(-1) passes no timeout. liburing 2.3 then enters a second time when a signal ends
// an entry that submitted entries before any completion arrived. That entry is not counted.
std::error_code IoUringBackend::submit_and_wait(int timeout_ms) {
  io_uring& ring = *ring_;
  const unsigned to_submit = io_uring_sq_ready(&ring);
  int result = 0;
  // With IORING_SETUP_TASKRUN_FLAG, the kernel flags completions waiting to be posted, and
  // liburing enters the kernel to post them.
  const bool task_work_pending = (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) != 0;
  if (timeout_ms == 0) {
    if (to_submit > 0 || io_uring_cq_has_overflow(&ring) || task_work_pending) {
      ++counters_.system_calls;
    }
    result = io_uring_submit(&ring);
  } else {
    // Removals and updates post completions of their own that carry no event. The wait waits for
    // one completion more than they are sure to post, so they cannot end it early. Because they
    // never post fewer, a real event always ends it.
    const unsigned control = std::min(expected_control_completions_, ring.cq.ring_entries / 2);
    const unsigned wait_nr = 1 + control;
    if (to_submit > 0 || io_uring_cq_ready(&ring) < wait_nr || task_work_pending) {
      ++counters_.system_calls;
    }
    __kernel_timespec timeout{.tv_sec = timeout_ms / 1000,
                              .tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000};
    io_uring_cqe* first = nullptr;
    result = io_uring_submit_and_wait_timeout(&ring, &first, wait_nr,
                                              timeout_ms < 0 ? nullptr : &timeout, nullptr);
  }
  expected_control_completions_ = 0;
  if (result >= 0) return {};
  switch (-result) {
    case ETIME:
    case EINTR:
      return {};
    case EBUSY:
    case EAGAIN:
      // The kernel takes no new entries until completions are reaped. The entries stay queued
      // for the next wait().
      return {};
    default:
      return {-result, std::generic_category()};
  }
}

void IoUringBackend::collect_completions(std::vector<ReadyEvent>* ready) {
  ready_index_.clear();
  io_uring& ring = *ring_;
  unsigned head = 0;
  unsigned count = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++count;
    const std::uint64_t tag = cqe->user_data;
    const int fd = tag_fd(tag);
    const std::uint32_t generation = tag_generation(tag);
    switch (tag_kind(tag)) {
      case RequestKind::poll:
        handle_poll_completion(fd, generation, cqe->res, cqe->flags, ready);
        break;
      case RequestKind::remove:
        // EALREADY: the request was completing and the kernel did not cancel it. A multishot
        // request would go on running, so the removal is tried again.
        if (cqe->res == -EALREADY) removals_.push_back(with_kind(tag, RequestKind::poll));
        break;
      case RequestKind::update:
        if (cqe->res == -EALREADY) {
          auto it = watches_.find(fd);
          if (it != watches_.end() && it->second.generation == generation) {
            it->second.armed_events = 0;  // forces another update at the next wait()
            mark_changed(fd, it->second);
          }
        }
        break;
      case RequestKind::other:
        break;
    }
  }
  io_uring_cq_advance(&ring, count);
}

void IoUringBackend::handle_poll_completion(int fd, std::uint32_t generation, int result,
                                            unsigned flags, std::vector<ReadyEvent>* ready) {
  auto it = watches_.find(fd);
  if (it == watches_.end() || it->second.generation != generation) {
    ++stale_completions_;
    return;
  }
  Watch& watch = it->second;
  const bool ended = (flags & IORING_CQE_F_MORE) == 0;
  if (ended) watch.armed = false;
  if (watch.parked) {
    // An idle socket woke up, for example because the server closed it. libcurl finds out when
    // it takes the connection from its cache, and a new watch then starts a new request.
    forget(it);
    return;
  }

  if (!ready) {
    // A completion from before this wait() only makes the request poll again. An ended request,
    // failed ones included, is added again, and a running multishot request is updated or
    // replaced.
    if (ended) {
      mark_changed(fd, watch);
    } else if (result > 0) {
      poll_again(fd, watch, static_cast<unsigned>(result));
    }
    return;
  }

  int bits = 0;
  if (result == -ECANCELED) {
    // The kernel ended a request this backend still needs, for example when an update could not
    // re-arm it. It is added again below.
  } else if (result < 0) {
    // The request failed on the descriptor, for example EBADF when it was closed while watched.
    // It is not re-armed. libcurl gets the error, and a later watch() arms the request again.
    bits = ready_error;
  } else {
    // Bits outside the interest come from a completion that the old mask posted during this
    // call, before the update that changed it.
    bits = to_ready_bits(static_cast<unsigned>(result)) & interest_bits(watch.interest);
  }

  if (bits != 0) {
    auto [entry, inserted] = ready_index_.try_emplace(fd, ready->size());
    if (inserted) {
      ready->push_back({fd, bits});
    } else {
      (*ready)[entry->second].events |= bits;
    }
  }

  if (ended) {
    // One-shot requests end with every completion, and the kernel may end a multishot one, for
    // example when the completion queue overflows. Either is added again unless it failed.
    if (result >= 0 || result == -ECANCELED) mark_changed(fd, watch);
  } else if (bits != 0) {
    poll_again(fd, watch, static_cast<unsigned>(result));
  }
}

// Makes the running multishot request for `fd`, which completed with `revents`, poll at the next
// submission: by an update, or by a replacement when the socket hung up or failed.
void IoUringBackend::poll_again(int fd, Watch& watch, unsigned revents) {
  if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
    watch.replace = true;
  } else {
    watch.recheck = true;
  }
  mark_changed(fd, watch);
}

BackendInfo io_uring_backend_info() {
  return {
      .name = "io_uring",
      .loop = LoopKind::socket_action,
      .description = "io_uring(7) poll requests (multishot from Linux 5.13), submitted with the wait",
      .descriptor_limit = -1,
      .probe = probe_io_uring,
      .create = [] { return std::make_unique<IoUringBackend>(); },
  };
}

}  // namespace sockaction
