#!/usr/bin/env bash
# Bad input to sockaction_bench: each case must exit non-zero, print one sentence naming the
# value, and leave no --benchmark_out file behind. Then a tiny real run must produce JSON that
# sockaction_report --check accepts.
set -euo pipefail
bench=$1
report=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

expect_rejected() {
  local expected=$1
  shift
  local out="$work/out.json"
  rm -f "$out"
  local status=0
  "$bench" "$@" --benchmark_out="$out" --benchmark_out_format=json >"$work/stdout" 2>"$work/stderr" || status=$?
  if [[ $status -eq 0 ]]; then
    echo "FAIL: '$*' exited 0"; failures=$((failures + 1)); return
  fi
  if ! grep -qF -- "$expected" "$work/stderr"; then
    echo "FAIL: '$*' printed no '$expected':"; cat "$work/stderr"; failures=$((failures + 1)); return
  fi
  if [[ -e $out ]]; then
    echo "FAIL: '$*' left a report at $out"; failures=$((failures + 1)); return
  fi
  echo "ok: $* -> $(head -n1 "$work/stderr")"
}

expect_rejected 'unknown backend "nosuch"' --backends=nosuch
expect_rejected 'invalid URL "http//bad"' --url=http//bad
expect_rejected 'invalid URL "ftp://127.0.0.1/x"' --url=ftp://127.0.0.1/x
expect_rejected 'invalid concurrency 0' --concurrency=0
expect_rejected 'invalid concurrency -5' --concurrency=1,-5
expect_rejected 'invalid concurrency "abc"' --concurrency=abc
expect_rejected 'ulimit -n' --concurrency=1000000
expect_rejected 'unknown scenario "huge"' --scenarios=huge
expect_rejected '--url is empty' --url=
expect_rejected '--backends is empty' --backends=
expect_rejected 'no benchmark matches the filter' --benchmark_filter=no-such-benchmark
expect_rejected 'cannot write --trace=/nonexistent/dir/trace.txt' --trace=/nonexistent/dir/trace.txt
expect_rejected '--trace needs a value' --trace --concurrency=2
expect_rejected '--scenarios does not apply with --url' --url=http://127.0.0.1:1/ --scenarios=small
expect_rejected 'both name' --trace="$work/out.json"
expect_rejected 'no benchmark matches the filter' --benchmark_filter=no-such-benchmark --trace="$work/unused.trace"
if [[ -e $work/unused.trace ]]; then
  echo "FAIL: a run that matched nothing left its trace file"; failures=$((failures + 1))
fi
status=0
"$bench" --benchmark_out=/nonexistent/dir/out.json >/dev/null 2>"$work/stderr" || status=$?
if [[ $status -ne 2 ]] || ! grep -q 'folder /nonexistent/dir does not exist' "$work/stderr"; then
  echo "FAIL: --benchmark_out in a missing folder exited $status"; cat "$work/stderr"; failures=$((failures + 1))
else
  echo "ok: --benchmark_out in a missing folder -> $(head -n1 "$work/stderr")"
fi
if [[ -w /dev/full ]]; then
  status=0
  "$bench" --backends=epoll --scenarios=small --concurrency=2 --transfers=8 --trace=/dev/full \
    >/dev/null 2>"$work/stderr" || status=$?
  if [[ $status -ne 1 ]] || ! grep -q 'writing the trace to "/dev/full" failed' "$work/stderr"; then
    echo "FAIL: a trace that could not be written exited $status"; failures=$((failures + 1))
  else
    echo "ok: a failed trace write -> exit 1"
  fi
fi

# --trace writes a line naming the benchmark and iteration, then every callback and action. A
# keep-alive run of 8 transfers at concurrency 2 announces sockets, sets deadlines and acts on
# ready sockets. With --trace, each benchmark runs one iteration.
"$bench" --backends=epoll --scenarios=small --concurrency=2 --transfers=8 --benchmark_min_time=0.01 \
  --trace="$work/trace.txt" >/dev/null 2>"$work/stderr"
for line in '# epoll/small/concurrency:2 iteration 1' 'socket_cb fd=' 'timer_cb timeout_ms=0' \
  'action fd=-1 events=0' 'wakeup events='; do
  if ! grep -qF -- "$line" "$work/trace.txt"; then
    echo "FAIL: the trace has no '$line' line"; failures=$((failures + 1))
  fi
done
if [[ $(grep -c '^# ' "$work/trace.txt") -ne 1 ]]; then
  echo "FAIL: the traced benchmark ran more than one iteration"; failures=$((failures + 1))
fi
echo "ok: --trace wrote $(wc -l <"$work/trace.txt") lines"

# A benchmark whose transfers fail makes the run exit 1, and the report check rejects its JSON.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 1)
status=0
"$bench" --url="http://127.0.0.1:$port/" --backends=epoll --concurrency=1 --transfers=2 \
  --benchmark_min_time=0.01 --benchmark_out="$work/failed.json" --benchmark_out_format=json >/dev/null 2>"$work/stderr" || status=$?
if [[ $status -ne 1 ]] || ! grep -q 'benchmark(s) failed' "$work/stderr"; then
  echo "FAIL: a run against a closed port exited $status"; cat "$work/stderr"; failures=$((failures + 1))
elif "$report" --input "$work/failed.json" --check >/dev/null 2>&1; then
  echo "FAIL: the report check accepted a failed benchmark"; failures=$((failures + 1))
else
  echo "ok: failed transfers -> exit 1, report check rejects the JSON"
fi

# The descriptor check must hold under a low limit too, the usual 1024 of a login shell.
status=0
(ulimit -n 256 && "$bench" --concurrency=512 --benchmark_out="$work/low.json") 2>"$work/stderr" >/dev/null || status=$?
if [[ $status -eq 0 ]] || ! grep -q 'ulimit -n' "$work/stderr" || [[ -e $work/low.json ]]; then
  echo "FAIL: concurrency 512 under ulimit -n 256 was not rejected"; cat "$work/stderr"; failures=$((failures + 1))
else
  echo "ok: concurrency 512 under ulimit -n 256 -> $(head -n1 "$work/stderr")"
fi

# A real short run through every backend produces JSON that passes the report's checks, also
# with repetitions, whose aggregates include NaN for the variation of all-zero counters.
"$bench" --scenarios=small --concurrency=1,16 --transfers=64 --benchmark_min_time=0.01 \
  --benchmark_repetitions=2 --benchmark_report_aggregates_only=true \
  --benchmark_out="$work/run.json" --benchmark_out_format=json >/dev/null
"$report" --input "$work/run.json" --check --output "$work/table.md" >/dev/null
grep -q '| small | 16 |' "$work/table.md" || { echo "FAIL: table lacks the small/16 row"; failures=$((failures + 1)); }
echo "ok: short run and report check"

# The expectation line reports when two medians differ by less than the repetitions vary.
write_two_rows() {  # epoll median, epoll cv, multi_poll median, multi_poll cv
  local rows="" name median cv aggregate value
  for name in epoll multi_poll; do
    if [[ $name == epoll ]]; then median=$1 cv=$2; else median=$3 cv=$4; fi
    for aggregate in median cv; do
      value=$median
      [[ $aggregate == cv ]] && value=$cv
      rows+="${rows:+,}{\"name\": \"$name/small/concurrency:64/real_time_$aggregate\", \"run_name\": \"$name/small/concurrency:64/real_time\", \"run_type\": \"aggregate\", \"aggregate_name\": \"$aggregate\", \"repetitions\": 3, \"requests\": $value}"
    done
  done
  echo "{\"context\": {}, \"benchmarks\": [$rows]}"
}
write_two_rows 70000 0.10 72000 0.02 >"$work/close.json"
write_two_rows 60000 0.02 72000 0.02 >"$work/apart.json"
if ! "$report" --input "$work/close.json" | grep -q 'cannot tell them apart'; then
  echo "FAIL: a 2.8 % difference under a 10 % variation was not called undecided"; failures=$((failures + 1))
elif "$report" --input "$work/apart.json" | grep -q 'cannot tell them apart'; then
  echo "FAIL: a 17 % difference under a 2 % variation was called undecided"; failures=$((failures + 1))
else
  echo "ok: the expectation line weighs the difference against the variation"
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures bench CLI checks failed"
  exit 1
fi
