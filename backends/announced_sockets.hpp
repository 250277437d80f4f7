// The descriptor numbers announced with Backend::opened() and not yet passed to
// Backend::closing(), and which of them may stay registered while unwatched.
#pragma once

#include "core/backend.hpp"

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

  // Whether `fd`, unwatched after libcurl last asked for `last_interest`, may stay registered:
  // announced, and last watched for read, as a keep-alive connection is after its response.
  // Any other number may name a new socket after unwatch(). libcurl 7.88.1 closes sockets it did
  // not announce by itself (its threaded resolver's socketpair), and it closes a happy-eyeballs
  // loser, announced but only ever watched for write, without CURLOPT_CLOSESOCKETFUNCTION and
  // before its CURL_POLL_REMOVE.
  bool may_park(int fd, Interest last_interest) const {
    return contains(fd) && wants_read(last_interest);
  }

 private:
  std::vector<bool> announced_;  // indexed by descriptor number
};

}  // namespace sockaction
