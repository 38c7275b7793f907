#!/bin/bash
# Every measurement of docs/PERFORMANCE-FEED.md in one go, with the machine
# and its load around each step:
#   bench/feed_measure.sh [RUNS [CALLGRIND]]
# RUNS (default 3) runs of: feed_benchmark (Put and insert+erase with the
# change log on and off, their repetitions interleaved, then ReadChanges),
# the paired probe (the two sides alternating in chunks), the wake-up
# latency. Then, unless CALLGRIND is 0, the instruction counts
# (bench/feed_callgrind.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
callgrind=${2:-1}
bazel build -c opt //bench:feed_benchmark //bench:feed_probe //bench:feed_wakeup >/dev/null 2>&1
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD)"
echo "nproc: $(nproc); $(grep -m1 'model name' /proc/cpuinfo); kernel $(uname -sr)"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($1)"; }
for run in $(seq 1 "$runs"); do
  echo "=== run $run"
  load "before feed_benchmark"
  bazel-bin/bench/feed_benchmark --benchmark_filter='BM_FeedPut|BM_FeedInsertErase' \
    --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true \
    --benchmark_report_aggregates_only=true 2>&1 | grep -E '_(median|mean|cv) '
  bazel-bin/bench/feed_benchmark --benchmark_filter='BM_FeedReadChanges' \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>&1 |
    grep -E '_median '
  load "before the paired probe"
  bazel-bin/bench/feed_probe --op=paired --iters=100 | head -1
  load "before feed_wakeup"
  bazel-bin/bench/feed_wakeup --samples=5000 --pause_us=1000 --rearm_seconds=3
done
if [ "$callgrind" != 0 ]; then
  load "before callgrind"
  bench/feed_callgrind.sh
fi
load "at the end"
