// The interface every event mechanism implements, and what the driver needs to know about it.
//
// A backend only waits: it keeps a set of watched descriptors with a read and/or write interest,
// and one wait() call blocks until some are ready or the timeout passes. Three families fit:
//   - readiness loops (select, poll, epoll, kqueue) map wait() to one system call;
//   - completion rings (io_uring) queue poll requests and submit them with the wait;
//   - loops that own their run function (libuv, libevent, Boost.Asio) run one iteration with a
//     timer of their own for the timeout, and collect what their callbacks report.
// The driver (core/driver.hpp) owns the libcurl side and the deadline; backends never call libcurl.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sockaction {

// Directions a descriptor is watched for. The values are libcurl's CURL_POLL_IN, CURL_POLL_OUT
// and CURL_POLL_INOUT, so a socket callback's `what` converts directly.
enum class Interest : int { read = 1, write = 2, read_write = 3 };

inline bool wants_read(Interest interest) { return (static_cast<int>(interest) & 1) != 0; }
inline bool wants_write(Interest interest) { return (static_cast<int>(interest) & 2) != 0; }

// Bits of a ready descriptor. The values are libcurl's CURL_CSELECT_IN, CURL_CSELECT_OUT and
// CURL_CSELECT_ERR, so `ReadyEvent::events` is the mask curl_multi_socket_action takes.
enum ReadyBits : int { ready_read = 1, ready_write = 2, ready_error = 4 };

struct ReadyEvent {
  int fd = -1;
  int events = 0;  // ReadyBits; never 0 for an event a backend reports
};

// Work a backend has done since it was created, for the per-request figures in reports.
struct BackendCounters {
  std::uint64_t waits = 0;         // wait() calls
  std::uint64_t system_calls = 0;  // kernel entries made by watch(), unwatch() and wait()
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;

  // Starts watching `fd`, or replaces its interest if it is watched already. Returns an error
  // instead of throwing, because the driver calls it from inside libcurl's socket callback.
  virtual std::error_code watch(int fd, Interest interest) = 0;

  // Stops watching `fd`. libcurl's CURL_POLL_REMOVE comes before it closes the socket, but a
  // backend must also accept an fd that is already closed and treat that as done.
  virtual std::error_code unwatch(int fd) = 0;

  // Called right after the owner opens the socket `fd`. The driver calls it from libcurl's
  // CURLOPT_OPENSOCKETFUNCTION. Any state the backend still keeps for this number belongs to an
  // earlier descriptor that was closed without closing(), and is dropped here.
  virtual void opened(int /*fd*/) {}

  // Called just before the owner closes `fd`, whether or not it is watched; the driver calls it
  // from libcurl's CURLOPT_CLOSESOCKETFUNCTION. After the close, the number may belong to
  // another thread's new socket, so a backend that defers kernel work for `fd` finishes or drops
  // it here.
  // A backend may rely on this only for a number announced with opened() and last watched for
  // read: unwatched and watched again without closing() in between, it is still the same socket.
  // libcurl 7.88.1 closes other descriptors it passes to the socket callback by itself: its
  // threaded resolver's socketpair, and a happy-eyeballs loser, which it opened through
  // CURLOPT_OPENSOCKETFUNCTION but only ever watched for write. Their numbers can come back as
  // new sockets (AnnouncedSockets::may_park).
  virtual void closing(int /*fd*/) {}

  // Blocks until a watched descriptor is ready or `timeout_ms` passes (-1: no timeout, 0: do not
  // block), then appends one ReadyEvent per ready descriptor to `ready`. A wait interrupted by a
  // signal returns with no events rather than an error.
  virtual std::error_code wait(int timeout_ms, std::vector<ReadyEvent>& ready) = 0;

  virtual BackendCounters counters() const = 0;

  // Highest descriptor number plus one that watch() accepts, or -1 for no limit of its own.
  // watch() returns std::errc::value_too_large for a descriptor at or above it.
  virtual int descriptor_limit() const { return -1; }
};

}  // namespace sockaction
