#!/usr/bin/env bash
# Checks that demo_test.sh (argument 1) fails, and says with which exit code,
# when the demo fails: it runs demo_test.sh on stand-in demos that exit 3 and
# 0 without a summary.
set -uo pipefail
demo_test="$1"
dir="${TEST_TMPDIR:-$(mktemp -d)}"

fail() {
  echo "FAIL: $*"
  exit 1
}

cat >"$dir/failing_demo" <<'DEMO'
#!/bin/sh
echo "partial output of a failing demo"
exit 3
DEMO
cat >"$dir/silent_demo" <<'DEMO'
#!/bin/sh
echo "no summary here"
DEMO
chmod +x "$dir/failing_demo" "$dir/silent_demo"

out="$(bash "$demo_test" "$dir/failing_demo" 2>&1)"
code=$?
echo "$out"
[ "$code" -ne 0 ] || fail "demo_test.sh passed a demo that exited 3"
grep -q '^partial output of a failing demo$' <<<"$out" ||
  fail "demo_test.sh did not show the failing demo's output"
grep -q '^FAIL: the demo exited with 3$' <<<"$out" ||
  fail "demo_test.sh did not report the demo's exit code 3"

out="$(bash "$demo_test" "$dir/silent_demo" 2>&1)"
code=$?
echo "$out"
[ "$code" -ne 0 ] || fail "demo_test.sh passed a demo without a summary"
grep -q '^FAIL: no summary$' <<<"$out" || fail "no 'FAIL: no summary'"
echo "PASS"
