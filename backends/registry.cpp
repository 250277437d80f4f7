#include "backends/registry.hpp"

#include "backends/poll_backend.hpp"
#include "backends/select_backend.hpp"
#if SOCKACTION_HAVE_EPOLL
#include "backends/epoll_backend.hpp"
#endif
#if SOCKACTION_HAVE_IO_URING
#include "backends/io_uring_backend.hpp"
#endif
#if SOCKACTION_HAVE_KQUEUE
#include "backends/kqueue_backend.hpp"
#endif
#if SOCKACTION_HAVE_LIBUV
#include "backends/libuv_backend.hpp"
#endif
#if SOCKACTION_HAVE_LIBEVENT
#include "backends/libevent_backend.hpp"
#endif
#if SOCKACTION_HAVE_ASIO
#include "backends/asio_backend.hpp"
#endif

#include <curl/curl.h>

namespace sockaction {
namespace {

BackendInfo multi_poll_info() {
  return {
      .name = "multi_poll",
      .loop = LoopKind::multi_poll,
      .description = "baseline: libcurl's own curl_multi_perform plus curl_multi_poll",
      .descriptor_limit = -1,
      .probe = [] { return Availability{true, ""}; },
      .create = [] { return std::unique_ptr<Backend>(); },
  };
}

// An entry for a backend this build left out, so lists and skipped tests show the reason.
BackendInfo left_out(std::string name, std::string reason) {
  return {
      .name = name,
      .loop = LoopKind::socket_action,
      .description = "not built",
      .descriptor_limit = -1,
      .probe = [reason] { return Availability{false, reason}; },
      .create = [name]() -> std::unique_ptr<Backend> {
        throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                                name + " is not built into this binary");
      },
  };
}

std::vector<BackendInfo> make_backends() {
  std::vector<BackendInfo> backends;
  backends.push_back(multi_poll_info());
  backends.push_back(select_backend_info());
  backends.push_back(poll_backend_info());
#if SOCKACTION_HAVE_EPOLL
  backends.push_back(epoll_backend_info());
#else
  backends.push_back(left_out("epoll", "epoll is Linux-only and sys/epoll.h was not found"));
#endif
#if SOCKACTION_HAVE_IO_URING
  backends.push_back(io_uring_backend_info());
#else
  backends.push_back(left_out("io_uring", SOCKACTION_IO_URING_MISSING));
#endif
#if SOCKACTION_HAVE_KQUEUE
  backends.push_back(kqueue_backend_info());
#else
  backends.push_back(left_out("kqueue", SOCKACTION_KQUEUE_MISSING));
#endif
#if SOCKACTION_HAVE_LIBUV
  backends.push_back(libuv_backend_info());
#else
  backends.push_back(left_out("libuv", SOCKACTION_LIBUV_MISSING));
#endif
#if SOCKACTION_HAVE_LIBEVENT
  backends.push_back(libevent_backend_info());
#else
  backends.push_back(left_out("libevent", SOCKACTION_LIBEVENT_MISSING));
#endif
#if SOCKACTION_HAVE_ASIO
  backends.push_back(asio_backend_info());
#else
  backends.push_back(left_out("asio", SOCKACTION_ASIO_MISSING));
#endif
  return backends;
}

}  // namespace

const std::vector<BackendInfo>& all_backends() {
  static const std::vector<BackendInfo> backends = make_backends();
  return backends;
}

const BackendInfo* find_backend(std::string_view name) {
  for (const auto& backend : all_backends()) {
    if (backend.name == name) return &backend;
  }
  return nullptr;
}

std::string backend_names() {
  std::string names;
  for (const auto& backend : all_backends()) {
    if (!names.empty()) names += ", ";
    names += backend.name;
  }
  return names;
}

}  // namespace sockaction
