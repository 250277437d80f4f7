// The socketpairs a differential run drives. Internal to the differential engine.
#pragma once

#include "tests/differential/differential.hpp"

#include <array>

namespace sockaction::differential {

// pool_size non-blocking AF_UNIX SOCK_STREAM socketpairs. Each slot's local end keeps its
// descriptor number for the life of the pool, also across replace_keeping_number(), so that
// reuse of a number is exercised. Every method throws std::system_error when a system call
// fails in a way the scenario does not expect.
class SocketPool {
 public:
  SocketPool();
  ~SocketPool();
  SocketPool(const SocketPool&) = delete;
  SocketPool& operator=(const SocketPool&) = delete;

  int local(std::size_t slot) const { return slots_[slot].local; }
  // -1 after peer_close() until the slot is replaced.
  int peer(std::size_t slot) const { return slots_[slot].peer; }

  void peer_write(std::size_t slot, std::size_t bytes);
  void peer_read_all(std::size_t slot);
  void local_write_fill(std::size_t slot);
  void local_read_all(std::size_t slot);
  void peer_shutdown_write(std::size_t slot);
  void peer_close(std::size_t slot);
  void local_shutdown_write(std::size_t slot);

  // Replaces both ends with a new socketpair. dup3() installs the new local end at the old local
  // number, which closes the old local end in the same call, as a close() followed by a socket()
  // that gets the lowest free number would. Doing it in one call keeps another thread (a
  // backend's, for example) from taking the number in between.
  void replace_keeping_number(std::size_t slot);

 private:
  struct Pair {
    int local = -1;
    int peer = -1;
  };

  std::array<Pair, pool_size> slots_;
};

}  // namespace sockaction::differential
