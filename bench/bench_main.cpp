// sockaction_bench: Google Benchmark over every backend x scenario x concurrency.
//
// Each benchmark iteration is one closed-loop run of `transfers` transfers with `concurrency` in
// flight, through a new multi handle and backend, against the in-process Beast server (or --url).
// Counters hold the rates, exact latency percentiles over every transfer of every iteration, and
// per-request costs.

#include "backends/registry.hpp"
#include "bench/bench_options.hpp"
#include "core/curl_info.hpp"
#include "core/descriptors.hpp"
#include "core/run.hpp"
#include "servers/http_server.hpp"

#include <benchmark/benchmark.h>
#include <sys/utsname.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <memory>

#ifndef SOCKACTION_GIT_COMMIT
#define SOCKACTION_GIT_COMMIT "unknown"
#endif

namespace sockaction::bench {
namespace {

struct BenchCase {
  const BackendInfo* backend = nullptr;
  Scenario scenario;
  int concurrency = 1;
  std::size_t transfers = 1;
  std::string skip_reason;  // set: the case is registered but reports this instead of running
};

BenchOptions options;
std::unique_ptr<HttpServer> server;
int benchmarks_failed = 0;  // benchmarks that stopped on a failed transfer or a backend error
int benchmarks_passed = 0;  // benchmarks that ran every transfer successfully
std::FILE* trace_file = nullptr;  // --trace, shared by every benchmark of the run

// Returns the transfers per iteration. Each iteration sets up a new multi handle, backend and C
// connections, so an iteration of only a few transfers per connection measures connection
// setup more than the loop. With 8 per connection at concurrency 64, setup and teardown made
// 10 to 20 % of the time on a 2-core VM. These counts keep setup near 3 % (32 small transfers
// per connection) while the slowest case, 1 MiB at concurrency 1024, stays near a second.
std::size_t default_transfers(const Scenario& scenario, int concurrency) {
  const auto c = static_cast<std::size_t>(concurrency);
  if (scenario.body_bytes >= (1u << 20)) return std::max<std::size_t>(2 * c, 64);
  if (scenario.target.find("delay_ms") != std::string::npos) return std::max<std::size_t>(4 * c, 8);
  return std::max<std::size_t>(32 * c, 2048);
}

WorkloadSpec make_spec(const BenchCase& bench_case) {
  WorkloadSpec spec;
  spec.transfers = bench_case.transfers;
  spec.concurrency = bench_case.concurrency;
  spec.reuse_connections = options.reuse_connections;
  if (options.external_url.empty()) {
    spec.url = server->url(bench_case.scenario.target);
    spec.expected_bytes = bench_case.scenario.body_bytes;
    spec.expect_pattern_body = true;
  } else {
    spec.url = options.external_url;
  }
  return spec;
}

double per_request(std::uint64_t value, std::size_t transfers) {
  return transfers ? static_cast<double>(value) / static_cast<double>(transfers) : 0.0;
}

double to_us(std::chrono::nanoseconds value) {
  return std::chrono::duration<double, std::micro>(value).count();
}

void set_counters(benchmark::State& state, const RunStats& total) {
  using benchmark::Counter;
  const std::size_t n = total.transfers_done + total.transfers_failed;
  const LatencySummary latency = total.latency();
  const LoopCounters& c = total.counters;
  state.counters["requests"] = Counter(static_cast<double>(total.transfers_done), Counter::kIsRate);
  state.counters["bytes"] =
      Counter(static_cast<double>(total.body_bytes), Counter::kIsRate, Counter::kIs1024);
  state.counters["transfers"] = static_cast<double>(n);
  state.counters["failed"] = static_cast<double>(total.transfers_failed);
  state.counters["p50_us"] = to_us(latency.p50);
  state.counters["p90_us"] = to_us(latency.p90);
  state.counters["p99_us"] = to_us(latency.p99);
  state.counters["p999_us"] = to_us(latency.p999);
  state.counters["max_us"] = to_us(latency.max);
  state.counters["cpu_us_per_req"] = n ? to_us(total.process_cpu_time) / n : 0.0;
  state.counters["driver_cpu_us_per_req"] = n ? to_us(total.driver_cpu_time) / n : 0.0;
  state.counters["actions_per_req"] = per_request(c.socket_actions, n);
  state.counters["socket_cbs_per_req"] = per_request(c.socket_callbacks, n);
  state.counters["timer_cbs_per_req"] = per_request(c.timer_callbacks, n);
  state.counters["wakeups_per_req"] = per_request(c.wakeups, n);
  state.counters["idle_wakeups_per_req"] = per_request(c.idle_wakeups, n);
  state.counters["timer_expirations_per_req"] = per_request(c.timer_expirations, n);
  state.counters["syscalls_per_req"] = per_request(c.backend_system_calls, n);
  state.counters["connects_per_req"] = per_request(total.connections_opened(), n);
}

void accumulate(RunStats& total, RunStats&& run) {
  total.transfers_done += run.transfers_done;
  total.transfers_failed += run.transfers_failed;
  total.body_bytes += run.body_bytes;
  total.process_cpu_time += run.process_cpu_time;
  total.driver_cpu_time += run.driver_cpu_time;
  LoopCounters& c = total.counters;
  c.socket_actions += run.counters.socket_actions;
  c.socket_callbacks += run.counters.socket_callbacks;
  c.timer_callbacks += run.counters.timer_callbacks;
  c.wakeups += run.counters.wakeups;
  c.idle_wakeups += run.counters.idle_wakeups;
  c.timer_expirations += run.counters.timer_expirations;
  c.stale_events += run.counters.stale_events;
  c.reused_descriptors += run.counters.reused_descriptors;
  c.backend_system_calls += run.counters.backend_system_calls;
  std::move(run.results.begin(), run.results.end(), std::back_inserter(total.results));
}

std::string first_failure(const RunStats& run) {
  for (const auto& result : run.results) {
    if (!result.ok) return result.error;
  }
  return "unknown";
}

void run_case(benchmark::State& state, const BenchCase& bench_case) {
  if (!bench_case.skip_reason.empty()) {
    state.SkipWithError(bench_case.skip_reason.c_str());
    for (auto _ : state) {
    }
    return;
  }
  const WorkloadSpec spec = make_spec(bench_case);
  const DriverOptions driver{.unknown_event_mask = options.unknown_event_mask, .trace = trace_file};
  RunStats total;
  std::size_t iteration = 0;
  for (auto _ : state) {
    if (trace_file) {
      std::fprintf(trace_file, "# %s/%s/concurrency:%d iteration %zu\n",
                   bench_case.backend->name.c_str(), bench_case.scenario.name.c_str(),
                   bench_case.concurrency, ++iteration);
    }
    RunStats run = run_workload(*bench_case.backend, spec, driver);
    std::string problem;
    if (run.fatal_error) {
      problem = *run.fatal_error;
    } else if (run.transfers_failed > 0) {
      problem = std::to_string(run.transfers_failed) + " of " + std::to_string(spec.transfers) +
                " transfers failed, first: " + first_failure(run);
    }
    accumulate(total, std::move(run));
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      ++benchmarks_failed;
      break;
    }
  }
  if (!state.error_occurred()) ++benchmarks_passed;
  set_counters(state, total);
}

// Returns why `backend` cannot run `concurrency` here, or an empty string when it can.
std::string skip_reason(const BackendInfo& backend, int concurrency) {
  if (Availability availability = backend.probe(); !availability.available) {
    return backend.name + " is not available here: " + availability.reason;
  }
  const bool in_process = options.external_url.empty();
  const std::size_t needed = descriptors_needed(concurrency, in_process);
  if (backend.descriptor_limit > 0 && needed > static_cast<std::size_t>(backend.descriptor_limit)) {
    return backend.name + " skipped: concurrency " + std::to_string(concurrency) + " needs about " +
           std::to_string(needed) + " descriptors, and it only takes descriptors below " +
           std::to_string(backend.descriptor_limit);
  }
  return {};
}

std::vector<Scenario> selected_scenarios() {
  if (!options.external_url.empty()) return {{"url", "", 0, "the --url target"}};
  std::vector<Scenario> selected;
  for (const auto& scenario : builtin_scenarios()) {
    if (options.scenarios.empty() ||
        std::find(options.scenarios.begin(), options.scenarios.end(), scenario.name) !=
            options.scenarios.end()) {
      selected.push_back(scenario);
    }
  }
  return selected;
}

void register_cases() {
  for (const BackendInfo& backend : all_backends()) {
    if (!options.backends.empty() &&
        std::find(options.backends.begin(), options.backends.end(), backend.name) ==
            options.backends.end()) {
      continue;
    }
    for (const Scenario& scenario : selected_scenarios()) {
      for (int concurrency : options.concurrency) {
        BenchCase bench_case{&backend, scenario, concurrency,
                             options.transfers ? options.transfers
                                               : default_transfers(scenario, concurrency),
                             skip_reason(backend, concurrency)};
        const std::string name = backend.name + "/" + scenario.name +
                                 "/concurrency:" + std::to_string(concurrency);
        auto* registered =
            benchmark::RegisterBenchmark(name.c_str(), [bench_case](benchmark::State& state) {
              run_case(state, bench_case);
            });
        registered->UseRealTime()->Unit(benchmark::kMillisecond);
        // A trace is for reading one run, not the many a timing needs.
        if (!options.trace_path.empty()) registered->Iterations(1);
      }
    }
  }
}

void add_context() {
  benchmark::AddCustomContext("sockaction_commit", SOCKACTION_GIT_COMMIT);
  benchmark::AddCustomContext("libcurl_version", curl_runtime_version());
  benchmark::AddCustomContext("libcurl_compiled_version", curl_compiled_version());
  benchmark::AddCustomContext("libcurl_features", curl_features());
  benchmark::AddCustomContext("libcurl_ssl", curl_ssl_version());
  utsname system{};
  if (uname(&system) == 0) {
    benchmark::AddCustomContext("kernel", std::string(system.sysname) + " " + system.release);
  }
  benchmark::AddCustomContext("compiler", __VERSION__);
  benchmark::AddCustomContext("target",
                              options.external_url.empty() ? "in-process Beast server, " +
                                                                 std::to_string(options.server_threads) +
                                                                 " thread(s)"
                                                           : options.external_url);
  benchmark::AddCustomContext("event_mask", options.unknown_event_mask ? "0 (unknown)" : "ready bits");
  benchmark::AddCustomContext("connection_reuse", options.reuse_connections ? "on" : "off");
}

// Returns why the --benchmark_out and --trace paths cannot be written, or nothing.
std::optional<std::string> check_output_paths(const std::string& out_path,
                                              const std::string& trace_path) {
  namespace fs = std::filesystem;
  for (const auto& [flag, path] : {std::pair{"--benchmark_out", out_path}, {"--trace", trace_path}}) {
    if (path.empty()) continue;
    const fs::path folder = fs::path(path).parent_path();
    std::error_code error;
    if (!folder.empty() && !fs::is_directory(folder, error)) {
      return std::string("cannot write ") + flag + "=" + path + ": the folder " + folder.string() +
             " does not exist; create it or give another path";
    }
  }
  std::error_code error;
  if (!out_path.empty() && !trace_path.empty() &&
      fs::weakly_canonical(fs::absolute(out_path), error) ==
          fs::weakly_canonical(fs::absolute(trace_path), error)) {
    return "--trace and --benchmark_out both name " + trace_path + "; give the trace its own file";
  }
  return std::nullopt;
}

// Closes the --trace file. Returns false, after printing why, when a write to it failed.
bool close_trace() {
  const bool write_failed = std::ferror(trace_file) != 0;
  const bool close_failed = std::fclose(trace_file) != 0;
  trace_file = nullptr;
  if (!write_failed && !close_failed) return true;
  std::fprintf(stderr, "sockaction_bench: writing the trace to \"%s\" failed; the trace is "
                       "incomplete (is the disk full?)\n", options.trace_path.c_str());
  return false;
}

void print_backends() {
  for (const BackendInfo& backend : all_backends()) {
    const Availability availability = backend.probe();
    const std::string& detail = availability.available ? backend.description : availability.reason;
    std::printf("%-12s %-10s %s\n", backend.name.c_str(),
                availability.available ? "available" : "missing", detail.c_str());
  }
}

}  // namespace
}  // namespace sockaction::bench

int main(int argc, char** argv) {
  using namespace sockaction::bench;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help") std::fputs(bench_usage().c_str(), stdout);
  }
  sockaction::raise_descriptor_limit();
  std::optional<std::string> problem = parse_bench_options(argc, argv, options);
  if (!problem) problem = validate_bench_options(options);
  if (problem) {
    std::fprintf(stderr, "sockaction_bench: %s\n", problem->c_str());
    return 2;
  }
  if (options.list_backends) {
    print_backends();
    return 0;
  }

  std::string out_path;  // Google Benchmark creates it even when no benchmark matches the filter
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument.starts_with("--benchmark_out=")) out_path = argument.substr(16);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (auto problem = check_output_paths(out_path, options.trace_path)) {
    std::fprintf(stderr, "sockaction_bench: %s\n", problem->c_str());
    return 2;
  }
  if (!options.trace_path.empty()) {
    trace_file = std::fopen(options.trace_path.c_str(), "w");
    if (!trace_file) {
      std::fprintf(stderr, "sockaction_bench: cannot write the trace to \"%s\": %s; give a writable path\n",
                   options.trace_path.c_str(), std::strerror(errno));
      return 2;
    }
  }
  if (options.external_url.empty()) {
    sockaction::HttpServerOptions server_options;
    server_options.threads = options.server_threads;
    server = std::make_unique<sockaction::HttpServer>(server_options);
  }
  add_context();
  register_cases();
  const std::size_t matched = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  server.reset();
  if (trace_file && !close_trace()) return 1;
  if (matched == 0) {
    if (!out_path.empty()) std::remove(out_path.c_str());
    if (!options.trace_path.empty()) std::remove(options.trace_path.c_str());
    std::fprintf(stderr, "sockaction_bench: no benchmark matches the filter; list them with "
                         "--benchmark_list_tests\n");
    return 2;
  }
  if (benchmarks_failed > 0) {
    std::fprintf(stderr, "sockaction_bench: %d benchmark(s) failed; see error_message in the output for each\n",
                 benchmarks_failed);
    return 1;
  }
  if (benchmarks_passed == 0) {
    std::fprintf(stderr, "sockaction_bench: no benchmark ran: every selected one was skipped\n");
    return 1;
  }
  return 0;
}
