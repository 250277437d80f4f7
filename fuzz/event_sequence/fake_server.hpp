// The server side of every connection libcurl opens: libcurl's CURLOPT_OPENSOCKETFUNCTION gets
// one end of a fresh AF_UNIX socketpair, already connected, and this class keeps the other end.
// No traffic leaves the process and no name is resolved.
#pragma once

#include "fuzz/event_sequence/run_state.hpp"

#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sockaction::fuzz::event_sequence {

struct Connection {
  int client_fd = -1;   // libcurl's end; -1 once libcurl closed it through close_socket()
  int closed_client_fd = -1;  // the number client_fd had, kept for inject steps
  int server_fd = -1;   // this side's end; -1 once closed
  std::string output;   // bytes queued for the client, sent as its socket buffer takes them
  bool shut_after_output = false;  // shutdown(SHUT_WR) once `output` is sent
  bool write_shut = false;
  bool stalled = false;  // stop reading the client's bytes, so its sends eventually block
  bool client_eof = false;
};

class FakeServer {
 public:
  // Connections opened after this many get CURL_SOCKET_BAD, which fails that connect.
  static constexpr std::size_t max_connections = 24;

  explicit FakeServer(RunState& state) : state_(state) {}
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // Callbacks for CURLOPT_OPENSOCKETFUNCTION, CURLOPT_SOCKOPTFUNCTION and
  // CURLOPT_CLOSESOCKETFUNCTION; their data pointer is the FakeServer.
  static curl_socket_t open_socket(void* server, curlsocktype purpose, curl_sockaddr* address);
  static int report_connected(void* server, curl_socket_t fd, curlsocktype purpose);
  static int close_socket(void* server, curl_socket_t fd);

  // Called with the descriptor each time open_socket() hands libcurl a new client end.
  std::function<void(int fd)> after_client_open;
  // Called with the descriptor each time libcurl closes a client end, before it is closed.
  std::function<void(int fd)> before_client_close;

  // Whether `fd` is a client end libcurl got from open_socket() and has not closed.
  bool is_client_open(int fd) const;
  // Whether `fd` is an open server end, which libcurl never has.
  bool is_server_end(int fd) const;
  std::size_t open_client_sockets() const;

  // The connection at `pick` modulo the connections whose server end is open, or null.
  Connection* pick_open(std::uint8_t pick);
  // A server end (open, never given to libcurl) or a closed client number, or -1 if none.
  int pick_server_end(std::uint8_t pick) const;
  int pick_closed_client_number(std::uint8_t pick) const;

  void queue_output(Connection& connection, std::string_view bytes);
  void half_close(Connection& connection);
  void close(Connection& connection);
  void toggle_stall(Connection& connection);

  // Sends queued output and reads what clients sent, on every connection; one call per step.
  void pump();

  // For the faithful phase: resumes stalled connections and ends every response, so that
  // libcurl reads end of file on each connection after what is queued. Connections opened
  // later are ended as soon as they open.
  void end_all_responses();

  // Bytes waiting in the client ends for libcurl to read (FIONREAD), summed. libcurl reading
  // any of them is progress even when no callback fires.
  std::size_t bytes_waiting_for_client() const;

 private:
  void send_output(Connection& connection);
  void read_input(Connection& connection);

  RunState& state_;
  std::vector<Connection> connections_;
};

}  // namespace sockaction::fuzz::event_sequence
