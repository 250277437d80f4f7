#include "bench/bench_options.hpp"

#include "backends/registry.hpp"
#include "core/descriptors.hpp"
#include "core/workload.hpp"

#include <charconv>
#include <cstring>
#include <string_view>

namespace sockaction::bench {
namespace {

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    items.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::string> parse_concurrency(std::string_view text, std::vector<int>& out) {
  out.clear();
  for (const auto& item : split_list(text)) {
    const auto value = parse_integer(item);
    if (!value) {
      return "invalid concurrency \"" + item + "\": give whole numbers separated by commas";
    }
    if (*value <= 0) {
      return "invalid concurrency " + item + ": it must be at least 1";
    }
    if (*value > 1'000'000) {
      return "invalid concurrency " + item + ": it must be at most 1000000";
    }
    out.push_back(static_cast<int>(*value));
  }
  if (out.empty()) return std::string("--concurrency needs at least one value, e.g. 1,64");
  return std::nullopt;
}

// Matches "--name=value" and "--name value"; `index` moves past a separate value.
bool take_flag(int argc, char** argv, int& index, std::string_view name, std::string& value,
               std::optional<std::string>& error) {
  std::string_view argument = argv[index];
  if (!argument.starts_with(name)) return false;
  argument.remove_prefix(name.size());
  if (argument.starts_with('=')) {
    value = std::string(argument.substr(1));
    return true;
  }
  if (!argument.empty()) return false;  // a longer flag that shares the prefix
  // A following flag is not taken as the value: `--trace --concurrency=2` would otherwise write
  // the trace to a file named "--concurrency=2".
  if (index + 1 >= argc || std::string_view(argv[index + 1]).starts_with("--")) {
    error = std::string(name) + " needs a value, as in " + std::string(name) + "=VALUE";
    return true;
  }
  value = argv[++index];
  return true;
}

}  // namespace

const std::vector<Scenario>& builtin_scenarios() {
  static const std::vector<Scenario> scenarios = {
      {"small", "/bytes/128", 128, "128-byte body"},
      {"1mib", "/bytes/1048576", 1048576, "1 MiB body"},
      {"delay50", "/bytes/128?delay_ms=50", 128, "128-byte body sent 50 ms after the request"},
  };
  return scenarios;
}

std::optional<std::string> parse_bench_options(int& argc, char** argv, BenchOptions& options) {
  std::optional<std::string> error;
  int kept = 1;
  for (int i = 1; i < argc && !error; ++i) {
    std::string value;
    const std::string_view argument = argv[i];
    if (take_flag(argc, argv, i, "--backends", value, error)) {
      if (!error && value.empty()) error = "--backends is empty; name backends, e.g. --backends=epoll,poll";
      if (!error) options.backends = split_list(value);
    } else if (take_flag(argc, argv, i, "--scenarios", value, error)) {
      if (!error && value.empty()) error = "--scenarios is empty; name scenarios, e.g. --scenarios=small";
      if (!error) options.scenarios = split_list(value);
    } else if (take_flag(argc, argv, i, "--concurrency", value, error)) {
      if (!error) error = parse_concurrency(value, options.concurrency);
    } else if (take_flag(argc, argv, i, "--url", value, error)) {
      if (!error && value.empty()) error = "--url is empty; give an http:// URL of a server you run";
      options.external_url = value;
    } else if (take_flag(argc, argv, i, "--transfers", value, error)) {
      const auto count = parse_integer(value);
      if (!error && (!count || *count <= 0)) {
        error = "invalid --transfers \"" + value + "\": give a whole number of at least 1";
      } else if (!error) {
        options.transfers = static_cast<std::size_t>(*count);
      }
    } else if (take_flag(argc, argv, i, "--server_threads", value, error)) {
      const auto count = parse_integer(value);
      if (!error && (!count || *count <= 0 || *count > 64)) {
        error = "invalid --server_threads \"" + value + "\": give a whole number from 1 to 64";
      } else if (!error) {
        options.server_threads = static_cast<int>(*count);
      }
    } else if (take_flag(argc, argv, i, "--trace", value, error)) {
      if (!error && value.empty()) error = "--trace is empty; give the path of a file to write";
      options.trace_path = value;
    } else if (argument == "--unknown_mask") {
      options.unknown_event_mask = true;
    } else if (argument == "--no_reuse") {
      options.reuse_connections = false;
    } else if (argument == "--list_backends") {
      options.list_backends = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return error;
}

std::optional<std::string> validate_bench_options(const BenchOptions& options) {
  for (const auto& name : options.backends) {
    if (!find_backend(name)) {
      return "unknown backend \"" + name + "\"; choose from: " + backend_names();
    }
  }
  for (const auto& name : options.scenarios) {
    bool found = false;
    std::string names;
    for (const auto& scenario : builtin_scenarios()) {
      found = found || scenario.name == name;
      names += (names.empty() ? "" : ", ") + scenario.name;
    }
    if (!found) return "unknown scenario \"" + name + "\"; choose from: " + names;
  }
  if (!options.external_url.empty() && !options.scenarios.empty()) {
    return std::string("--scenarios does not apply with --url, which runs one scenario named "
                       "\"url\"; leave out --scenarios");
  }
  if (!options.external_url.empty()) {
    WorkloadSpec probe;
    probe.url = options.external_url;
    if (auto problem = validate_workload(probe)) return problem;
  }
  const bool in_process = options.external_url.empty();
  for (int concurrency : options.concurrency) {
    if (auto problem = check_descriptor_limit(concurrency, in_process)) return problem;
  }
  return std::nullopt;
}

std::string bench_usage() {
  return R"(sockaction_bench: libcurl transfers through each event-loop backend.

sockaction flags (Google Benchmark's own --benchmark_* flags work as usual):
  --backends=a,b       backends to run (default: every backend in this build); see --list_backends
  --scenarios=a,b      small, 1mib, delay50 (default: all)
  --concurrency=1,64   transfers in flight (default: 1,16,64,256,1024)
  --transfers=N        transfers per benchmark iteration (default: picked per scenario)
  --url=URL            fetch URL instead of the in-process server (one scenario named "url");
                       only a server you run yourself, on loopback or a test network
  --no_reuse           one connection per transfer (CURLOPT_FORBID_REUSE)
  --unknown_mask       pass event mask 0 to curl_multi_socket_action
  --server_threads=N   threads of the in-process server (default: 1)
  --trace=FILE         write every callback, action and wakeup to FILE, for debugging a stuck
                       run (slows the loop; use with --transfers and one benchmark)
  --list_backends      print each backend, whether it is available here and why not, then exit
)";
}

}  // namespace sockaction::bench
