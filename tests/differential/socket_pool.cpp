#include "tests/differential/socket_pool.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sockaction::differential {
namespace {

// Requested SO_SNDBUF of both ends. Linux doubles it and enforces a minimum of a few KiB, so
// local_write_fill() reaches EAGAIN after a few writes instead of the default 200 KiB or so.
constexpr int send_buffer_bytes = 4096;

// Bytes per send() or recv() call.
constexpr std::size_t chunk_bytes = 4096;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::array<int, 2> make_socketpair() {
  std::array<int, 2> ends{};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends.data()) != 0) {
    throw_errno("socketpair");
  }
  for (int fd : ends) {
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer_bytes, sizeof send_buffer_bytes) != 0) {
      const int saved = errno;
      close(ends[0]);
      close(ends[1]);
      errno = saved;
      throw_errno("setsockopt(SO_SNDBUF)");
    }
  }
  return ends;
}

// Sends up to `bytes` bytes, or until the socket's send buffer is full when `bytes` is 0.
// Stops at EAGAIN, and at EPIPE or ECONNRESET, which mean the other end is gone or shut down.
void send_until_blocked(int fd, std::size_t bytes) {
  static const std::array<char, chunk_bytes> data = [] {
    std::array<char, chunk_bytes> filled{};
    filled.fill('x');
    return filled;
  }();
  const bool fill = bytes == 0;
  while (fill || bytes > 0) {
    const std::size_t size = fill ? data.size() : std::min(bytes, data.size());
    const ssize_t sent = send(fd, data.data(), size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EPIPE || errno == ECONNRESET) return;
      throw_errno("send");
    }
    if (!fill) bytes -= static_cast<std::size_t>(sent);
  }
}

// Reads until EAGAIN or end of file. ECONNRESET consumes the socket's pending error, and the
// loop goes on to read what is left.
void receive_all(int fd) {
  std::array<char, chunk_bytes> buffer;
  while (true) {
    const ssize_t received = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (received == 0) return;
    if (received > 0) continue;
    if (errno == EINTR || errno == ECONNRESET) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    throw_errno("recv");
  }
}

}  // namespace

SocketPool::SocketPool() {
  try {
    for (Pair& pair : slots_) {
      const std::array<int, 2> ends = make_socketpair();
      pair = {ends[0], ends[1]};
    }
  } catch (...) {
    for (Pair& pair : slots_) {
      if (pair.local >= 0) close(pair.local);
      if (pair.peer >= 0) close(pair.peer);
    }
    throw;
  }
}

SocketPool::~SocketPool() {
  for (Pair& pair : slots_) {
    close(pair.local);
    if (pair.peer >= 0) close(pair.peer);
  }
}

void SocketPool::peer_write(std::size_t slot, std::size_t bytes) {
  if (slots_[slot].peer < 0 || bytes == 0) return;
  send_until_blocked(slots_[slot].peer, bytes);
}

void SocketPool::peer_read_all(std::size_t slot) {
  if (slots_[slot].peer < 0) return;
  receive_all(slots_[slot].peer);
}

void SocketPool::local_write_fill(std::size_t slot) { send_until_blocked(slots_[slot].local, 0); }

void SocketPool::local_read_all(std::size_t slot) { receive_all(slots_[slot].local); }

void SocketPool::peer_shutdown_write(std::size_t slot) {
  if (slots_[slot].peer < 0) return;
  if (shutdown(slots_[slot].peer, SHUT_WR) != 0 && errno != ENOTCONN) throw_errno("shutdown(peer)");
}

void SocketPool::peer_close(std::size_t slot) {
  if (slots_[slot].peer < 0) return;
  close(slots_[slot].peer);
  slots_[slot].peer = -1;
}

void SocketPool::local_shutdown_write(std::size_t slot) {
  if (shutdown(slots_[slot].local, SHUT_WR) != 0 && errno != ENOTCONN) throw_errno("shutdown(local)");
}

void SocketPool::replace_keeping_number(std::size_t slot) {
  Pair& pair = slots_[slot];
  const std::array<int, 2> ends = make_socketpair();
  if (dup3(ends[0], pair.local, O_CLOEXEC) < 0) {
    const int saved = errno;
    close(ends[0]);
    close(ends[1]);
    errno = saved;
    throw_errno("dup3");
  }
  close(ends[0]);
  if (pair.peer >= 0) close(pair.peer);
  pair.peer = ends[1];
}

}  // namespace sockaction::differential
