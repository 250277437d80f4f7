// Unit checks of the core's pure parts: percentiles, the body pattern, workload validation.

#include "core/body_pattern.hpp"
#include "core/descriptors.hpp"
#include "core/run_stats.hpp"
#include "core/workload.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sockaction {
namespace {

using std::chrono::nanoseconds;

TEST(NearestRank, PicksCeilingRank) {
  std::vector<nanoseconds> sorted;
  for (int i = 1; i <= 1000; ++i) sorted.push_back(nanoseconds(i));
  EXPECT_EQ(nearest_rank(sorted, 0.50), nanoseconds(500));
  EXPECT_EQ(nearest_rank(sorted, 0.90), nanoseconds(900));
  EXPECT_EQ(nearest_rank(sorted, 0.999), nanoseconds(999));
  EXPECT_EQ(nearest_rank(sorted, 1.0), nanoseconds(1000));
}

TEST(NearestRank, SingleAndSmallSamples) {
  EXPECT_EQ(nearest_rank({nanoseconds(7)}, 0.5), nanoseconds(7));
  const std::vector<nanoseconds> three = {nanoseconds(1), nanoseconds(2), nanoseconds(3)};
  EXPECT_EQ(nearest_rank(three, 0.5), nanoseconds(2));
  EXPECT_EQ(nearest_rank(three, 0.99), nanoseconds(3));
}

TEST(RunStats, LatencySummaryOverResults) {
  RunStats stats;
  for (int i = 100; i >= 1; --i) {
    TransferResult result;
    result.latency = std::chrono::microseconds(i);
    stats.results.push_back(result);
  }
  const LatencySummary summary = stats.latency();
  EXPECT_EQ(summary.p50, std::chrono::microseconds(50));
  EXPECT_EQ(summary.p99, std::chrono::microseconds(99));
  EXPECT_EQ(summary.max, std::chrono::microseconds(100));
}

TEST(BodyPattern, PeriodicAndPrintable) {
  const auto buffer = pattern_buffer();
  ASSERT_EQ(buffer.size(), 2 * pattern_period);
  for (std::size_t i = 0; i < pattern_period; ++i) {
    ASSERT_EQ(buffer[i], buffer[i + pattern_period]);
    const auto c = static_cast<char>(buffer[i]);
    ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  }
  EXPECT_EQ(pattern_byte(5), pattern_byte(5 + 3 * pattern_period));
}

TEST(Crc32c, KnownVector) {
  // The standard CRC-32C check value: "123456789" gives 0xE3069283.
  const char text[] = "123456789";
  EXPECT_EQ(crc32c_update(0, std::as_bytes(std::span(text, 9))), 0xe3069283u);
}

TEST(Crc32c, StreamingEqualsWhole) {
  const auto buffer = pattern_buffer();
  const std::uint32_t whole = crc32c_update(0, buffer.first(100'000));
  std::uint32_t pieces = 0;
  for (std::size_t offset = 0; offset < 100'000; offset += 777) {
    pieces = crc32c_update(pieces, buffer.subspan(offset, std::min<std::size_t>(777, 100'000 - offset)));
  }
  EXPECT_EQ(pieces, whole);
  EXPECT_EQ(pattern_crc32c(100'000), whole);
}

TEST(Crc32c, PatternCrcAcrossPeriods) {
  const std::uint64_t size = 3 * pattern_period + 17;
  std::uint32_t crc = 0;
  for (std::uint64_t i = 0; i < size; ++i) {
    const std::byte b = pattern_byte(i);
    crc = crc32c_update(crc, std::span(&b, 1));
  }
  EXPECT_EQ(pattern_crc32c(size), crc);
}

TEST(ValidateWorkload, AcceptsHttpUrl) {
  WorkloadSpec spec;
  spec.url = "http://127.0.0.1:8080/bytes/10";
  EXPECT_FALSE(validate_workload(spec));
}

TEST(ValidateWorkload, RejectsBadValues) {
  WorkloadSpec spec;
  spec.url = "http://127.0.0.1/";
  spec.concurrency = 0;
  auto problem = validate_workload(spec);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("concurrency 0"), std::string::npos) << *problem;

  spec.concurrency = -3;
  problem = validate_workload(spec);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("concurrency -3"), std::string::npos) << *problem;

  spec.concurrency = 1;
  spec.url = "http//missing-colon";
  problem = validate_workload(spec);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("http//missing-colon"), std::string::npos) << *problem;

  spec.url = "ftp://127.0.0.1/file";
  problem = validate_workload(spec);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("ftp"), std::string::npos) << *problem;
}

TEST(CheckTransfer, ReportsEachMismatch) {
  WorkloadSpec spec;
  spec.expected_bytes = 1000;
  spec.expect_pattern_body = true;
  TransferResult result;
  result.status = 200;
  result.bytes = 1000;
  result.crc32c = pattern_crc32c(1000);
  check_transfer(spec, result);
  EXPECT_TRUE(result.ok) << result.error;

  result.crc32c ^= 1;
  check_transfer(spec, result);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("CRC-32C"), std::string::npos) << result.error;

  result.bytes = 999;
  check_transfer(spec, result);
  EXPECT_NE(result.error.find("999"), std::string::npos) << result.error;

  result.status = 500;
  check_transfer(spec, result);
  EXPECT_NE(result.error.find("500"), std::string::npos) << result.error;

  result.code = CURLE_RECV_ERROR;
  check_transfer(spec, result);
  EXPECT_NE(result.error.find("transfer failed"), std::string::npos) << result.error;
}

TEST(DescriptorLimit, NamesUlimitWhenTooLow) {
  const auto problem = check_descriptor_limit(1'000'000'000, true);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("ulimit -n"), std::string::npos) << *problem;
  EXPECT_NE(problem->find("1000000000"), std::string::npos) << *problem;
  EXPECT_FALSE(check_descriptor_limit(1, true));
}

}  // namespace
}  // namespace sockaction
