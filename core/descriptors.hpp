// Descriptor limits and counts: how many a concurrency needs, and how many are open.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace sockaction {

// Raises the soft RLIMIT_NOFILE to the hard limit, as servers and load generators commonly do,
// and returns the soft limit in force afterwards.
std::size_t raise_descriptor_limit();

// Descriptors a run at `concurrency` needs: one client socket per transfer in flight, one more
// per transfer when the server runs in this process, and a reserve for everything else.
std::size_t descriptors_needed(int concurrency, bool in_process_server);

// Checks `concurrency` against the soft RLIMIT_NOFILE. When the limit is too low, returns a
// sentence naming the concurrency, what it needs, the limit and `ulimit -n` as the fix.
std::optional<std::string> check_descriptor_limit(int concurrency, bool in_process_server);

// Descriptors open in this process, counted in /proc/self/fd (Linux) or /dev/fd.
std::size_t count_open_descriptors();

}  // namespace sockaction
