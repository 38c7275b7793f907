#!/usr/bin/env bash
# Runs the telemetry demo (tools/demo, what tools/demo.sh runs) in its short
# mode and checks its summary: no torn reads, counters equal to the requests
# made, Check() OK, and the dict removed afterwards.
set -euo pipefail
demo="$1"

status=0
out="$("$demo" --short)" || status=$?
echo "$out"
if [ "$status" -ne 0 ]; then
  echo "FAIL: the demo exited with $status"
  exit 1
fi

fail() {
  echo "FAIL: $*"
  exit 1
}
grep -Eq '^summary: [0-9.]+ s, 4 worker processes \+ 1 monitor process' <<<"$out" ||
  fail "no summary"
grep -Eq '^  torn reads +0  ' <<<"$out" || fail "torn reads not 0"
grep -Eq '^  counters +[0-9,]+  = requests the workers made: yes' <<<"$out" ||
  fail "counters do not add up"
grep -Eq '^  integrity +OK' <<<"$out" || fail "Check() did not pass"
grep -Eq '^  requests recorded +[1-9][0-9,]*  \(' <<<"$out" ||
  fail "no requests recorded"
grep -Eq '^  /api/search +[0-9,]+ ' <<<"$out" || fail "no live table"
name="$(grep -o 'zcipc\.demo-telemetry-[0-9]*' <<<"$out" | head -n 1)"
[ -n "$name" ] || fail "no dict name in the output"
[ ! -e "/dev/shm/$name" ] || fail "/dev/shm/$name was left behind"
echo "PASS"
