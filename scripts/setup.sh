#!/usr/bin/env bash
# Installs the Debian packages sockaction builds and runs with, when any is missing.
# Debian 12 or Ubuntu 22.04+; run as root or with sudo available.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libcurl4-openssl-dev libboost1.81-dev libbenchmark-dev libgtest-dev
  liburing-dev libuv1-dev libevent-dev
  clang libclang-rt-14-dev
  nginx-light wrk curl
  valgrind jq
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all packages present"
  exit 0
fi

sudo_command=()
[[ $(id -u) -eq 0 ]] || sudo_command=(sudo)
"${sudo_command[@]}" apt-get update -qq
# Ubuntu ships Boost under its own version (1.83 on 24.04): take the distribution's default
# there. Beast and Asio need 1.74 or later, which CMake checks.
if ! apt-cache show libboost1.81-dev >/dev/null 2>&1; then
  missing=("${missing[@]/libboost1.81-dev/libboost-dev}")
fi
echo "setup: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive "${sudo_command[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
