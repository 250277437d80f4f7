// Differential conformance of a Backend against poll(2).
//
// A sequence of operations drives a pool of AF_UNIX socketpairs and one fresh Backend. After each
// operation, or each group joined by same_turn, the engine collects what the backend reports with
// wait(0) and compares it with what poll(2) reports for the same descriptors and interests. The
// rules the comparison applies are listed at run_differential().
#pragma once

#include "backends/registry.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockaction::differential {

// Socketpairs in the pool. Operation::slot picks one of them.
inline constexpr std::size_t pool_size = 8;

// Local ends are announced with Backend::opened() when created, and closed after
// Backend::closing(), as the driver does for libcurl's connection sockets, except in two slots.
// They stand for the descriptors libcurl closes by itself, such as the socketpair of 7.88.1's
// threaded resolver, whose number the next socket can take at once:
//   - the local end of resolver_slot is never announced. A close unwatches it first, as libcurl's
//     CURL_POLL_REMOVE does, even in close_unwatched_and_reuse, and the new end is not announced
//     either.
//   - the local end of handover_slot starts unannounced, and a close passes it to a new end that
//     is announced, as a connection socket that takes the resolver's number. The close after that
//     goes through closing() and passes the number to an unannounced end again.
inline constexpr std::size_t resolver_slot = pool_size - 1;
inline constexpr std::size_t handover_slot = pool_size - 2;

// wait(0) calls the oracle makes at most after one operation before it calls a ready descriptor
// missing. Loops that own their run function (libuv, Boost.Asio) may deliver an event only on the
// iteration after the one that noticed it, so one call is not always enough. Every call is
// checked for wrong reports on its own, and the union of the calls must equal poll(2)'s result.
inline constexpr int max_waits_per_check = 3;

// One step of a sequence. "local" is the end the backend watches, as libcurl's socket would be,
// and "peer" is the other end, which plays the server.
enum class OpKind : std::uint8_t {
  watch_read,        // backend.watch(local, Interest::read)
  watch_write,       // backend.watch(local, Interest::write)
  watch_read_write,  // backend.watch(local, Interest::read_write)
  unwatch,           // backend.unwatch(local)
  peer_write,        // the peer sends `value` bytes, fewer if its send buffer fills
  peer_read_all,     // the peer reads until EAGAIN, which drains what the local end sent
  local_write_fill,  // the local end sends until EAGAIN, so it stops being writable
  local_read_all,    // the local end reads until EAGAIN or end of file
  peer_shutdown_write,  // shutdown(peer, SHUT_WR): the local end reads end of file
  peer_close,           // close(peer): poll(2) on the local end reports POLLHUP, and POLLERR if
                        // the local end had sent data the peer never read
  local_shutdown_write,  // shutdown(local, SHUT_WR)
  // backend.unwatch(local) as libcurl's CURL_POLL_REMOVE does, then both ends are replaced by a
  // new socketpair whose local end has the same descriptor number. The new local end is left
  // unwatched. See resolver_slot for which closes call closing() and which new ends opened().
  close_and_reuse,
  // The same replacement without unwatch() first, which a driver that follows libcurl's
  // CURL_POLL_REMOVE never does. The backend still has the old interest registered for a
  // descriptor number that now names another socket.
  close_unwatched_and_reuse,
  // Ignores the slot. No check follows this operation or the next one, so the next operation and
  // the one after it reach the backend in one loop turn, as the socket callbacks made within one
  // curl_multi_socket_action call do. A backend that defers interest changes to the next wait,
  // as the epoll backend does, applies several changes at once only in such a turn.
  same_turn,
};

inline constexpr std::size_t op_kind_count = static_cast<std::size_t>(OpKind::same_turn) + 1;

struct Operation {
  OpKind kind = OpKind::watch_read;
  std::uint8_t slot = 0;     // below pool_size
  std::uint16_t value = 0;   // byte count for peer_write; 0 for every other kind

  friend bool operator==(const Operation&, const Operation&) = default;
};

// Name of `kind` as format_operations() writes it, for example "peer_write".
std::string_view op_kind_name(OpKind kind);

// Decodes fuzzer input. Every byte string decodes: an operation takes two bytes (kind, slot) and
// peer_write two more for its byte count, taken modulo the valid ranges (same_turn gets slot 0).
// Trailing bytes that do not complete an operation are ignored.
std::vector<Operation> decode_operations(std::span<const std::uint8_t> bytes);

// Returns `count` operations drawn from a generator seeded with `seed`. The same seed gives the
// same sequence on every platform.
std::vector<Operation> random_operations(std::uint64_t seed, std::size_t count);

// Writes one operation per line: the kind name, the slot and, for peer_write or any non-zero
// value, the value. parse_operations() reads it back.
std::string format_operations(std::span<const Operation> ops);

// Parses format_operations() output. Blank lines and lines starting with '#' are skipped.
// Returns nothing when a line names an unknown kind, a slot at or above pool_size, a value above
// 65535, or has extra fields.
std::optional<std::vector<Operation>> parse_operations(std::string_view text);

struct Mismatch {
  std::size_t step = 0;  // index of the operation after which the check failed
  // Names the backend, the step and its operation, the descriptor, and expected versus reported
  // bits together with poll(2)'s revents.
  std::string description;
};

// What the oracle saw for one slot after one step, for tests that check their scenario did what
// it claims. poll and report fields stay 0 after a step that was not checked.
struct SlotObservation {
  int fd = -1;                           // the local end's descriptor number
  std::optional<Interest> interest;      // as the engine's bookkeeping has it; empty: unwatched
  bool stale = false;                    // closed without unwatch() and not unwatched since
  short revents = 0;                     // poll(2) on the local end with that interest
  int required = 0;                      // ReadyBits the backend had to report
  int reported = 0;                      // ReadyBits the backend reported, unioned over the waits
};

struct StepObservation {
  bool checked = false;                // false after same_turn and the operation following it
  std::vector<SlotObservation> slots;  // pool_size entries, indexed by slot
};

// Applies `ops` to a fresh instance of `backend` and to the engine's own bookkeeping. After every
// step (except those that same_turn exempts, but always after the last one) it calls wait(0) on
// the backend, up to max_waits_per_check times, and compares the reports with poll(2) on the
// watched local ends:
//   - An fd watched with interest I must be reported with exactly these read and write bits:
//     read when I has read and poll shows POLLIN or POLLHUP, write when I has write and poll
//     shows POLLOUT.
//   - The error bit is optional, allowed only when poll shows POLLERR, POLLNVAL or POLLHUP.
//   - While poll shows POLLERR, POLLNVAL or POLLHUP, the read and write bits within I are also
//     allowed, because any read or write then returns at once. select(2) reports a pending error
//     as readable and writable, and libevent 2.1 (epoll.c) and Boost.Asio (epoll_reactor) report
//     EPOLLHUP and EPOLLERR as both.
//   - An fd that is not watched must never be reported, no fd may appear twice in one wait()
//     call, and no event may have zero bits.
//   - After close_unwatched_and_reuse, and until the next unwatch() of that fd, the fd is stale:
//     nothing is required, but a report must still fit the rules above for the new socket under
//     the interest last watched. So a backend that tracks only numbers (select, poll) may report
//     the new socket, and one that reports the old socket's readiness (the old end was readable,
//     the new one is not) fails. A watch() in between is not enough to clear the state, because
//     the Backend contract only covers unwatch() of a closed fd, and a backend that caches its
//     registration, as the epoll backend does, cannot see that the number names another socket.
//   - watch(), unwatch() and wait() must not return an error.
// Returns the first disagreement, or nothing when the backend agreed at every step.
// Throws std::system_error when the harness itself fails (socketpair, or a send or recv error
// other than EAGAIN, EPIPE or ECONNRESET) or create() throws, and std::invalid_argument for a slot
// at or above pool_size or a backend without a Backend object (multi_poll). Aborts the process,
// after printing the sequence, when one wait(0) does not return within 10 s (wait_watchdog.hpp).
std::optional<Mismatch> run_differential(const BackendInfo& backend, std::span<const Operation> ops);

// The same, and appends one StepObservation per step to `observations`. A failing step may have
// none.
std::optional<Mismatch> run_differential(const BackendInfo& backend, std::span<const Operation> ops,
                                         std::vector<StepObservation>& observations);

// Shrinks a failing sequence by delta debugging: it drops ever smaller chunks, then single
// operations, keeping each removal after which run_differential() still reports a mismatch (not
// necessarily the same one). The result fails and no single operation can be removed from it
// without it passing. A sequence that passes is returned unchanged.
std::vector<Operation> minimize(const BackendInfo& backend, std::vector<Operation> ops);

}  // namespace sockaction::differential
