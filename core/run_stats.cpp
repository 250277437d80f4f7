#include "core/run_stats.hpp"

#include <algorithm>
#include <cmath>

namespace sockaction {

double RunStats::requests_per_second() const {
  const double seconds = std::chrono::duration<double>(wall_time).count();
  return seconds > 0 ? static_cast<double>(transfers_done) / seconds : 0.0;
}

double RunStats::bytes_per_second() const {
  const double seconds = std::chrono::duration<double>(wall_time).count();
  return seconds > 0 ? static_cast<double>(body_bytes) / seconds : 0.0;
}

std::chrono::nanoseconds nearest_rank(const std::vector<std::chrono::nanoseconds>& sorted,
                                      double q) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(q * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::uint64_t RunStats::connections_opened() const {
  std::uint64_t total = 0;
  for (const auto& result : results) total += static_cast<std::uint64_t>(result.connects);
  return total;
}

LatencySummary RunStats::latency() const {
  std::vector<std::chrono::nanoseconds> sorted;
  sorted.reserve(results.size());
  for (const auto& result : results) sorted.push_back(result.latency);
  if (sorted.empty()) return {};
  std::sort(sorted.begin(), sorted.end());
  return {nearest_rank(sorted, 0.50), nearest_rank(sorted, 0.90), nearest_rank(sorted, 0.99),
          nearest_rank(sorted, 0.999), sorted.back()};
}

}  // namespace sockaction
