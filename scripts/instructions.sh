#!/usr/bin/env bash
# Counts the user-space instructions that the loop thread executes per request with each backend,
# under valgrind's callgrind, and splits them by the library that executes them. Writes
# results/instructions.md and prints it.
#
# Requests/s on a shared 2-core VM moves by 10 to 20 % between runs. These counts usually repeat
# within 1 %, and within 5 % while other work loads the machine, because the load changes how
# many sockets each wait returns. So they separate backends whose requests/s differ by less than
# that noise, and they show whether a difference lies in libcurl, in the C library or in
# sockaction's own code. They
# leave out the kernel's work (the syscalls column shows how often each backend enters it) and
# the time spent waiting.
#
# The server is sockaction_server in a separate process that runs natively. Under valgrind 3.19
# the in-process server made no progress while the io_uring loop waited in io_uring_enter, and the
# run stalled. The loop under callgrind runs about 50 times slower than the native server, so
# nearly every connection is ready at every wait: the regime in which a loop's cost per ready
# socket counts most.
#
# Environment, with defaults (about 1 minute on 2 cores):
#   BACKENDS=a,b     backends to count (every backend available here)
#   CONCURRENCY=64   transfers in flight
#   TRANSFERS=4096   transfers per run
#   RUNS=3           runs per backend; the report shows the run with the median total (the
#                    lower of the two middle runs for an even count)
#   OUTPUT=results/instructions.md
#   BUILD=build-release   a Release build folder; one configured with CMAKE_PREFIX_PATH counts
#                         another libcurl
set -euo pipefail
cd "$(dirname "$0")/.."

concurrency=${CONCURRENCY:-64}
transfers=${TRANSFERS:-4096}
runs=${RUNS:-3}
output=${OUTPUT:-results/instructions.md}
body_bytes=128

fail_usage() {
  echo "instructions.sh: $*" >&2
  exit 2
}

require_positive() {
  local name=$1 value=$2
  [[ $value =~ ^[1-9][0-9]*$ ]] || fail_usage "$name=\"$value\" is invalid. Give a positive integer."
}

require_positive CONCURRENCY "$concurrency"
require_positive TRANSFERS "$transfers"
require_positive RUNS "$runs"
for tool in valgrind jq; do
  command -v "$tool" >/dev/null || fail_usage "$tool is missing. Run scripts/setup.sh to install it."
done
output_dir=$(dirname "$output")
[[ -d $output_dir ]] || fail_usage "the folder of OUTPUT=\"$output\" does not exist. Create it first."
[[ ! -d $output ]] || fail_usage "OUTPUT=\"$output\" is a folder. Give the path of the report file."

build=${BUILD:-build-release}
if [[ -n ${BUILD:-} && ! -f $build/CMakeCache.txt ]]; then
  fail_usage "BUILD=\"$build\" is not a configured build folder. Configure it first, for example" \
    "cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=/opt/curl"
fi
# An existing build folder keeps its own settings, such as the CMAKE_PREFIX_PATH of another
# libcurl. It is configured again all the same, because the report's commit is read then.
if [[ -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOCKACTION_BUILD_TESTS=OFF >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ $build_type != Release && $build_type != RelWithDebInfo ]]; then
  fail_usage "BUILD=\"$build\" is configured as \"${build_type:-no build type}\", so sockaction's own" \
    "counts would not be those of an optimized build. Configure it with -DCMAKE_BUILD_TYPE=Release."
fi
cmake --build "$build" --target sockaction_bench sockaction_server >/dev/null
bench=$build/bench/sockaction_bench
server_binary=$build/servers/sockaction_server

if [[ -n ${BACKENDS:-} ]]; then
  IFS=, read -r -a backends <<<"$BACKENDS"
  known=$("$bench" --list_backends | awk '{print $1}' | paste -sd, -)
  for backend in "${backends[@]}"; do
    [[ ,$known, == *",$backend,"* ]] ||
      fail_usage "BACKENDS names \"$backend\", which is not a backend. Choose from $known."
  done
else
  mapfile -t backends < <("$bench" --list_backends | awk '$2 == "available" {print $1}')
fi

work=$(mktemp -d)
server_pid=
partial=
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
  [[ -z $partial ]] || rm -f "$partial"
}
trap cleanup EXIT

start_server() {
  "$server_binary" --port 0 >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    url=$(grep -o 'http://[^ ]*' "$work/server.log" || true)
    [[ -z $url ]] || return 0
    sleep 0.1
  done
  echo "instructions.sh: sockaction_server did not report its port within 5 s:" >&2
  cat "$work/server.log" >&2
  exit 1
}

# Prints the self cost of each object in a callgrind output file, one "count path" per line.
# It reads the file itself, because callgrind_annotate leaves the object off some lines (code
# inlined from headers), and checks that the counts add up to the file's total.
instructions_by_object() {
  awk '
    # Object names are compressed: "(id) name" the first time, in an ob= or a cob= line, and
    # "(id)" after that.
    function object_name(spec,    id, name) {
      if (!match(spec, /^\([0-9]+\)/)) return spec
      id = substr(spec, 2, RLENGTH - 2)
      name = substr(spec, RLENGTH + 1)
      sub(/^ /, "", name)
      if (name != "") names[id] = name
      return names[id]
    }
    /^ob=/ { object = object_name(substr($0, 4)); next }
    /^cob=/ { object_name(substr($0, 5)); next }
    /^calls=/ { skip_call_cost = 1; next }   # the next cost line is the callee, counted there
    /^[0-9+*-]/ {
      if (skip_call_cost) { skip_call_cost = 0; next }
      if (NF >= 2) { self[object] += $2; sum += $2 }
      next
    }
    /^totals:/ { totals = $2 }
    END {
      if (sum != totals) {
        printf "instructions.sh: %s: the objects add up to %.0f instructions, not the %.0f" \
          " in its totals line\n", FILENAME, sum, totals > "/dev/stderr"
        exit 1
      }
      for (name in self) printf "%.0f %s\n", self[name], name
    }' "$1"
}

# Sums the per-object counts into the report's columns and prints them per request:
# total libcurl runtime sockaction event_library other.
split_by_library() {
  local requests=$1
  awk -v requests="$requests" -v bench="$(realpath "$bench")" '
    {
      count = $1; object = $2
      if (object ~ /\/libcurl(-gnutls|-nss)?\.so/) column = "libcurl"
      else if (object == bench) column = "sockaction"
      else if (object ~ /\/lib(uv|event[_a-z]*|uring)[-.0-9]*\.so/) column = "event"
      else if (object ~ /\/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[-a-z0-9_]*)\.so/) column = "runtime"
      else column = "other"
      sum[column] += count; total += count
    }
    END {
      printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", total / requests, sum["libcurl"] / requests,
             sum["runtime"] / requests, sum["sockaction"] / requests, sum["event"] / requests,
             sum["other"] / requests
    }'
}

# Runs one backend once under callgrind. Prints "skip REASON" for an unavailable backend, or
# the per-request columns of split_by_library followed by syscalls and wakeups per request.
measure() {
  local backend=$1 run=$2
  local base="$work/$backend.$run"
  local status=0
  valgrind --tool=callgrind --collect-atstart=no "--toggle-collect=sockaction::run_workload(*" \
    --callgrind-out-file="$base.out" \
    "$bench" --backends="$backend" --url="$url/bytes/$body_bytes" --concurrency="$concurrency" \
    --transfers="$transfers" --benchmark_min_time=0.000001 --benchmark_format=json \
    >"$base.json" 2>"$base.log" || status=$?

  local benchmark
  benchmark=$(jq -c '.benchmarks[0] // empty' "$base.json" 2>/dev/null || true)
  if [[ -z $benchmark ]]; then
    echo "instructions.sh: $backend produced no benchmark (exit status $status). Its output:" >&2
    cat "$base.log" >&2
    exit 1
  fi
  if [[ $(jq -r '.error_occurred // false' <<<"$benchmark") == true ]]; then
    local reason
    reason=$(jq -r '.error_message' <<<"$benchmark")
    if [[ $reason == *"is not available here"* ]]; then
      echo "skip $reason"
      return
    fi
    echo "instructions.sh: $backend failed under valgrind: $reason" >&2
    exit 1
  fi
  # A single iteration means Google Benchmark ran the workload once, so every counted
  # instruction belongs to the $transfers transfers the JSON reports.
  local iterations done_transfers
  iterations=$(jq -r '.iterations' <<<"$benchmark")
  done_transfers=$(jq -r '.transfers | floor' <<<"$benchmark")
  if [[ $iterations != 1 || $done_transfers != "$transfers" ]]; then
    echo "instructions.sh: $backend ran $iterations iteration(s) and $done_transfers transfers." \
      "Expected 1 and $transfers, so the counts cannot be divided per request." >&2
    exit 1
  fi
  local columns
  columns=$(instructions_by_object "$base.out" | split_by_library "$transfers")
  if [[ $(cut -d' ' -f2 <<<"$columns") == 0 ]]; then
    echo "instructions.sh: callgrind counted no instruction in libcurl for $backend." \
      "Check that sockaction::run_workload is still the function that runs the transfers" >&2
    exit 1
  fi
  echo "$columns $(jq -r '"\(.syscalls_per_req) \(.wakeups_per_req)"' <<<"$benchmark")"
}

# Prints the run whose total is the median (the lower middle one for an even count), and the
# smallest and largest totals.
median_run() {
  sort -n -k1,1 | awk '{ line[NR] = $0; totals[NR] = $1 }
    END { print line[int((NR + 1) / 2)], totals[1], totals[NR] }'
}

start_server
for backend in "${backends[@]}"; do
  results="$work/$backend.results"
  : >"$results"
  for run in $(seq "$runs"); do
    measurement=$(measure "$backend" "$run")
    if [[ $measurement == skip* ]]; then
      echo "$measurement" >"$results"
      break
    fi
    echo "$measurement" >>"$results"
  done
  echo "instructions.sh: $backend done" >&2
done

format_count() {
  awk -v n="$1" 'BEGIN { if (n >= 10000) printf "%.1fk", n / 1000; else printf "%d", n }'
}

write_report() {
  local baseline_total=
  if [[ -s $work/multi_poll.results && $(head -c4 "$work/multi_poll.results") != skip ]]; then
    baseline_total=$(median_run <"$work/multi_poll.results" | cut -d' ' -f1)
  fi
  local first_json
  first_json=$(ls "$work"/*.json | head -n1)
  context_value() { jq -r ".context.$1 // \"unknown\"" "$first_json"; }

  echo "# Instructions per request"
  echo
  echo "User-space instructions of the loop thread per transfer, counted by valgrind's callgrind"
  echo "inside \`sockaction::run_workload\`. Made by \`scripts/instructions.sh\`."
  echo
  echo "| context | value |"
  echo "|---|---|"
  echo "| date | $(date -u +%Y-%m-%dT%H:%M:%SZ) |"
  echo "| libcurl | $(context_value libcurl_version) |"
  echo "| valgrind | $(valgrind --version) |"
  echo "| kernel | $(context_value kernel) |"
  echo "| sockaction_commit | $(context_value sockaction_commit) |"
  echo "| workload | $transfers transfers of $body_bytes bytes, concurrency $concurrency, keep-alive, from sockaction_server in its own process |"
  echo "| runs per backend | $runs (the median run by total is shown) |"
  echo
  echo "| backend | total | runs' range | vs multi_poll | libcurl | libc, libstdc++ | sockaction | event library | other | syscalls | wakeups |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local skipped=()
  for backend in "${backends[@]}"; do
    local results="$work/$backend.results"
    if [[ $(head -c4 "$results") == skip ]]; then
      skipped+=("$(cut -c6- "$results")")
      continue
    fi
    local total libcurl runtime own event other syscalls wakeups lowest highest
    read -r total libcurl runtime own event other syscalls wakeups lowest highest < <(median_run <"$results")
    local versus="n/a"
    if [[ $backend == multi_poll ]]; then
      versus="baseline"
    elif [[ -n $baseline_total ]]; then
      versus=$(awk -v a="$total" -v b="$baseline_total" 'BEGIN { printf "%+.1f %%", 100 * (a - b) / b }')
    fi
    printf '| %s | %s | %s to %s | %s | %s | %s | %s | %s | %s | %.2f | %.3f |\n' "$backend" \
      "$(format_count "$total")" "$(format_count "$lowest")" "$(format_count "$highest")" "$versus" \
      "$(format_count "$libcurl")" "$(format_count "$runtime")" "$(format_count "$own")" \
      "$(format_count "$event")" "$(format_count "$other")" "$syscalls" "$wakeups"
  done
  echo
  echo "- \`sockaction\` is the driver, the backend and the checks on each transfer; Asio's code is"
  echo "  compiled into it. \`libc, libstdc++\` includes the malloc and free calls that libcurl makes."
  echo "- \`syscalls\` and \`wakeups\` are per request, as in comparison.md, but for this run under"
  echo "  callgrind, where almost every connection is ready at every wait."
  if [[ ${#skipped[@]} -gt 0 ]]; then
    echo
    echo "Skipped:"
    echo
    for line in "${skipped[@]}"; do echo "- $line"; done
  fi
}

measured=0
for backend in "${backends[@]}"; do
  [[ $(head -c4 "$work/$backend.results") == skip ]] || measured=$((measured + 1))
done
if [[ $measured -eq 0 ]]; then
  echo "instructions.sh: no backend of \"${backends[*]}\" is available here, so nothing was" \
    "counted and $output is left as it was" >&2
  exit 1
fi

partial=$(mktemp "$output_dir/.instructions.XXXXXX.md")
write_report >"$partial"
chmod 644 "$partial"
mv "$partial" "$output"
partial=
cat "$output"
