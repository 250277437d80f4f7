#!/usr/bin/env bash
# Compares the requests/s of sockaction_server with nginx serving the same 128-byte body as a
# static file, both on 127.0.0.1 with one thread (one worker for nginx), measured with wrk.
# Writes results/server_vs_nginx.md and exits 1 when the server reaches less than MIN_RATIO of
# nginx's requests/s.
#
# Usage: scripts/server_vs_nginx.sh [PATH_TO_SOCKACTION_SERVER]
#   default binary: build/servers/sockaction_server (built beforehand; this script builds nothing)
# Environment:
#   DURATION   seconds of each wrk run (default 10)
#   MIN_RATIO  lowest accepted server/nginx ratio (default 0.70)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_binary=${1:-$repo_root/build/servers/sockaction_server}
duration=${DURATION:-10}
min_ratio=${MIN_RATIO:-0.70}
wrk_threads=1
wrk_connections=50
body_size=128
result_file=$repo_root/results/server_vs_nginx.md

fail() {
  echo "server_vs_nginx.sh: $*" >&2
  exit 1
}

[[ -x $server_binary ]] || fail "server binary '$server_binary' is missing or not executable: build it first (ninja -C build sockaction_server) or pass its path"
[[ $duration =~ ^[1-9][0-9]*$ ]] || fail "DURATION must be a positive number of seconds, got '$duration'"
[[ $min_ratio =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "MIN_RATIO must be a decimal number such as 0.70, got '$min_ratio'"
for tool in wrk nginx curl ss awk; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: install it (Debian: apt-get install wrk nginx-light curl iproute2 gawk)"
done

work_dir=$(mktemp -d)
server_pid=""
nginx_pid=""
temp_result=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [[ -n $temp_result ]] && rm -f "$temp_result"
  rm -rf "$work_dir"
}
trap cleanup EXIT

# Prints a TCP port below the kernel's ephemeral range (so no client connection takes it) that no
# socket on this machine uses. Another process could still take it before nginx binds it, in which
# case nginx fails to start and the script stops with nginx's error message.
free_port() {
  local ephemeral_low port
  read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
  ((ephemeral_low > 11024)) || ephemeral_low=65536
  for _ in $(seq 1 100); do
    port=$((10000 + RANDOM % (ephemeral_low - 10000)))
    if [[ -z $(ss -Htan "( sport = :$port )") ]]; then
      echo "$port"
      return 0
    fi
  done
  fail "found no free TCP port on 127.0.0.1 in 100 tries"
}

# Waits until `url` responds with status 200, for up to 5 s.
wait_until_serving() {
  local url=$1
  for _ in $(seq 1 50); do
    curl -sf -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

# Runs wrk against `url` and saves its output as wrk-NAME.txt in the temporary directory.
run_wrk() {
  local name=$1 url=$2 output_file=$work_dir/wrk-$1.txt
  wrk -t"$wrk_threads" -c"$wrk_connections" -d"${duration}s" "$url" >"$output_file" 2>&1 ||
    fail "wrk against $name ($url) failed: $(tail -n 3 "$output_file")"
  if grep -q "Non-2xx or 3xx responses\|Socket errors" "$output_file"; then
    cat "$output_file" >&2
    fail "wrk saw errors against $name (output above), so its numbers are not comparable"
  fi
}

# Prints "REQUESTS_PER_SECOND LATENCY_AVG" from the wrk output saved by run_wrk.
read_wrk_result() {
  awk '/^Requests\/sec:/ { rps = $2 } /^ +Latency/ { latency = $2 } END { print rps, latency }' \
    "$work_dir/wrk-$1.txt"
}

# --- sockaction_server ---------------------------------------------------------------------
"$server_binary" --address 127.0.0.1 --port 0 --threads 1 >"$work_dir/server.out" 2>"$work_dir/server.err" &
server_pid=$!
for _ in $(seq 1 50); do
  grep -q '^listening on ' "$work_dir/server.out" && break
  sleep 0.1
done
server_port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$work_dir/server.out")
[[ -n $server_port ]] || fail "sockaction_server failed to start: $(cat "$work_dir/server.err")"
server_url="http://127.0.0.1:$server_port/bytes/$body_size"

# --- nginx ---------------------------------------------------------------------------------
# When the script runs as root, nginx's worker runs as an unprivileged user (nobody), which must
# be able to read the document root.
chmod 755 "$work_dir"
mkdir -p "$work_dir/root/bytes"
curl -sf -o "$work_dir/root/bytes/$body_size" "$server_url" ||
  fail "could not fetch the $body_size-byte body from $server_url"
chmod 644 "$work_dir/root/bytes/$body_size"
[[ $(stat -c %s "$work_dir/root/bytes/$body_size") -eq $body_size ]] ||
  fail "the body fetched from $server_url is not $body_size bytes long"

nginx_port=$(free_port)
# keepalive_requests is raised from its default of 1000 so neither server closes connections
# during the run. open_file_cache spares nginx an open() per request. With sendfile off, nginx
# 1.22 sends header and body in one writev() instead of writev() plus sendfile(), and
# sockaction_server also sends each response with one sendmsg(). In two runs minutes apart on a
# 2-core AMD EPYC VM, sendfile off raised nginx from about 67k to about 145k requests/s.
cat >"$work_dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work_dir/nginx.pid;
error_log $work_dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=16;
  client_body_temp_path $work_dir/client_body;
  proxy_temp_path $work_dir/proxy;
  fastcgi_temp_path $work_dir/fastcgi;
  uwsgi_temp_path $work_dir/uwsgi;
  scgi_temp_path $work_dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work_dir/root;
  }
}
CONF
nginx -c "$work_dir/nginx.conf" -p "$work_dir" 2>"$work_dir/nginx-stderr.log" &
nginx_pid=$!
nginx_url="http://127.0.0.1:$nginx_port/bytes/$body_size"
wait_until_serving "$nginx_url" ||
  fail "nginx did not serve $nginx_url: $(cat "$work_dir/nginx-stderr.log" "$work_dir/nginx-error.log" 2>/dev/null | tail -n 3)"
cmp -s <(curl -sf "$nginx_url") "$work_dir/root/bytes/$body_size" ||
  fail "nginx does not serve the same body as sockaction_server"

# --- measurements --------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_wrk sockaction_server "$server_url"
run_wrk nginx "$nginx_url"
read -r server_rps server_latency < <(read_wrk_result sockaction_server)
read -r nginx_rps nginx_latency < <(read_wrk_result nginx)
[[ -n $server_rps && -n $nginx_rps ]] || fail "could not read Requests/sec from the wrk output"
ratio=$(awk -v s="$server_rps" -v n="$nginx_rps" 'BEGIN { printf "%.3f", s / n }')

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# Written next to the result file, so the final mv is an atomic rename on the same file system.
mkdir -p "$(dirname "$result_file")"
temp_result=$(mktemp "$result_file.XXXXXX")
cat >"$temp_result" <<REPORT
# sockaction_server vs nginx

GET /bytes/$body_size over HTTP/1.1 keep-alive on 127.0.0.1, one server thread, one wrk thread.

| server | requests/s | latency avg | ratio to nginx |
| --- | ---: | ---: | ---: |
| sockaction_server | $server_rps | $server_latency | $ratio |
| nginx | $nginx_rps | $nginx_latency | 1.000 |

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- kernel: $(uname -sr)
- CPU: $cpu_model, $(nproc) cores
- load average (1, 5, 15 min) before the runs: $load_before
- versions: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')
- commands:
  - \`sockaction_server --address 127.0.0.1 --port 0 --threads 1\`
  - \`nginx -c nginx.conf\` with worker_processes 1, access_log off, sendfile off,
    tcp_nodelay on, keepalive_requests 1000000, open_file_cache max=16, serving the body
    fetched from sockaction_server as the static file bytes/$body_size
  - \`wrk -t$wrk_threads -c$wrk_connections -d${duration}s URL\` against each, sockaction_server first
- produced by \`scripts/server_vs_nginx.sh\`, which fails below a ratio of $min_ratio
- each number is one run. Absolute requests/s change several-fold with other load on the
  machine, so compare the ratio, whose two runs follow each other.

REPORT
mv "$temp_result" "$result_file"
temp_result=""
cat "$result_file"

if awk -v r="$ratio" -v m="$min_ratio" 'BEGIN { exit !(r < m) }'; then
  fail "sockaction_server reached $ratio of nginx's requests/s, below the minimum of $min_ratio"
fi
