#include "fuzz/event_sequence/connect_shim.hpp"

#include <dlfcn.h>
#include <sys/socket.h>

#include <cerrno>
#include <unordered_set>

namespace sockaction::fuzz::event_sequence {
namespace {

// The fuzz targets run on one thread, so the set needs no lock.
std::unordered_set<int>& preconnected() {
  static std::unordered_set<int> descriptors;
  return descriptors;
}

}  // namespace

void register_preconnected(int fd) { preconnected().insert(fd); }
void unregister_preconnected(int fd) { preconnected().erase(fd); }

}  // namespace sockaction::fuzz::event_sequence

// An executable's definition of a libc function also binds libcurl's calls to it, because the
// dynamic linker searches the executable before libc.
extern "C" int connect(int fd, const sockaddr* address, socklen_t length) {
  using Connect = int (*)(int, const sockaddr*, socklen_t);
  if (sockaction::fuzz::event_sequence::preconnected().count(fd) != 0) return 0;
  static const auto libc_connect = reinterpret_cast<Connect>(dlsym(RTLD_NEXT, "connect"));
  if (libc_connect == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return libc_connect(fd, address, length);
}
