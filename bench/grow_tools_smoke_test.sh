#!/usr/bin/env bash
# Runs the growth tools at tiny sizes (bench/grow_readers.cc,
# bench/grow_benchmark.cc): they must finish with exit code 0, which
# grow_readers gives only if no read was torn or missed, and every
# benchmark must run without an error. Nothing about speed is asserted.
#   grow_tools_smoke_test.sh GROW_READERS GROW_BENCHMARK
set -euo pipefail
"$1" --from=100 --to=20000 --readers=2 --value-size=32
out=$("$2" --benchmark_min_time=0.001 --benchmark_filter='/10000(/|$)' \
  --benchmark_repetitions=1 2>&1)
echo "$out"
if grep -q "ERROR OCCURRED" <<<"$out"; then
  echo "a benchmark reported an error" >&2
  exit 1
fi
for bm in BM_InsertGrowing BM_InsertPresized BM_GetAfterGrowth BM_GetPresized; do
  grep -q "^$bm/10000" <<<"$out" || { echo "$bm did not run" >&2; exit 1; }
done
