#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and UndefinedBehaviorSanitizer, then
# runs each one for a bounded time on its seed corpus. Exits 1 if any target crashes, times out,
# leaks or runs out of memory, after printing the path of the input libFuzzer saved for it.
#
# Environment:
#   FUZZ_SECONDS       seconds each target runs (default 60), passed as -max_total_time
#   FUZZ_TARGETS       space-separated targets to run (default: every *_fuzzer this build has)
#   FUZZ_BUILD_DIR     build folder (default: build-fuzz in the repository)
#   FUZZ_RSS_LIMIT_MB  memory limit per fuzzer process (default 2048), -rss_limit_mb
#   SOCKACTION_FUZZ_SKIP_BACKENDS  comma-separated backends the event_sequence target skips
# Each target also gets the libFuzzer flags of fuzz/<target>.options (max_len, timeout, dict,
# len_control); -timeout is 30 s when the file sets none. Inputs that add coverage are kept in $FUZZ_BUILD_DIR/fuzz-run/<target>/
# corpus, so a later run starts from them; reproducers go to .../artifacts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}

# Coverage instrumentation for core and backends too, not only for the fuzz code.
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DSOCKACTION_SANITIZE=address,undefined \
  -DSOCKACTION_BUILD_FUZZERS=ON -DSOCKACTION_BUILD_TESTS=OFF -DSOCKACTION_BUILD_BENCH=OFF

available=$(cmake --build "$build" --target help | sed -n 's/^\([a-z_]*\)_fuzzer:.*/\1/p' | sort)
targets=${FUZZ_TARGETS:-$available}
for target in $targets; do
  if ! grep -qx "$target" <<<"$available"; then
    # shellcheck disable=SC2086
    echo "run_fuzzers: unknown target \"$target\"; this build has:" $available >&2
    exit 2
  fi
done
# shellcheck disable=SC2046
cmake --build "$build" --target $(for target in $targets; do echo "${target}_fuzzer"; done)

# Prints one -key=value argument per line of the [libfuzzer] section of fuzz/<target>.options,
# with the dictionary's path made absolute.
options_arguments() {
  local file=$root/fuzz/$1.options
  [[ -f $file ]] || return 0
  sed -n 's/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1=\2/p' "$file" |
    sed "s|^dict=|dict=$root/fuzz/|; s|^|-|"
}

failed=()
for target in $targets; do
  work=$build/fuzz-run/$target
  mkdir -p "$work/corpus" "$work/artifacts"
  arguments=(-timeout=30)  # the options file may set another
  mapfile -t -O 1 arguments < <(options_arguments "$target")
  arguments+=(-max_total_time="$seconds" -rss_limit_mb="$rss_limit" -print_final_stats=1
              -artifact_prefix="$work/artifacts/")

  echo "run_fuzzers: $target for ${seconds} s"
  before=$(ls "$work/artifacts")
  status=0
  "$build/fuzz/${target}_fuzzer" "${arguments[@]}" "$work/corpus" "$build/fuzz/corpus/$target" \
    >"$work/log.txt" 2>&1 || status=$?
  grep -E '^(stat::|#[0-9]+.*DONE)' "$work/log.txt" || true
  if [[ $status -ne 0 ]]; then
    tail -n 40 "$work/log.txt"
    reproducer=$(comm -13 <(echo "$before") <(ls "$work/artifacts") | head -n 1)
    echo "run_fuzzers: $target failed with exit status $status; log: $work/log.txt" >&2
    if [[ -n $reproducer ]]; then
      echo "run_fuzzers: reproducer: $work/artifacts/$reproducer" >&2
      echo "run_fuzzers: replay it with: $build/fuzz/${target}_fuzzer $work/artifacts/$reproducer" >&2
    fi
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzzers: failed targets: ${failed[*]}" >&2
  exit 1
fi
# shellcheck disable=SC2086
echo "run_fuzzers: every target ran ${seconds} s without a failure:" $targets
