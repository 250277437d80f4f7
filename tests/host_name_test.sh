#!/usr/bin/env bash
# Transfers to a host name, through libcurl's resolver, for every backend. libcurl 7.88.1's
# threaded resolver hands its socketpair to the socket callback and closes it without
# CURLOPT_CLOSESOCKETFUNCTION, and the connection socket then takes the same number. A backend
# that took the new socket for the old one never registered it, and the run hung.
#
# The host name is SOCKACTION_TEST_HOST, or this machine's name. It must resolve to loopback
# addresses only (127.0.0.0/8 or ::1), or the test is skipped (exit 77), so no traffic leaves the
# machine. "localhost" does not serve, because libcurl resolves it without the resolver thread.
set -euo pipefail
bench=$1
server=$2
host=${SOCKACTION_TEST_HOST:-$(hostname)}

addresses=$(getent ahosts "$host" | awk '{print $1}' | sort -u || true)
if [[ -z $addresses ]]; then
  echo "skip: host name \"$host\" does not resolve; set SOCKACTION_TEST_HOST to a name for 127.0.0.1"
  exit 77
fi
if grep -qvE '^(127\.[0-9]+\.[0-9]+\.[0-9]+|::1)$' <<<"$addresses"; then
  echo "skip: host name \"$host\" resolves to" $addresses "and not only to loopback;" \
    "set SOCKACTION_TEST_HOST to a name for 127.0.0.1"
  exit 77
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$server" --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$work/server.log")
  [[ -z $port ]] || break
  sleep 0.1
done
[[ -n $port ]] || { echo "FAIL: sockaction_server did not report its port"; cat "$work/server.log"; exit 1; }

failures=0
mapfile -t backends < <("$bench" --list_backends | awk '$2 == "available" {print $1}')
for backend in "${backends[@]}"; do
  for concurrency in 1 16; do
    status=0
    # A hang shows as the 60 s timeout, well below the bench's own run limit of 120 s.
    timeout 60 "$bench" --backends="$backend" --url="http://$host:$port/bytes/128" \
      --concurrency="$concurrency" --transfers=64 --benchmark_min_time=0.000001 \
      --benchmark_format=json >"$work/out.json" 2>"$work/err" || status=$?
    if [[ $status -ne 0 ]]; then
      echo "FAIL: $backend at concurrency $concurrency exited $status (124: hung for 60 s)"
      tail -n 3 "$work/err"
      failures=$((failures + 1))
      continue
    fi
    echo "ok: $backend at concurrency $concurrency, 64 transfers to $host"
  done
done
[[ $failures -eq 0 ]] || { echo "$failures run(s) failed"; exit 1; }
