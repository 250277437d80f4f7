#!/usr/bin/env bash
# Builds the fuzz targets the way OSS-Fuzz and ClusterFuzzLite expect, into $OUT:
#   <target>                      the fuzzer, linked with $LIB_FUZZING_ENGINE
#   <target>_seed_corpus.zip      the seed corpus generated from fuzz/scenarios/<target>/
#   <target>.options, http.dict   libFuzzer options and the dictionary they name
#   lib/                          the shared libraries the fuzzers need beyond the C library
# CC, CXX, CFLAGS, CXXFLAGS (with the sanitizer and -fsanitize=fuzzer-no-link flags),
# LIB_FUZZING_ENGINE and OUT come from the OSS-Fuzz build environment; WORK is optional.
#
# NOTE: the fuzzers link the distribution's shared libcurl, libuv and libevent. They are copied
# into $OUT/lib and found through an $ORIGIN rpath, because runner images lack them. That copy
# has only been tried with a local build, not in OSS-Fuzz's own runner image.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${OUT:?OUT must name the output folder}"
: "${LIB_FUZZING_ENGINE:?LIB_FUZZING_ENGINE must hold the fuzzing engine link flags}"
build=${WORK:-/tmp}/sockaction-oss-fuzz-build

# CMAKE_BUILD_TYPE=None adds no optimization flags of its own to the ones in CFLAGS/CXXFLAGS.
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_BUILD_RPATH="\$ORIGIN/lib" \
  -DSOCKACTION_BUILD_FUZZERS=ON -DSOCKACTION_BUILD_TESTS=OFF -DSOCKACTION_BUILD_BENCH=OFF \
  -DSOCKACTION_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"

targets=$(cmake --build "$build" --target help | sed -n 's/^\([a-z_]*\)_fuzzer:.*/\1/p' | sort)
# shellcheck disable=SC2046
cmake --build "$build" --target $(for target in $targets; do echo "${target}_fuzzer"; done)

mkdir -p "$OUT/lib"
cp "$root/fuzz/http.dict" "$OUT/"
for target in $targets; do
  cp "$build/fuzz/${target}_fuzzer" "$OUT/$target"
  [[ -f $root/fuzz/$target.options ]] && cp "$root/fuzz/$target.options" "$OUT/"
  corpus=$build/fuzz/corpus/$target
  if [[ -n $(ls -A "$corpus" 2>/dev/null) ]]; then
    (cd "$corpus" && cmake -E tar cf "$OUT/${target}_seed_corpus.zip" --format=zip -- *)
  fi
  # Every shared library except the C and C++ runtime libraries, which every image has.
  ldd "$OUT/$target" | awk '/=> \// { print $3 }' |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+)\.so' |
    while read -r library; do
      # Through the $ORIGIN rpath, a later fuzzer finds the copies an earlier one made.
      [[ $library == "$OUT/lib/"* ]] || cp -L "$library" "$OUT/lib/"
    done
done
# shellcheck disable=SC2086
echo "oss-fuzz-build: built into $OUT:" $targets
