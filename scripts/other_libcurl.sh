#!/usr/bin/env bash
# Builds the benchmark against a second libcurl, Debian 12's backport (8.x), through
# CMAKE_PREFIX_PATH, and checks that the binary runs with it and records it in its JSON.
#
# The packages are fetched with apt-get into a private directory and unpacked with dpkg -x:
# the system's libcurl, apt sources and package lists are left untouched. Debian 12 only, since
# the backport is built against its libraries.
#
# Usage: scripts/other_libcurl.sh [BENCH_ARGS...]   (extra arguments go to sockaction_bench)
# The unpacked install lands in .deps/libcurl-backports/usr, the build in build-other-libcurl/.
set -euo pipefail
cd "$(dirname "$0")/.."

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
deps=.deps/libcurl-backports
build=build-other-libcurl

codename=$( . /etc/os-release && echo "${VERSION_CODENAME:-}")
if [[ $codename != bookworm ]]; then
  echo "other_libcurl.sh: this system is \"${codename:-unknown}\", not Debian 12 (bookworm);" \
    "point CMAKE_PREFIX_PATH at a libcurl you installed instead, as the README shows" >&2
  exit 2
fi

fetch_backport() {
  local apt_dir=$deps/apt
  rm -rf "$deps"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  echo "deb $mirror bookworm-backports main" >"$apt_dir/sources.list"
  local options=(-o "Dir::Etc::SourceList=$PWD/$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$PWD/$apt_dir/lists" -o "Dir::Cache::Archives=$PWD/$apt_dir/archives"
    -o APT::Sandbox::User=root)
  apt-get "${options[@]}" update >/dev/null
  (cd "$apt_dir/archives" &&
    apt-get "${options[@]}" download libcurl4/bookworm-backports libcurl4-openssl-dev/bookworm-backports >/dev/null)
  for package in "$apt_dir"/archives/*.deb; do dpkg -x "$package" "$deps"; done
}

fetch_backport
prefix=$PWD/$deps/usr
expected=$(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"$/\1/p' "$prefix"/include/*/curl/curlver.h)
system=$(curl-config --version 2>/dev/null | awk '{print $2}')
echo "== libcurl $expected unpacked in $prefix (the system has ${system:-none})"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOCKACTION_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$build" sockaction_bench sockaction_report >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/bench/sockaction_bench" --backends=epoll,multi_poll --scenarios=small --concurrency=1,16 \
  --transfers=64 --benchmark_min_time=0.01 "$@" \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json >/dev/null 2>"$out/stderr" ||
  { cat "$out/stderr" >&2; exit 1; }
"$build/bench/sockaction_report" --input "$out/bench.json" --check --output "$out/table.md" >/dev/null

for key in libcurl_version libcurl_compiled_version; do
  if ! grep -qF "\"$key\": \"$expected\"" "$out/bench.json"; then
    echo "other_libcurl.sh: the report does not record $key $expected; it has:" \
      "$(grep -F "\"$key\"" "$out/bench.json")" >&2
    exit 1
  fi
done
echo "== the benchmark built against, ran with and recorded libcurl $expected"
