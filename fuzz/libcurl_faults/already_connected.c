/* Checks whether libcurl honors CURL_SOCKOPT_ALREADY_CONNECTED.
 *
 * The open socket callback hands libcurl one end of an AF_UNIX socketpair and the socket option
 * callback returns CURL_SOCKOPT_ALREADY_CONNECTED, so libcurl must not call connect(). The
 * other end has one HTTP response queued. libcurl 7.88.0 and 7.88.1 call connect() anyway, which
 * fails on this socket, and the transfer ends with CURLE_COULDNT_CONNECT.
 *
 * Exit status: 0 when the transfer succeeds, 1 when it fails, 2 when the check cannot run.
 * Nothing leaves the process: the URL's address is never contacted. */
#include <curl/curl.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int server_end = -1;

static curl_socket_t open_socket(void *data, curlsocktype purpose, struct curl_sockaddr *address) {
  int ends[2];
  (void)data;
  (void)purpose;
  (void)address;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends) != 0) return CURL_SOCKET_BAD;
  server_end = ends[1];
  /* Queued before the request arrives, in the socket buffer. */
  static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  if (write(server_end, response, sizeof response - 1) != (ssize_t)(sizeof response - 1)) {
    return CURL_SOCKET_BAD;
  }
  return ends[0];
}

static int report_connected(void *data, curl_socket_t fd, curlsocktype purpose) {
  (void)data;
  (void)fd;
  (void)purpose;
  return CURL_SOCKOPT_ALREADY_CONNECTED;
}

static size_t discard(char *bytes, size_t size, size_t count, void *data) {
  (void)bytes;
  (void)data;
  return size * count;
}

int main(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 2;
  CURL *easy = curl_easy_init();
  if (!easy) return 2;
  curl_easy_setopt(easy, CURLOPT_URL, "http://127.0.0.1:1/");
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, report_connected);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
  const CURLcode code = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  if (server_end >= 0) close(server_end);
  curl_global_cleanup();

  printf("libcurl %s: transfer over a pre-connected socket: %s\n",
         curl_version_info(CURLVERSION_NOW)->version, curl_easy_strerror(code));
  return code == CURLE_OK ? 0 : 1;
}
