// The in-process Beast server: routes, keep-alive, shutdown and descriptor hygiene, checked with
// libcurl's blocking easy interface so these tests do not depend on any backend.

#include "core/body_pattern.hpp"
#include "core/curl_handles.hpp"
#include "core/descriptors.hpp"
#include "servers/route.hpp"
#include "tests/test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sockaction::testing {
namespace {

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
  long connections = 0;  // new connections libcurl opened for this request
};

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// Fetches `url` with `easy`, so consecutive calls on one handle reuse its connection.
Response fetch(CURL* easy, const std::string& url) {
  Response response;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &append_to_string);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &append_to_string);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response.headers);
  response.code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &response.connections);
  return response;
}

Response fetch(const std::string& url) {
  ensure_curl_global_init();
  EasyHandle easy(curl_easy_init());
  return fetch(easy.get(), url);
}

std::string pattern_string(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>(pattern_byte(i));
  return text;
}

bool has_header(const std::string& headers, const std::string& line) {
  return headers.find(line + "\r\n") != std::string::npos;
}

class Server : public ::testing::Test {
 protected:
  HttpServer server_;
};

TEST_F(Server, BytesRouteReturnsPattern) {
  for (std::size_t size : {0u, 1u, 128u, 65521u, 65522u, 300'000u}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Response response = fetch(server_.url("/bytes/" + std::to_string(size)));
    ASSERT_EQ(response.code, CURLE_OK) << curl_easy_strerror(response.code);
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(has_header(response.headers, "Content-Length: " + std::to_string(size)))
        << response.headers;
    EXPECT_EQ(response.body, pattern_string(size));
  }
}

TEST_F(Server, ChunkedBody) {
  const Response response = fetch(server_.url("/bytes/200000?chunked=1"));
  ASSERT_EQ(response.code, CURLE_OK);
  EXPECT_TRUE(has_header(response.headers, "Transfer-Encoding: chunked")) << response.headers;
  EXPECT_EQ(response.body, pattern_string(200'000));
}

TEST_F(Server, DelayedResponse) {
  const auto started = std::chrono::steady_clock::now();
  const Response response = fetch(server_.url("/bytes/10?delay_ms=100"));
  ASSERT_EQ(response.code, CURLE_OK);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));
  EXPECT_EQ(response.body, pattern_string(10));
}

TEST_F(Server, KeepAliveReusesConnection) {
  ensure_curl_global_init();
  EasyHandle easy(curl_easy_init());
  EXPECT_EQ(fetch(easy.get(), server_.url("/bytes/10")).connections, 1);
  EXPECT_EQ(fetch(easy.get(), server_.url("/bytes/10")).connections, 0);
  EXPECT_EQ(fetch(easy.get(), server_.url("/bytes/10")).connections, 0);
}

TEST_F(Server, CloseQueryEndsConnection) {
  ensure_curl_global_init();
  EasyHandle easy(curl_easy_init());
  const Response first = fetch(easy.get(), server_.url("/bytes/10?close=1"));
  EXPECT_TRUE(has_header(first.headers, "Connection: close")) << first.headers;
  EXPECT_EQ(first.connections, 1);
  EXPECT_EQ(fetch(easy.get(), server_.url("/bytes/10")).connections, 1);
}

TEST_F(Server, AbortAfterTruncatesBody) {
  const Response response = fetch(server_.url("/bytes/100000?abort_after=1000"));
  EXPECT_EQ(response.code, CURLE_PARTIAL_FILE) << curl_easy_strerror(response.code);
  EXPECT_EQ(response.body, pattern_string(1000));
}

TEST_F(Server, UnknownPathIs404) {
  const Response response = fetch(server_.url("/nothing/here"));
  ASSERT_EQ(response.code, CURLE_OK);
  EXPECT_EQ(response.status, 404);
}

TEST_F(Server, MalformedRequestsAre400) {
  for (const char* target : {"/bytes/abc", "/bytes/-1", "/bytes/10?delay_ms=x", "/bytes/10?color=red",
                             "/bytes/10?abort_after=10", "/bytes/10?chunked=2"}) {
    SCOPED_TRACE(target);
    const Response response = fetch(server_.url(target));
    ASSERT_EQ(response.code, CURLE_OK);
    EXPECT_EQ(response.status, 400);
    EXPECT_FALSE(response.body.empty());
  }
}

TEST_F(Server, CountsResponses) {
  const std::uint64_t before = server_.responses_sent();
  for (int i = 0; i < 5; ++i) fetch(server_.url("/bytes/1"));
  // The count moves when the server's write completes, which can be just after the client has
  // read the response, so give the server thread a moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_.responses_sent() < before + 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server_.responses_sent(), before + 5);
}

TEST(ServerLifetime, StopWithOpenConnections) {
  const std::size_t before = count_open_descriptors();
  {
    HttpServer server;
    // Idle keep-alive connections and one waiting on a long delay when stop() runs.
    std::vector<int> clients;
    for (int i = 0; i < 8; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(server.port());
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
      clients.push_back(fd);
    }
    const std::string request = "GET /bytes/10?delay_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(clients[0], request.data(), request.size()),
              static_cast<ssize_t>(request.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));

    const auto started = std::chrono::steady_clock::now();
    server.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    // Every connection was closed by the server: reads see EOF or a reset.
    for (int fd : clients) {
      char byte;
      EXPECT_LE(read(fd, &byte, 1), 0);
      close(fd);
    }
  }
  EXPECT_EQ(count_open_descriptors(), before);
}

TEST(ServerLifetime, ManyServersOneProcess) {
  const std::size_t before = count_open_descriptors();
  for (int i = 0; i < 20; ++i) {
    HttpServerOptions options;
    options.threads = 1 + i % 3;
    HttpServer server(options);
    ASSERT_EQ(fetch(server.url("/bytes/64")).body, pattern_string(64));
  }
  EXPECT_EQ(count_open_descriptors(), before);
}

TEST(ServerLifetime, PortInUseThrows) {
  HttpServer first;
  HttpServerOptions options;
  options.port = first.port();
  EXPECT_THROW(HttpServer second(options), std::system_error);
}

TEST(Route, ParsesQueryParameters) {
  const detail::RouteResult result = detail::parse_route("/bytes/1024?chunked=1&delay_ms=5&close=1");
  ASSERT_EQ(result.status, boost::beast::http::status::ok) << result.message;
  EXPECT_EQ(result.bytes.size, 1024u);
  EXPECT_TRUE(result.bytes.chunked);
  EXPECT_TRUE(result.bytes.close);
  EXPECT_EQ(result.bytes.delay, std::chrono::milliseconds(5));
  EXPECT_FALSE(result.bytes.abort_after);
}

TEST(Route, RejectsOutOfRangeValues) {
  EXPECT_EQ(detail::parse_route("/bytes/10?delay_ms=99999999999").status,
            boost::beast::http::status::bad_request);
  EXPECT_EQ(detail::parse_route("/bytes/99999999999999999999999").status,
            boost::beast::http::status::bad_request);
  EXPECT_EQ(detail::parse_route("/elsewhere").status, boost::beast::http::status::not_found);
}

}  // namespace
}  // namespace sockaction::testing
