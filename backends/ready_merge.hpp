// Merging of readiness for the backends whose loops call back once per direction (libuv,
// libevent, Boost.Asio), so read and write readiness of one socket seen in the same wait() end
// up in one ReadyEvent, as the driver expects.
#pragma once

#include "core/backend.hpp"

#include <cstdint>
#include <vector>

namespace sockaction {

// The position of a socket's event of the current wait() in the output vector.
struct ReadySlot {
  std::uint64_t wait = 0;     // the wait() that last reported the socket, by its number
  std::size_t position = 0;   // its entry in that wait's output
};

// Adds `bits` for `fd` to `ready`, merging them into the socket's entry when wait number
// `wait` has reported it already.
inline void merge_ready(std::vector<ReadyEvent>& ready, ReadySlot& slot, std::uint64_t wait,
                        int fd, int bits) {
  if (slot.wait == wait) {
    ready[slot.position].events |= bits;
    return;
  }
  slot.wait = wait;
  slot.position = ready.size();
  ready.push_back({fd, bits});
}

}  // namespace sockaction
