#!/usr/bin/env bash
# Runs every benchmark once at the smallest size: they must run to the end
# and report no errors (for example a failed Get inside a benchmark loop).
set -euo pipefail
status=0
out=$("$1" --benchmark_min_time=0.001 --benchmark_filter='/10000/' 2>&1) || status=$?
echo "$out"
if [ "$status" -ne 0 ]; then
  echo "the benchmark binary exited with status $status" >&2
  exit 1
fi
if grep -q "ERROR OCCURRED" <<<"$out"; then
  echo "a benchmark reported an error" >&2
  exit 1
fi
grep -q "BM_Get/" <<<"$out" || { echo "BM_Get did not run" >&2; exit 1; }
