#!/usr/bin/env bash
# The short comparison: builds the benchmark in Release, runs every backend x scenario x
# concurrency with a few repetitions, writes results/bench.json and results/comparison.md, and
# prints the table. Extra arguments go to sockaction_bench, e.g. --backends=epoll,multi_poll.
# About 3 to 4 minutes on 2 cores. REPETITIONS and MIN_TIME (seconds) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
repetitions=${REPETITIONS:-5}
min_time=${MIN_TIME:-0.1}
output=${OUTPUT:-results}

cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOCKACTION_BUILD_TESTS=OFF >/dev/null
ninja -C build-release sockaction_bench sockaction_report

mkdir -p "$output"
partial=$(mktemp "$output/.bench.XXXXXX.json")
trap 'rm -f "$partial"' EXIT
# The JSON lands in place only after the report tool has checked it, so an interrupted or failed
# run never leaves a report that looks valid.
# Random interleaving runs the repetitions of all benchmarks in a shuffled order, so a drift over
# the run (TIME_WAIT sockets piling up, the VM's neighbours) does not favour the backends that
# happen to come first in the registry.
build-release/bench/sockaction_bench \
  --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_min_time="$min_time" \
  --benchmark_out="$partial" --benchmark_out_format=json "$@"
build-release/bench/sockaction_report --input "$partial" --check --output "$output/comparison.md" >/dev/null
mv "$partial" "$output/bench.json"
trap - EXIT
cat "$output/comparison.md"
