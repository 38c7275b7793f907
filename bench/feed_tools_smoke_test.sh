#!/usr/bin/env bash
# Runs the change feed's measurement tools briefly (bench/feed_wakeup.cc,
# bench/feed_probe.cc): they must finish and print their figures. Nothing
# about speed is asserted.
#   feed_tools_smoke_test.sh FEED_WAKEUP FEED_PROBE
set -euo pipefail
out=$("$1" --samples=50 --pause_us=200 --rearm_seconds=0.2)
echo "$out"
grep -Eq "^paused 200 us: 50 puts, [1-9][0-9]* samples.*wake-up p50" <<<"$out" ||
  { echo "the paused mode did not take its samples" >&2; exit 1; }
grep -q "^re-arm at once: .*wake-up p50" <<<"$out" ||
  { echo "the re-arm mode printed no figures" >&2; exit 1; }
for op in put insert_erase none; do
  for log in 0 1048576; do
    "$2" --op=$op --log_bytes=$log --keys=1000 --iters=2000
  done
done
out=$("$2" --op=paired --keys=1000 --iters=2)
echo "$out"
grep -q "^put: log on .* on/off" <<<"$out" ||
  { echo "the paired probe printed no figures" >&2; exit 1; }
