#include "core/transfer_pool.hpp"

#include "core/body_pattern.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <span>

namespace sockaction {

using Clock = std::chrono::steady_clock;

struct TransferPool::Slot {
  TransferPool* pool = nullptr;
  EasyHandle easy;
  bool in_multi = false;
  Clock::time_point started_at;
  std::uint64_t bytes = 0;
  std::uint32_t crc = 0;
};

TransferPool::TransferPool(CURLM* multi, const WorkloadSpec& spec, RunStats& stats,
                           std::uint64_t& progress, Backend* backend)
    : multi_(multi), spec_(spec), stats_(stats), progress_(progress), backend_(backend) {
  stats_.results.reserve(spec_.transfers);
  // The default cap is 4 times the easy handles added (CURLMOPT_MAXCONNECTS(3)), below C when a
  // wait ends most transfers before refill(). libcurl then closed idle connections: 30 % fewer
  // requests/s at C=64.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(spec_.concurrency));
}

TransferPool::~TransferPool() {
  for (auto& slot : slots_) {
    if (slot->in_multi) curl_multi_remove_handle(multi_, slot->easy.get());
  }
}

std::size_t TransferPool::on_body(char* data, std::size_t size, std::size_t count, void* opaque) {
  auto& slot = *static_cast<Slot*>(opaque);
  const std::size_t length = size * count;
  if (slot.pool->spec_.expect_pattern_body) {
    slot.crc = crc32c_update(slot.crc, std::as_bytes(std::span(data, length)));
  }
  slot.bytes += length;
  ++slot.pool->progress_;
  return length;
}

// Opens the socket as libcurl would, then announces it to the backend, which may then keep it
// registered while it idles in libcurl's connection cache. Backend::closing() lists the
// exceptions.
curl_socket_t TransferPool::on_open_socket(void* backend, curlsocktype, curl_sockaddr* address) {
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  static_cast<Backend*>(backend)->opened(fd);
  return fd;
}

int TransferPool::on_close_socket(void* backend, curl_socket_t fd) {
  static_cast<Backend*>(backend)->closing(fd);
  return close(fd);
}

std::optional<std::string> TransferPool::configure(Slot& slot) {
  CURL* easy = slot.easy.get();
  if (backend_ && (curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION,
                                    &TransferPool::on_open_socket) != CURLE_OK ||
                   curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, backend_) != CURLE_OK ||
                   curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
                                    &TransferPool::on_close_socket) != CURLE_OK ||
                   curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, backend_) != CURLE_OK)) {
    return std::string(
        "curl_easy_setopt(CURLOPT_OPENSOCKETFUNCTION or CURLOPT_CLOSESOCKETFUNCTION) failed");
  }
  const bool ok =
      curl_easy_setopt(easy, CURLOPT_URL, spec_.url.c_str()) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &TransferPool::on_body) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &slot) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_PRIVATE, &slot) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
      // An http_proxy in the environment must not send loopback benchmarks elsewhere.
      curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, spec_.reuse_connections ? 0L : 1L) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, spec_.timeout_ms) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, spec_.connect_timeout_ms) == CURLE_OK;
  if (!ok) return "curl_easy_setopt failed while configuring a transfer for " + spec_.url;
  return std::nullopt;
}

std::optional<std::string> TransferPool::launch(Slot& slot) {
  slot.bytes = 0;
  slot.crc = 0;
  slot.started_at = Clock::now();
  if (CURLMcode code = curl_multi_add_handle(multi_, slot.easy.get()); code != CURLM_OK) {
    return std::string("curl_multi_add_handle failed: ") + curl_multi_strerror(code);
  }
  slot.in_multi = true;
  ++started_;
  return std::nullopt;
}

std::optional<std::string> TransferPool::start() {
  const std::size_t count = std::min<std::size_t>(spec_.transfers, spec_.concurrency);
  for (std::size_t i = 0; i < count; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->pool = this;
    slot->easy.reset(curl_easy_init());
    if (!slot->easy) return "curl_easy_init failed (out of memory?)";
    if (auto error = configure(*slot)) return error;
    slots_.push_back(std::move(slot));
    if (auto error = launch(*slots_.back())) return error;
  }
  return std::nullopt;
}

void TransferPool::record(Slot& slot, CURLcode code) {
  TransferResult result;
  result.code = code;
  curl_easy_getinfo(slot.easy.get(), CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_getinfo(slot.easy.get(), CURLINFO_NUM_CONNECTS, &result.connects);
  result.bytes = slot.bytes;
  result.crc32c = slot.crc;
  result.latency = Clock::now() - slot.started_at;
  check_transfer(spec_, result);

  stats_.body_bytes += slot.bytes;
  ++(result.ok ? stats_.transfers_done : stats_.transfers_failed);
  stats_.results.push_back(std::move(result));
  ++finished_;
  ++progress_;
}

std::optional<std::string> TransferPool::drain_finished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    Slot* slot = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &slot);
    const CURLcode code = message->data.result;  // `message` is invalid after remove_handle

    curl_multi_remove_handle(multi_, slot->easy.get());
    slot->in_multi = false;
    record(*slot, code);
    free_slots_.push_back(slot);
  }
  return std::nullopt;
}

std::optional<std::string> TransferPool::refill() {
  for (Slot* slot : free_slots_) {
    if (started_ == spec_.transfers) break;
    if (auto error = launch(*slot)) return error;
  }
  free_slots_.clear();
  return std::nullopt;
}

}  // namespace sockaction
