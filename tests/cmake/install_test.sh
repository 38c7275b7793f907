#!/usr/bin/env bash
# The CMake build and install, as a user without Bazel would run them, then a
# consumer project outside the tree built against the installed prefix twice:
# with find_package(zcipc) (tests/cmake/consumer/CMakeLists.txt) and with
# `pkg-config --cflags --libs zcipc`; each consumer (C++ and C) creates a
# dict, puts, gets and unlinks. Also runs the installed zcipc CLI.
#
#   tests/cmake/install_test.sh      (tools/test.sh runs it; a few minutes)
#
# Builds with -j2 at -O1 (ZCIPC_CMAKE_JOBS overrides the job count) in a
# temporary directory that it removes.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/zcipc-cmake-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
jobs="${ZCIPC_CMAKE_JOBS:-2}"
prefix="$work/prefix"
name="cmake-install-test-$$"

step() { echo "== $*"; }

step "configure, build and install (prefix $prefix)"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" -j"$jobs" >>"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log"; exit 1; }
cmake --install "$work/build" --prefix "$prefix" >>"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log"; exit 1; }

step "installed files"
for f in include/zcipc/zero_copy_dict.h include/zcipc/options.h \
  include/zcipc/status.h include/zcipc/zcipc.h lib/libzcipc.a lib/libzcipc.so \
  bin/zcipc lib/pkgconfig/zcipc.pc lib/cmake/zcipc/zcipcConfig.cmake \
  lib/cmake/zcipc/zcipcConfigVersion.cmake; do
  [ -e "$prefix/$f" ] || { echo "missing: $prefix/$f"; exit 1; }
done
nm -D --defined-only "$prefix/lib/libzcipc.so" | grep -q ' T zcipc_get$' ||
  { echo "libzcipc.so does not export the C API"; exit 1; }

step "the installed CLI"
"$prefix/bin/zcipc" version
"$prefix/bin/zcipc" create "$name" >/dev/null
"$prefix/bin/zcipc" put "$name" key value >/dev/null
[ "$("$prefix/bin/zcipc" get "$name" key)" = "value" ] ||
  { echo "zcipc get: wrong value"; exit 1; }
"$prefix/bin/zcipc" unlink "$name" >/dev/null

step "consumer with find_package(zcipc)"
cmake -S "$src/tests/cmake/consumer" -B "$work/consumer" \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/consumer.log" 2>&1 &&
  cmake --build "$work/consumer" -j"$jobs" >>"$work/consumer.log" 2>&1 ||
  { cat "$work/consumer.log"; exit 1; }
"$work/consumer/consumer" "$name"
"$work/consumer/consumer_static" "$name"
"$work/consumer/consumer_c" "$name"

step "consumer with pkg-config --cflags --libs zcipc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
flags="$(pkg-config --cflags --libs zcipc)"
# shellcheck disable=SC2086  # flags are words
g++ -std=c++17 -O1 -o "$work/pc_consumer" "$src/tests/cmake/consumer/main.cc" \
  $flags -Wl,-rpath,"$prefix/lib"
# shellcheck disable=SC2086
gcc -std=c11 -Wall -Werror -o "$work/pc_consumer_c" \
  "$src/tests/cmake/consumer/main.c" $flags -Wl,-rpath,"$prefix/lib"
"$work/pc_consumer" "$name"
"$work/pc_consumer_c" "$name"

echo "install_test: OK"
