// Fuzz target: decodes the input into socketpair operations (tests/differential) and runs them on
// every available socket_action backend, each checked against poll(2) after every step. A
// disagreement prints the backend, the step, the sequence and a minimized sequence in the text
// form that SOCKACTION_DIFFERENTIAL_REPLAY reads (see tests/differential_test.cpp), then aborts.
//
// SOCKACTION_DIFFERENTIAL_BACKENDS=<name>,<name> limits the run to the named backends, for
// example to keep fuzzing the others while one has a known mismatch.

#include "tests/differential/differential.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sockaction::BackendInfo;
namespace differential = sockaction::differential;

// Operations run per input at most. Longer inputs are cut, because each operation costs a few
// system calls on every backend and short inputs keep the executions per second high.
constexpr std::size_t max_ops_per_input = 256;

constexpr std::string_view target_name = "backend_differential";

// Whether `name` is one of the comma-separated names in `list`.
bool list_contains(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (list.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Exits when SOCKACTION_DIFFERENTIAL_BACKENDS names a backend this build does not know.
void check_backend_filter(std::string_view filter) {
  std::string_view rest = filter;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view name = rest.substr(0, comma);
    if (!name.empty() && sockaction::find_backend(name) == nullptr) {
      std::fprintf(stderr, "%.*s: SOCKACTION_DIFFERENTIAL_BACKENDS names unknown backend \"%.*s\"; known: %s\n",
                   static_cast<int>(target_name.size()), target_name.data(), static_cast<int>(name.size()),
                   name.data(), sockaction::backend_names().c_str());
      std::exit(1);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

// The backends to fuzz, chosen once per process: every socket_action backend that is available
// here and passes the filter. Skipped backends are listed once on stderr with the reason.
std::vector<const BackendInfo*> choose_backends() {
  const char* filter = std::getenv("SOCKACTION_DIFFERENTIAL_BACKENDS");
  if (filter != nullptr) check_backend_filter(filter);

  std::vector<const BackendInfo*> chosen;
  std::string names;
  for (const BackendInfo& backend : sockaction::all_backends()) {
    if (backend.loop != sockaction::LoopKind::socket_action) continue;
    if (filter != nullptr && !list_contains(filter, backend.name)) continue;
    const sockaction::Availability availability = backend.probe();
    if (!availability.available) {
      std::fprintf(stderr, "%.*s: skipping backend %s: %s\n", static_cast<int>(target_name.size()),
                   target_name.data(), backend.name.c_str(), availability.reason.c_str());
      continue;
    }
    chosen.push_back(&backend);
    names += names.empty() ? backend.name : ", " + backend.name;
  }
  if (chosen.empty()) {
    std::fprintf(stderr, "%.*s: no backend to fuzz; check SOCKACTION_DIFFERENTIAL_BACKENDS\n",
                 static_cast<int>(target_name.size()), target_name.data());
    std::exit(1);
  }
  std::fprintf(stderr, "%.*s: fuzzing %s against poll(2)\n", static_cast<int>(target_name.size()),
               target_name.data(), names.c_str());
  return chosen;
}

const std::vector<const BackendInfo*>& fuzzed_backends() {
  static const std::vector<const BackendInfo*> backends = choose_backends();
  return backends;
}

[[noreturn]] void report_mismatch(const BackendInfo& backend, const differential::Mismatch& mismatch,
                                  const std::vector<differential::Operation>& ops) {
  std::fprintf(stderr, "%.*s: %s disagrees with poll(2) at step %zu: %s\nSequence (%zu operations):\n%s",
               static_cast<int>(target_name.size()), target_name.data(), backend.name.c_str(), mismatch.step,
               mismatch.description.c_str(), ops.size(), differential::format_operations(ops).c_str());
  const std::vector<differential::Operation> minimized = differential::minimize(backend, ops);
  std::fprintf(stderr, "Minimized sequence (%zu operations):\n%s", minimized.size(),
               differential::format_operations(minimized).c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<const BackendInfo*>& backends = fuzzed_backends();
  std::vector<differential::Operation> ops = differential::decode_operations({data, size});
  if (ops.size() > max_ops_per_input) ops.resize(max_ops_per_input);

  for (const BackendInfo* backend : backends) {
    std::optional<differential::Mismatch> mismatch;
    try {
      mismatch = differential::run_differential(*backend, ops);
    } catch (const std::exception& error) {
      // The harness itself failed (socketpair, send, create()), not the comparison.
      std::fprintf(stderr, "%.*s: run on %s failed: %s\n", static_cast<int>(target_name.size()),
                   target_name.data(), backend->name.c_str(), error.what());
      std::abort();
    }
    if (mismatch) report_mismatch(*backend, *mismatch, ops);
  }
  return 0;
}
