#!/usr/bin/env bash
# tools/fuzz.sh rebuilds the fuzzer when any file a source was compiled from
# changes: the source, a header of engine/ or include/, and a header outside
# them (tests/segment_file.h), and only the sources that include it. Runs the
# script (ZCIPC_FUZZ_BUILD_ONLY=1, the real clang++) on a small scratch tree
# laid out like the repository, so it takes seconds, not the engine's build.
set -euo pipefail

FUZZ_SH=$1
TREE=${TEST_TMPDIR:-$(mktemp -d)}/tree
OUT=${TEST_TMPDIR:-$(mktemp -d)}/out
rm -rf "$TREE" "$OUT"
mkdir -p "$TREE"/{tools,engine/a,engine/b,include/zcipc,tests/fuzz/corpus}
cp "$FUZZ_SH" "$TREE/tools/fuzz.sh"
printf '#!/bin/sh\nexit 0\n' >"$TREE/tools/setup.sh"  # nothing to install
chmod +x "$TREE/tools/fuzz.sh" "$TREE/tools/setup.sh"
cat >"$TREE/WORKSPACE" <<'EOW'
pkg_config(
    name = "absl",
    modules = ["absl_strings"],
)
EOW
echo 'inline int A() { return 1; }' >"$TREE/engine/a/a.h"
echo '#include "engine/a/a.h"
int CallA() { return A(); }' >"$TREE/engine/a/a.cc"
echo 'inline int X() { return 2; }' >"$TREE/include/zcipc/x.h"
echo '#include "zcipc/x.h"
int CallX() { return X(); }' >"$TREE/engine/b/b.cc"
echo 'inline int S() { return 3; }' >"$TREE/tests/segment_file.h"
cat >"$TREE/tests/fuzz/segment_fuzzer.cc" <<'EOC'
#include <cstddef>
#include <cstdint>

#include "engine/a/a.h"
#include "tests/segment_file.h"

int CallA();
int CallX();

extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t size) {
  return size > 1000 ? CallA() + CallX() + S() - 6 : A() - 1;
}
EOC
echo seed >"$TREE/tests/fuzz/corpus/seed"

fail=0
# Runs the build; $1 = what the step is, then the sources that must be
# compiled (all others must not be), then "link" if the fuzzer must be
# relinked.
expect() {
  local step=$1
  shift
  local log
  log=$(cd "$TREE" && ZCIPC_FUZZ_OUT=$OUT ZCIPC_FUZZ_BUILD_ONLY=1 \
        tools/fuzz.sh 1 2>&1) || { echo "$step: fuzz.sh failed:"; echo "$log"; exit 1; }
  local got want
  got=$(echo "$log" | sed -n 's/^fuzz: compiling //p; s/^fuzz: linking .*/link/p' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | { grep -v '^$' || true; } | sort | tr '\n' ' ')
  if [ "$got" != "$want" ]; then
    echo "FAIL $step: rebuilt [$got], expected [$want]"
    echo "$log" | sed 's/^/  | /'
    fail=1
  else
    echo "ok   $step: rebuilt [$got]"
  fi
}
# An edit of one file, independent of the clock's resolution: every file of
# the tree is made older than every build output, then the file is touched.
edit() {
  local now
  now=$(date +%s)
  find "$TREE" -type f -exec touch -d "@$((now - 100))" {} +
  find "$OUT" -type f -exec touch -d "@$((now - 50))" {} +
  touch "$TREE/$1"
}

ALL=(engine/a/a.cc engine/b/b.cc tests/fuzz/segment_fuzzer.cc)
expect "first build" "${ALL[@]}" link
expect "nothing changed" ""
edit tests/segment_file.h
expect "tests/segment_file.h touched" tests/fuzz/segment_fuzzer.cc link
edit engine/a/a.h
expect "engine/a/a.h touched" engine/a/a.cc tests/fuzz/segment_fuzzer.cc link
edit include/zcipc/x.h
expect "include/zcipc/x.h touched" engine/b/b.cc link
edit engine/b/b.cc
expect "engine/b/b.cc touched" engine/b/b.cc link
rm "$OUT/obj/engine_a_a.d"
expect "a dependency file lost" engine/a/a.cc link
expect "nothing changed again" ""
[ -x "$OUT/segment_fuzzer" ] || { echo "FAIL: no fuzzer binary"; fail=1; }
exit $fail
