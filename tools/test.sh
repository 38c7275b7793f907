#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs every
# test with Bazel (offline):
#   1. every test, optimised (the code the benchmarks measure);
#   2. every test again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the multi-threaded tests under ThreadSanitizer;
#   4. the CMake build: install, and consumers built against the prefix.
# Before step 1, tools/check_build_sources.py checks that Bazel and CMake
# compile the same sources. Extra arguments go to every `bazel test`.
# ZCIPC_QUICK=1 runs step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
tools/check_build_sources.py
bazel test //... "$@"
if [ "${ZCIPC_QUICK:-0}" = "1" ]; then
  exit 0
fi
bazel test --config=asan //... "$@"
bazel test --config=tsan "$@" \
  //tests:multiprocess_test //tests:atomic_ops_test //tests:threads_test \
  //tests/engine:writer_lock_test //tests/engine:crash_points_test \
  //tests/engine:writer_lock_takeover_test //tests/regress:stalled_writer_test \
  //tests/engine:change_seq_test //tests/engine:change_log_test \
  //tests/engine:grow_test \
  //tests/capi:capi_test //tests/sync:redis_sync_test

# 4. CMake: build, install, consumers via find_package and pkg-config.
tests/cmake/install_test.sh
