#include "backends/asio_backend.hpp"
#include "backends/ready_merge.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/system_error.hpp>
#include <boost/version.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <utility>

namespace sockaction {

struct AsioBackend::Watch {
  explicit Watch(boost::asio::io_context& io_context) : descriptor(io_context) {}
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  // The descriptor belongs to libcurl: release it, so the stream_descriptor's destructor does not
  // close it. release() also cancels the pending waits and removes the fd from Asio's epoll set.
  ~Watch() {
    if (descriptor.is_open()) descriptor.release();
  }

  boost::asio::posix::stream_descriptor descriptor;
  Interest interest = Interest::read;
  // Tags this socket's pending waits. It changes when they are cancelled, so that their late
  // operation_aborted completions, and those of an earlier socket with the same fd number, do
  // not count as completions of the current waits.
  std::uint64_t generation = 0;
  bool read_pending = false;
  bool write_pending = false;
  bool made_non_blocking = false;  // Asio's first async_wait sets O_NONBLOCK with ioctl FIONBIO
  bool parked = false;  // unwatched, but still assigned and unreported until closing()
  bool write_registered = false;  // a write wait added EPOLLOUT to Asio's epoll registration
  ReadySlot ready_slot;  // merges read and write readiness seen in one wait()
};

// What system_calls counts, read from Asio's source in Boost 1.81 and checked with strace. The
// epoll reactor makes one epoll_ctl in assign (ADD), in release (DEL) and in each async_wait (MOD,
// which also makes epoll report a socket that is ready already), and the first async_wait on a
// descriptor also makes an ioctl FIONBIO. Its epoll_wait calls happen inside the io_context run
// functions, where this backend cannot see them, so it counts one per run_one, run_one_until or
// poll call.
// NOTE: the epoll_wait part is an estimate. A run_one that finds a completion queued makes no
// epoll_wait, and a poll that finds new events makes more than one.

AsioBackend::AsioBackend() : work_guard_(io_context_.get_executor()) {}

AsioBackend::~AsioBackend() { watched_.clear(); }

std::error_code AsioBackend::watch(int fd, Interest interest) {
  if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);

  if (auto it = watched_.find(fd); it != watched_.end()) {
    Watch& watch = *it->second;
    // A parked descriptor belongs to this same socket, back from libcurl's connection cache.
    // Without a closing() in between, the number was not reused. Its waits may have ended while
    // it was parked, so wait() starts the missing ones.
    if (std::exchange(watch.parked, false)) to_arm_.push_back(fd);
    if (!wants_write(interest) && watch.write_registered) {
      return register_again(fd, watch, interest);
    }
    if (watch.interest == interest) return {};
    const bool drops_pending_wait = (watch.read_pending && !wants_read(interest)) ||
                                    (watch.write_pending && !wants_write(interest));
    if (drops_pending_wait) {
      // cancel() aborts the waits in both directions, and the new generation drops their
      // completions.
      boost::system::error_code ignored;
      watch.descriptor.cancel(ignored);
      watch.generation = next_generation_++;
      watch.read_pending = false;
      watch.write_pending = false;
    }
    watch.interest = interest;
    to_arm_.push_back(fd);
    return {};
  }

  auto watch = std::make_unique<Watch>(io_context_);
  boost::system::error_code error;
  ++counters_.system_calls;
  watch->descriptor.assign(fd, error);
  if (error) return {error.value(), std::generic_category()};
  watch->interest = interest;
  watch->generation = next_generation_++;
  watched_.emplace(fd, std::move(watch));
  to_arm_.push_back(fd);
  return {};
}

// Boost 1.81's epoll reactor keeps EPOLLOUT registered after the first write wait, and its
// edge-triggered epoll then wakes the loop each time an ACK frees send buffer space. So a socket
// that no longer waits for write is released and assigned again, which registers it anew. libcurl
// waits for write while it connects, so a keep-alive connection pays this once, not per request.
std::error_code AsioBackend::register_again(int fd, Watch& watch, Interest interest) {
  counters_.system_calls += 2;  // epoll_ctl DEL and ADD
  // release() also cancels the waits, and the new generation drops their completions.
  watch.descriptor.release();
  watch.generation = next_generation_++;
  watch.read_pending = false;
  watch.write_pending = false;
  watch.write_registered = false;
  watch.made_non_blocking = false;  // assign() resets Asio's record of O_NONBLOCK
  watch.interest = interest;
  boost::system::error_code error;
  watch.descriptor.assign(fd, error);
  if (error) {
    watched_.erase(fd);
    return {error.value(), std::generic_category()};
  }
  to_arm_.push_back(fd);
  return {};
}

// An unwatched socket stays assigned until closing(). libcurl unwatches a keep-alive connection
// at the end of every transfer and watches it again for the next one, and releasing and
// assigning the descriptor cost an epoll_ctl DEL, an ADD and an ioctl FIONBIO per request.
std::error_code AsioBackend::unwatch(int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return {};
  if (announced_.may_park(fd, it->second->interest)) {
    it->second->parked = true;
  } else {
    erase(it);
  }
  return {};
}

// A descriptor object still here belongs to a descriptor closed without closing(). Its release()
// meets ENOENT from epoll_ctl, which Asio ignores.
void AsioBackend::opened(int fd) {
  if (auto it = watched_.find(fd); it != watched_.end()) erase(it);
  announced_.add(fd);
}

void AsioBackend::closing(int fd) {
  announced_.remove(fd);
  if (auto it = watched_.find(fd); it != watched_.end()) erase(it);
}

// The Watch's destructor calls release(), which cancels the waits, makes one epoll_ctl DEL and
// never closes the fd. Asio ignores the EBADF of an fd that is closed already.
void AsioBackend::erase(std::unordered_map<int, std::unique_ptr<Watch>>::iterator it) {
  ++counters_.system_calls;
  watched_.erase(it);
}

// A parked socket gets no new waits. Readiness that arrives while it is parked is not lost,
// because Boost 1.81's epoll_reactor::start_op makes an epoll_ctl MOD for each wait it queues,
// and the MOD makes the edge-triggered epoll report readiness that is there already.
void AsioBackend::arm(int fd, Watch& watch) {
  if (watch.parked) return;
  if (wants_read(watch.interest) && !watch.read_pending) start_wait(fd, watch, false);
  if (wants_write(watch.interest) && !watch.write_pending) start_wait(fd, watch, true);
}

void AsioBackend::start_wait(int fd, Watch& watch, bool for_write) {
  using boost::asio::posix::stream_descriptor;
  ++counters_.system_calls;
  if (!watch.made_non_blocking) ++counters_.system_calls;
  watch.made_non_blocking = true;
  (for_write ? watch.write_pending : watch.read_pending) = true;
  if (for_write) watch.write_registered = true;
  watch.descriptor.async_wait(
      for_write ? stream_descriptor::wait_write : stream_descriptor::wait_read,
      [this, fd, generation = watch.generation, for_write](const boost::system::error_code& error) {
        on_wait_done(fd, generation, for_write, error);
      });
}

void AsioBackend::on_wait_done(int fd, std::uint64_t generation, bool for_write,
                               const boost::system::error_code& error) {
  auto it = watched_.find(fd);
  if (it == watched_.end() || it->second->generation != generation) return;  // cancelled
  Watch& watch = *it->second;
  (for_write ? watch.write_pending : watch.read_pending) = false;
  // The next wait() starts this wait again if the interest still wants it. Starting it here would
  // let io_context::poll() below find the socket ready again and again before libcurl reads it.
  to_arm_.push_back(fd);
  if (error == boost::asio::error::operation_aborted || watch.parked) return;
  if (error) {
    report(fd, watch, ready_error);
  } else {
    report(fd, watch, for_write ? ready_write : ready_read);
  }
}

void AsioBackend::report(int fd, Watch& watch, int bits) {
  if (ready_) merge_ready(*ready_, watch.ready_slot, counters_.waits, fd, bits);
}

void AsioBackend::run_handlers(int timeout_ms) {
  if (timeout_ms == 0) {
    ++counters_.system_calls;
    io_context_.poll();
    return;
  }

  const std::size_t first = ready_->size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    ++counters_.system_calls;
    const std::size_t ran =
        timeout_ms < 0 ? io_context_.run_one() : io_context_.run_one_until(deadline);
    if (ran == 0) return;  // the timeout passed and no handler is queued
    // A handler can run without reporting anything, for example a cancelled wait's completion.
    const bool timed_out = timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline;
    if (ready_->size() > first || timed_out) break;
  }
  // Run what the same epoll_wait made ready too. This also leaves no reactor event queued for a
  // socket the driver may unwatch before the next wait().
  ++counters_.system_calls;
  io_context_.poll();
}

std::error_code AsioBackend::wait(int timeout_ms, std::vector<ReadyEvent>& ready) {
  ++counters_.waits;
  for (int fd : to_arm_) {
    if (auto it = watched_.find(fd); it != watched_.end()) arm(fd, *it->second);
  }
  to_arm_.clear();

  ready_ = &ready;
  try {
    run_handlers(timeout_ms);
  } catch (const boost::system::system_error& error) {
    ready_ = nullptr;
    return {error.code().value(), std::generic_category()};
  }
  ready_ = nullptr;
  return {};
}

BackendInfo asio_backend_info() {
  return {
      .name = "asio",
      .loop = LoopKind::socket_action,
      .description = "Boost.Asio (Boost " BOOST_LIB_VERSION
                     "): posix::stream_descriptor per socket, async_wait, run_one per wait",
      .descriptor_limit = -1,
      .probe =
          [] {
            try {
              boost::asio::io_context io_context;
            } catch (const boost::system::system_error& error) {
              return Availability{false, std::string("io_context failed: ") + error.what()};
            }
            return Availability{true, ""};
          },
      .create = [] { return std::make_unique<AsioBackend>(); },
  };
}

}  // namespace sockaction
