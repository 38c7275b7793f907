#!/usr/bin/env bash
# Runs tests/capi/ctypes_test.py with Debian's python3 against the shared C
# library (args: the library, the C++ peer program). Under --config=asan the
# library is instrumented: the sanitizer runtimes are preloaded into the
# (uninstrumented) interpreter, which must load them first.
set -euo pipefail
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-zcipc}"
export ZCIPC_C_LIB="$PWD/$1" ZCIPC_CPP_PEER="$PWD/$2"
export PYTHONDONTWRITEBYTECODE=1
needed="$(readelf -d "$ZCIPC_C_LIB")"
if [[ "$needed" == *libasan* ]]; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
fi
exec /usr/bin/python3 tests/capi/ctypes_test.py -v
