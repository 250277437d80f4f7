// select(2) cannot take a descriptor at or above FD_SETSIZE; the backend must reject it before
// FD_SET writes past the fd_set. Run under AddressSanitizer, an overflow would abort the test.

#include "backends/select_backend.hpp"
#include "tests/test_support.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace sockaction::testing {
namespace {

// Holds open copies of /dev/null until the lowest free descriptor is at least `target`, so the
// next socket libcurl opens gets a number at or above it.
class DescriptorFiller {
 public:
  explicit DescriptorFiller(int target) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < static_cast<rlim_t>(target + 64)) {
      limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, target + 64);
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    while (true) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      held_.push_back(fd);
      if (fd >= target - 1) break;
    }
  }
  ~DescriptorFiller() {
    for (int fd : held_) close(fd);
  }
  bool reached(int target) const { return !held_.empty() && held_.back() >= target - 1; }

 private:
  std::vector<int> held_;
};

TEST(SelectBackend, RejectsDescriptorAtFdSetsize) {
  SelectBackend backend;
  EXPECT_EQ(backend.watch(FD_SETSIZE, Interest::read), std::errc::value_too_large);
  EXPECT_EQ(backend.watch(FD_SETSIZE + 100, Interest::read_write), std::errc::value_too_large);
  EXPECT_EQ(backend.watch(-1, Interest::read), std::errc::value_too_large);
  EXPECT_FALSE(backend.watch(FD_SETSIZE - 1, Interest::read));
  EXPECT_FALSE(backend.unwatch(FD_SETSIZE - 1));
}

TEST(SelectBackend, HighDescriptorFailsTheRun) {
  HttpServer server;
  DescriptorFiller filler(FD_SETSIZE + 8);
  if (!filler.reached(FD_SETSIZE + 8)) {
    GTEST_SKIP() << "cannot open descriptors up to " << FD_SETSIZE + 8 << " (ulimit -n too low)";
  }

  const BackendInfo* select = find_backend("select");
  ASSERT_NE(select, nullptr);
  WorkloadSpec spec = pattern_workload(server, 100, 1, 1);
  spec.expected_bytes = 100;
  const RunStats stats = run_workload(*select, spec);

  ASSERT_TRUE(stats.fatal_error) << "the run must stop with an error naming the descriptor";
  const std::string& message = *stats.fatal_error;
  EXPECT_NE(message.find("cannot watch fd"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(FD_SETSIZE)), std::string::npos) << message;
  EXPECT_EQ(stats.transfers_done, 0u);
}

}  // namespace
}  // namespace sockaction::testing
