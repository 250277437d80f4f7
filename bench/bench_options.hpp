// The benchmark binary's own flags, parsed before Google Benchmark parses the command line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sockaction::bench {

struct Scenario {
  std::string name;    // part of the benchmark name, e.g. "small"
  std::string target;  // request target on the in-process server, e.g. "/bytes/128"
  std::size_t body_bytes = 0;
  std::string summary;  // one line for --help
};

// The scenarios of a comparison: small body, 1 MiB body and a 50 ms delayed response.
const std::vector<Scenario>& builtin_scenarios();

struct BenchOptions {
  std::vector<std::string> backends;   // names; empty selects every backend in the build
  std::vector<std::string> scenarios;  // names; empty selects every scenario
  std::vector<int> concurrency = {1, 16, 64, 256, 1024};
  std::string external_url;       // set: benchmark this URL instead of the in-process server
  std::size_t transfers = 0;      // per iteration; 0 picks a count from the scenario
  bool unknown_event_mask = false;
  bool reuse_connections = true;
  int server_threads = 1;
  bool list_backends = false;
  std::string trace_path;  // set: every callback, action and wakeup is written to this file
};

// Reads and removes sockaction's flags from argv, leaving Google Benchmark's in place.
// Returns an error sentence naming the bad value and what to do instead.
std::optional<std::string> parse_bench_options(int& argc, char** argv, BenchOptions& options);

// Checks the parsed options against this build and machine: backend and scenario names, the
// URL, each concurrency and the descriptor limit. Returns an error sentence, or nothing.
std::optional<std::string> validate_bench_options(const BenchOptions& options);

// The help text for sockaction's own flags.
std::string bench_usage();

}  // namespace sockaction::bench
