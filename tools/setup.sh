#!/usr/bin/env bash
# Installs every Debian package the build, tests, demo and benchmarks need.
# Idempotent: a fast no-op when everything is present.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-platforms g++ pkg-config
  cmake  # the CMake build for users without Bazel (tests/cmake/install_test.sh)
  # libraries (headers + pkg-config files)
  libabsl-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev  # the zcipc CLI's JSON output
  # tools used by tests and scripts
  python3 clang-format valgrind  # valgrind: bench/callgrind.sh
  # tools/fuzz.sh: clang and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
  # bench/compare.sh: the peers (LMDB, Boost.Interprocess, Redis + hiredis) and the chart;
  # redis-server and libhiredis-dev are also the sync's (zcipc sync, tests/sync)
  liblmdb-dev libboost-dev redis-server libhiredis-dev gnuplot-nox
  # python/: the extension module's headers, pytest, the wheel test's venv,
  # and the Python benchmark's Redis client
  python3-dev python3-pytest python3-venv python3-pip python3-redis
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
