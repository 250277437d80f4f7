#include "fuzz/event_sequence/transfers.hpp"

#include "fuzz/common/feedback.hpp"

namespace sockaction::fuzz::event_sequence {
namespace {

// libcurl waits this long for a 100 Continue before it sends a request body anyway. The default
// of one second would make a run wait in real time.
constexpr long expect_continue_timeout_ms = 20;

const char* status_name(TransferStatus status) {
  switch (status) {
    case TransferStatus::not_added: return "not added";
    case TransferStatus::in_multi: return "in flight";
    case TransferStatus::done: return "done";
    case TransferStatus::aborted: return "aborted";
  }
  return "?";
}

bool set_all(CURL* easy, const Transfer& transfer, FakeServer& server) {
  const TransferOptions& options = transfer.options;
  // The host is a literal address, so nothing is resolved, and open_socket() hands libcurl a
  // connected socketpair, so port 1 is never contacted.
  const std::string url = "http://127.0.0.1:1/transfer/" + std::to_string(transfer.index);
  bool ok = curl_easy_setopt(easy, CURLOPT_URL, url.c_str()) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &FakeServer::open_socket) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &server) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, &FakeServer::report_connected) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, &server) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &FakeServer::close_socket) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &server) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_EXPECT_100_TIMEOUT_MS, expect_continue_timeout_ms) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, options.reuse ? 0L : 1L) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_NOBODY, options.head ? 1L : 0L) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_FAILONERROR, options.fail_on_error ? 1L : 0L) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_IGNORE_CONTENT_LENGTH,
                             options.ignore_content_length ? 1L : 0L) == CURLE_OK &&
            curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                             options.http10 ? CURL_HTTP_VERSION_1_0 : CURL_HTTP_VERSION_1_1) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
  ok = ok && curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http") == CURLE_OK;
#else
  ok = ok && curl_easy_setopt(easy, CURLOPT_PROTOCOLS, CURLPROTO_HTTP) == CURLE_OK;
#endif
  if (transfer.state->trace) ok = ok && curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L) == CURLE_OK;
  if (options.timeout) ok = ok && curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, options.timeout_ms()) == CURLE_OK;
  if (options.small_buffer) ok = ok && curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 1024L) == CURLE_OK;
  // Content decoding needs zlib or brotli in libcurl; without them the option fails, harmlessly.
  if (options.accept_encoding) (void)curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  return ok;
}

bool set_upload(CURL* easy, const Transfer& transfer) {
  switch (transfer.options.upload) {
    case UploadKind::none:
      return true;
    case UploadKind::put_sized:
      return curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
             curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
                              static_cast<curl_off_t>(transfer.upload.size())) == CURLE_OK;
    case UploadKind::put_chunked:
      return curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L) == CURLE_OK;
    case UploadKind::post_fields:
      return curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                              static_cast<curl_off_t>(transfer.upload.size())) == CURLE_OK &&
             curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, transfer.upload.c_str()) == CURLE_OK;
  }
  return false;
}

}  // namespace

TransferSet::TransferSet(RunState& state, FakeServer& server, CURLM* multi,
                         const std::vector<TransferOptions>& options)
    : state_(state), multi_(multi) {
  for (const TransferOptions& transfer_options : options) {
    auto transfer = std::make_unique<Transfer>();
    transfer->index = transfers_.size();
    transfer->options = transfer_options;
    transfer->state = &state;
    for (std::size_t i = 0; i < transfer_options.upload_bytes(); ++i) {
      transfer->upload.push_back(static_cast<char>('A' + (i + transfer->index) % 26));
    }
    configure(*transfer, server);
    transfers_.push_back(std::move(transfer));
  }
}

TransferSet::~TransferSet() {
  for (auto& transfer : transfers_) {
    if (transfer->status == TransferStatus::in_multi) {
      curl_multi_remove_handle(multi_, transfer->easy.get());
    }
  }
}

void TransferSet::configure(Transfer& transfer, FakeServer& server) {
  transfer.easy.reset(curl_easy_init());
  if (!transfer.easy) state_.fail("harness-setup", "curl_easy_init failed");
  CURL* easy = transfer.easy.get();
  const bool ok =
      set_all(easy, transfer, server) && set_upload(easy, transfer) &&
      curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &TransferSet::on_write) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &TransferSet::on_header) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_READFUNCTION, &TransferSet::on_read) == CURLE_OK &&
      curl_easy_setopt(easy, CURLOPT_READDATA, &transfer) == CURLE_OK;
  if (!ok) {
    state_.fail("harness-setup", "curl_easy_setopt failed for transfer " + std::to_string(transfer.index));
  }
}

std::size_t TransferSet::on_write(char*, std::size_t size, std::size_t count, void* opaque) {
  auto& transfer = *static_cast<Transfer*>(opaque);
  ++transfer.state->progress;
  if (transfer.options.pause_in_write && !transfer.paused_in_write && !transfer.state->faithful) {
    transfer.paused_in_write = true;
    SOCKACTION_FUZZ_TRACE(*transfer.state, "transfer %zu: write callback pauses", transfer.index);
    return CURL_WRITEFUNC_PAUSE;
  }
  return size * count;
}

std::size_t TransferSet::on_header(char*, std::size_t size, std::size_t count, void* opaque) {
  ++static_cast<Transfer*>(opaque)->state->progress;
  return size * count;
}

std::size_t TransferSet::on_read(char* buffer, std::size_t size, std::size_t count, void* opaque) {
  auto& transfer = *static_cast<Transfer*>(opaque);
  ++transfer.state->progress;
  if (transfer.options.pause_in_read && !transfer.paused_in_read && !transfer.state->faithful) {
    transfer.paused_in_read = true;
    SOCKACTION_FUZZ_TRACE(*transfer.state, "transfer %zu: read callback pauses", transfer.index);
    return CURL_READFUNC_PAUSE;
  }
  const std::size_t length = std::min(size * count, transfer.upload.size() - transfer.upload_sent);
  std::copy_n(transfer.upload.data() + transfer.upload_sent, length, buffer);
  transfer.upload_sent += length;
  return length;
}

void TransferSet::add_transfer(Transfer& transfer) {
  if (transfer.status != TransferStatus::not_added) return;
  SOCKACTION_FUZZ_TRACE(state_, "transfer %zu: add", transfer.index);
  if (CURLMcode code = curl_multi_add_handle(multi_, transfer.easy.get()); code != CURLM_OK) {
    state_.fail("harness-setup", std::string("curl_multi_add_handle failed: ") + curl_multi_strerror(code));
  }
  transfer.status = TransferStatus::in_multi;
}

void TransferSet::add_undeferred() {
  for (auto& transfer : transfers_) {
    if (!transfer->options.deferred) add_transfer(*transfer);
  }
}

void TransferSet::add(std::uint8_t pick) { add_transfer(at(pick)); }

void TransferSet::add_all_deferred() {
  for (auto& transfer : transfers_) add_transfer(*transfer);
}

void TransferSet::set_pause(Transfer& transfer, int bitmask) {
  if (transfer.status != TransferStatus::in_multi) return;
  SOCKACTION_FUZZ_TRACE(state_, "transfer %zu: curl_easy_pause(%d)", transfer.index, bitmask);
  // An error here (for example CURLE_WRITE_ERROR when flushing paused data fails) ends the
  // transfer through the multi handle, so it is not a harness failure.
  (void)curl_easy_pause(transfer.easy.get(), bitmask);
}

void TransferSet::pause(std::uint8_t pick, PauseDirection direction) {
  Transfer& transfer = at(pick);
  const int bitmask = direction == PauseDirection::recv   ? CURLPAUSE_RECV
                      : direction == PauseDirection::send ? CURLPAUSE_SEND
                                                          : CURLPAUSE_ALL;
  set_pause(transfer, bitmask);
  if (transfer.status == TransferStatus::in_multi) transfer.paused_by_step = true;
}

void TransferSet::unpause(std::uint8_t pick) {
  Transfer& transfer = at(pick);
  set_pause(transfer, CURLPAUSE_CONT);
  transfer.paused_by_step = false;
}

void TransferSet::unpause_all() {
  for (auto& transfer : transfers_) {
    const bool paused = transfer->paused_by_step || transfer->paused_in_write || transfer->paused_in_read;
    if (paused) set_pause(*transfer, CURLPAUSE_CONT);
    transfer->paused_by_step = false;
  }
}

void TransferSet::abort(std::uint8_t pick) {
  Transfer& transfer = at(pick);
  if (transfer.status != TransferStatus::in_multi) return;
  SOCKACTION_FUZZ_TRACE(state_, "transfer %zu: abort (curl_multi_remove_handle)", transfer.index);
  if (CURLMcode code = curl_multi_remove_handle(multi_, transfer.easy.get()); code != CURLM_OK) {
    state_.fail("harness-abort", std::string("curl_multi_remove_handle failed: ") +
                                     curl_multi_strerror(code));
  }
  transfer.status = TransferStatus::aborted;
}

std::size_t TransferSet::drain_finished() {
  std::size_t finished = 0;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    Transfer* transfer = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
    if (transfer == nullptr) state_.fail("done-once", "a done message names an unknown easy handle");
    const CURLcode result = message->data.result;  // `message` is invalid after remove_handle

    ++transfer->done_reports;
    if (transfer->status != TransferStatus::in_multi) {
      state_.fail("done-once",
                  "transfer " + std::to_string(transfer->index) + " was reported done while " +
                      status_name(transfer->status) + " (report " +
                      std::to_string(transfer->done_reports) + ")",
                  Culprit::libcurl);
    }
    SOCKACTION_FUZZ_TRACE(state_, "transfer %zu: done, %s", transfer->index, curl_easy_strerror(result));
    long status = 0;
    curl_easy_getinfo(transfer->easy.get(), CURLINFO_RESPONSE_CODE, &status);
    note_feature(FeatureKind::transfer_result, static_cast<std::uint32_t>(result));
    note_feature(FeatureKind::response_code, static_cast<std::uint32_t>(status));
    curl_multi_remove_handle(multi_, transfer->easy.get());
    transfer->status = TransferStatus::done;
    transfer->result = result;
    ++state_.progress;
    ++finished;
  }
  return finished;
}

void TransferSet::check_running(int running) const {
  const std::size_t expected = in_flight();
  if (running < 0 || static_cast<std::size_t>(running) != expected) {
    state_.fail("running-count", "curl_multi_socket_action reported " + std::to_string(running) +
                                     " running transfers, but " + std::to_string(expected) +
                                     " were added and neither reported done nor removed",
                Culprit::libcurl);
  }
}

std::size_t TransferSet::in_flight() const {
  std::size_t count = 0;
  for (const auto& transfer : transfers_) count += transfer->status == TransferStatus::in_multi;
  return count;
}

bool TransferSet::all_finished() const {
  for (const auto& transfer : transfers_) {
    if (transfer->status == TransferStatus::in_multi || transfer->status == TransferStatus::not_added) {
      return false;
    }
  }
  return true;
}

std::string TransferSet::describe_unfinished() const {
  std::string text;
  for (const auto& transfer : transfers_) {
    if (transfer->status != TransferStatus::in_multi && transfer->status != TransferStatus::not_added) {
      continue;
    }
    if (!text.empty()) text += "; ";
    text += "transfer " + std::to_string(transfer->index) + " " + status_name(transfer->status);
    if (transfer->paused_by_step || transfer->paused_in_write || transfer->paused_in_read) {
      text += " (was paused)";
    }
  }
  return text;
}

}  // namespace sockaction::fuzz::event_sequence
