#!/usr/bin/env bash
# Runs every benchmark once at the smallest size: they must run to the end
# and report no errors (for example a failed Get inside a benchmark loop).
set -euo pipefail
out=$("$1" --benchmark_min_time=0.001 --benchmark_filter='/10000/' 2>&1)
echo "$out"
if echo "$out" | grep -q "ERROR OCCURRED"; then
  echo "a benchmark reported an error" >&2
  exit 1
fi
echo "$out" | grep -q "BM_Get/" || { echo "BM_Get did not run" >&2; exit 1; }
