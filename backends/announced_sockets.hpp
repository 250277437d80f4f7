// The descriptor numbers announced with Backend::opened() and not yet passed to
// Backend::closing(). Only these may stay registered while unwatched, because their owner calls
// closing() before it closes them. Any other number may name a new socket after unwatch().
#pragma once

#include <cstddef>
#include <vector>

namespace sockaction {

class AnnouncedSockets {
 public:
  void add(int fd) {
    if (fd < 0) return;
    if (static_cast<std::size_t>(fd) >= announced_.size()) announced_.resize(fd + 1);
    announced_[fd] = true;
  }

  void remove(int fd) {
    if (contains(fd)) announced_[fd] = false;
  }

  bool contains(int fd) const {
    return fd >= 0 && static_cast<std::size_t>(fd) < announced_.size() && announced_[fd];
  }

 private:
  std::vector<bool> announced_;  // indexed by descriptor number
};

}  // namespace sockaction
