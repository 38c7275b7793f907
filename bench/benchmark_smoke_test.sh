#!/usr/bin/env bash
# Runs every benchmark of a binary once at the smallest size: they must run
# to the end and report no errors (for example a failed Get inside a
# benchmark loop).
#   benchmark_smoke_test.sh BINARY [FILTER [MUST_RUN]]
# FILTER (a --benchmark_filter regex) defaults to the smallest size of
# zero_copy_dict_benchmark, MUST_RUN (a name the output must contain) to
# BM_Get/.
set -euo pipefail
filter=${2:-/10000/}
must_run=${3:-BM_Get/}
status=0
out=$("$1" --benchmark_min_time=0.001 --benchmark_filter="$filter" 2>&1) || status=$?
echo "$out"
if [ "$status" -ne 0 ]; then
  echo "the benchmark binary exited with status $status" >&2
  exit 1
fi
if grep -q "ERROR OCCURRED" <<<"$out"; then
  echo "a benchmark reported an error" >&2
  exit 1
fi
grep -q "$must_run" <<<"$out" || { echo "$must_run did not run" >&2; exit 1; }
