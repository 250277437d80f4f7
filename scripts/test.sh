#!/usr/bin/env bash
# The test command: builds everything and runs the CTest suites twice, once as built for use and
# once under AddressSanitizer and UndefinedBehaviorSanitizer, then the threaded parts (server
# threads meeting the driver's thread) under ThreadSanitizer.
# Build folders: build/ (RelWithDebInfo), build-asan/, build-tsan/ under the repository.
# SOCKACTION_SKIP_SANITIZERS=1 runs the first pass only.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

configure_build_test() {
  local folder=$1
  shift
  cmake -S . -B "$folder" -G Ninja "$@" >/dev/null
  ninja -C "$folder" -j "$jobs"
  (cd "$folder" && ctest -j "$jobs" --output-on-failure "${CTEST_ARGS[@]}")
}

CTEST_ARGS=()
configure_build_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [[ ${SOCKACTION_SKIP_SANITIZERS:-0} == 1 ]]; then
  exit 0
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
configure_build_test build-asan -DCMAKE_BUILD_TYPE=Debug -DSOCKACTION_SANITIZE=address,undefined \
  -DSOCKACTION_BUILD_BENCH=OFF

# ThreadSanitizer: the suites where the server's threads and the driver's thread share a process.
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
CTEST_ARGS=(-R "TransferIntegrity|TransferErrors|DescriptorHygiene|Server")
configure_build_test build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKACTION_SANITIZE=thread \
  -DSOCKACTION_BUILD_BENCH=OFF
