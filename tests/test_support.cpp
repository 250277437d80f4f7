#include "tests/test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sockaction::testing {

std::vector<std::string> all_backend_names() {
  std::vector<std::string> names;
  for (const auto& backend : all_backends()) names.push_back(backend.name);
  return names;
}

std::string backend_param_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

void BackendTest::SetUp() {
  backend_ = find_backend(GetParam());
  ASSERT_NE(backend_, nullptr) << "backend " << GetParam() << " is not in the registry";
  if (Availability availability = backend_->probe(); !availability.available) {
    GTEST_SKIP() << "backend " << GetParam() << " is not available here: " << availability.reason;
  }
}

std::uint16_t unused_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "cannot bind a loopback socket to pick an unused port";
  }
  close(fd);
  return ntohs(address.sin_port);
}

WorkloadSpec pattern_workload(const HttpServer& server, std::uint64_t size, std::size_t transfers,
                              int concurrency, const std::string& query) {
  WorkloadSpec spec;
  spec.url = server.url("/bytes/" + std::to_string(size) + query);
  spec.transfers = transfers;
  spec.concurrency = concurrency;
  spec.expected_bytes = size;
  spec.expect_pattern_body = true;
  return spec;
}

std::string describe_failures(const RunStats& stats) {
  std::string text;
  if (stats.fatal_error) text += "fatal: " + *stats.fatal_error + "\n";
  int listed = 0;
  for (const auto& result : stats.results) {
    if (result.ok) continue;
    text += "transfer: " + result.error + "\n";
    if (++listed == 5) break;
  }
  return text;
}

}  // namespace sockaction::testing
