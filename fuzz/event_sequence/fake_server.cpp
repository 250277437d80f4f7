#include "fuzz/event_sequence/fake_server.hpp"

#include "fuzz/event_sequence/connect_shim.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sockaction::fuzz::event_sequence {
namespace {

// Bytes one pump() reads from a client at most, so a step's work stays bounded.
constexpr std::size_t max_read_per_pump = 64 * 1024;

// A private folder for socket names, created on first use and removed at exit. Each name is
// unlinked right after bind(), so the folder stays empty. The string is never destroyed, so the
// exit handler can still read it.
const std::string& socket_name_folder() {
  static const std::string* const folder = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* pattern = new std::string(std::string(tmp && *tmp ? tmp : "/tmp") + "/sockaction-fuzz-XXXXXX");
    if (!mkdtemp(pattern->data())) pattern->clear();
    return pattern;
  }();
  static const bool removed_at_exit = [] {
    return std::atexit([] { if (!folder->empty()) rmdir(folder->c_str()); }) == 0;
  }();
  (void)removed_at_exit;
  return *folder;
}

// Binds the server end to a file name and unlinks it again. libcurl 7.88 takes a connection's
// primary IP from getpeername(), which is empty for an unnamed AF_UNIX peer, and it never
// reuses a connection whose primary IP is empty ("is still name resolving, can't reuse").
// With a name, keep-alive reuse works as over TCP.
void name_server_end(int fd, const RunState& state) {
  static unsigned long counter = 0;
  const std::string& folder = socket_name_folder();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = folder + "/" + std::to_string(++counter);
  if (folder.empty() || path.size() >= sizeof address.sun_path) {
    state.fail("harness-socketpair", "cannot create a folder for socket names under $TMPDIR or /tmp");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    state.fail("harness-socketpair", "bind(" + path + ") failed: " + std::strerror(errno));
  }
  unlink(path.c_str());
}

}  // namespace

FakeServer::~FakeServer() {
  for (Connection& connection : connections_) {
    if (connection.server_fd >= 0) ::close(connection.server_fd);
  }
}

curl_socket_t FakeServer::open_socket(void* opaque, curlsocktype purpose, curl_sockaddr*) {
  auto& server = *static_cast<FakeServer*>(opaque);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  if (server.connections_.size() >= max_connections) {
    SOCKACTION_FUZZ_TRACE(server.state_, "open_socket: refused, %zu connections already",
                          server.connections_.size());
    return CURL_SOCKET_BAD;
  }
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) != 0) {
    server.state_.fail("harness-socketpair", std::string("socketpair failed: ") + std::strerror(errno));
  }
  name_server_end(ends[1], server.state_);
  Connection connection;
  connection.client_fd = ends[0];
  connection.server_fd = ends[1];
  connection.shut_after_output = server.state_.faithful;
  register_preconnected(ends[0]);
  server.connections_.push_back(connection);
  SOCKACTION_FUZZ_TRACE(server.state_, "open_socket: connection %zu client fd %d server fd %d",
                        server.connections_.size() - 1, ends[0], ends[1]);
  if (server.state_.faithful) server.send_output(server.connections_.back());
  if (server.after_client_open) server.after_client_open(ends[0]);
  return ends[0];
}

int FakeServer::report_connected(void*, curl_socket_t, curlsocktype) {
  return CURL_SOCKOPT_ALREADY_CONNECTED;
}

int FakeServer::close_socket(void* opaque, curl_socket_t fd) {
  auto& server = *static_cast<FakeServer*>(opaque);
  for (Connection& connection : server.connections_) {
    if (connection.client_fd != fd) continue;
    SOCKACTION_FUZZ_TRACE(server.state_, "close_socket: client fd %d", fd);
    if (server.before_client_close) server.before_client_close(fd);
    connection.closed_client_fd = fd;
    connection.client_fd = -1;
    unregister_preconnected(fd);
    return ::close(fd);
  }
  server.state_.fail("close-own-socket",
                     "libcurl asked to close fd " + std::to_string(fd) +
                         ", which open_socket never returned or which is closed already",
                     Culprit::libcurl);
}

bool FakeServer::is_client_open(int fd) const {
  for (const Connection& connection : connections_) {
    if (connection.client_fd == fd) return fd >= 0;
  }
  return false;
}

bool FakeServer::is_server_end(int fd) const {
  for (const Connection& connection : connections_) {
    if (connection.server_fd == fd) return fd >= 0;
  }
  return false;
}

std::size_t FakeServer::open_client_sockets() const {
  std::size_t count = 0;
  for (const Connection& connection : connections_) count += connection.client_fd >= 0;
  return count;
}

Connection* FakeServer::pick_open(std::uint8_t pick) {
  std::vector<Connection*> open;
  for (Connection& connection : connections_) {
    if (connection.server_fd >= 0) open.push_back(&connection);
  }
  if (open.empty()) return nullptr;
  return open[pick % open.size()];
}

int FakeServer::pick_server_end(std::uint8_t pick) const {
  std::vector<int> ends;
  for (const Connection& connection : connections_) {
    if (connection.server_fd >= 0) ends.push_back(connection.server_fd);
  }
  return ends.empty() ? -1 : ends[pick % ends.size()];
}

int FakeServer::pick_closed_client_number(std::uint8_t pick) const {
  std::vector<int> numbers;
  for (const Connection& connection : connections_) {
    if (connection.closed_client_fd >= 0) numbers.push_back(connection.closed_client_fd);
  }
  return numbers.empty() ? -1 : numbers[pick % numbers.size()];
}

void FakeServer::queue_output(Connection& connection, std::string_view bytes) {
  if (connection.write_shut) return;
  connection.output.append(bytes);
  send_output(connection);
}

void FakeServer::half_close(Connection& connection) {
  connection.shut_after_output = true;
  send_output(connection);
}

void FakeServer::close(Connection& connection) {
  SOCKACTION_FUZZ_TRACE(state_, "server: close server fd %d", connection.server_fd);
  ::close(connection.server_fd);
  connection.server_fd = -1;
  connection.output.clear();
}

void FakeServer::toggle_stall(Connection& connection) { connection.stalled = !connection.stalled; }

void FakeServer::send_output(Connection& connection) {
  if (connection.server_fd < 0 || connection.write_shut) return;
  while (!connection.output.empty()) {
    const ssize_t sent = send(connection.server_fd, connection.output.data(),
                              connection.output.size(), MSG_NOSIGNAL);
    if (sent <= 0) {
      // EAGAIN: the client has not read enough yet. EPIPE or ECONNRESET: libcurl closed its end,
      // so the rest can never be delivered.
      if (sent < 0 && errno != EAGAIN) connection.output.clear();
      break;
    }
    connection.output.erase(0, static_cast<std::size_t>(sent));
  }
  if (connection.output.empty() && connection.shut_after_output) {
    shutdown(connection.server_fd, SHUT_WR);
    connection.write_shut = true;
    SOCKACTION_FUZZ_TRACE(state_, "server: shut down writing on server fd %d", connection.server_fd);
  }
}

void FakeServer::read_input(Connection& connection) {
  if (connection.server_fd < 0 || connection.stalled || connection.client_eof) return;
  char buffer[4096];
  std::size_t total = 0;
  while (total < max_read_per_pump) {
    const ssize_t got = recv(connection.server_fd, buffer, sizeof buffer, 0);
    if (got > 0) {
      total += static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0 || errno != EAGAIN) connection.client_eof = true;
    break;
  }
  if (total > 0) ++state_.progress;
}

void FakeServer::pump() {
  for (Connection& connection : connections_) {
    send_output(connection);
    read_input(connection);
  }
}

void FakeServer::end_all_responses() {
  for (Connection& connection : connections_) {
    connection.stalled = false;
    connection.shut_after_output = true;
  }
  pump();
}

std::size_t FakeServer::bytes_waiting_for_client() const {
  std::size_t total = 0;
  for (const Connection& connection : connections_) {
    if (connection.client_fd < 0) continue;
    int waiting = 0;
    if (ioctl(connection.client_fd, FIONREAD, &waiting) == 0 && waiting > 0) {
      total += static_cast<std::size_t>(waiting);
    }
  }
  return total;
}

}  // namespace sockaction::fuzz::event_sequence
