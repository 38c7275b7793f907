#!/usr/bin/env bash
# A tiny run of the comparison driver: every phase of zcipc, the floor, LMDB
# and Boost.Interprocess on 1000 keys must produce numbers, with 0 torn
# reads and no errors (the driver's --check), and the outputs must be written.
set -euo pipefail
driver="$1"
out="${TEST_TMPDIR:-$(mktemp -d)}"
"$driver" --keys=1000 --sizes=100 --peers=floor,zcipc,lmdb,boost \
  --phase_seconds=0.02 --insert_seconds=0.2 --mp_seconds=0.15 --reps=2 \
  --readers=1,2 --json_out="$out/results.json" --md_out="$out/RESULTS.md" \
  --gnuplot_out="$out/results.gp" --svg="$out/results.svg" --check
for f in results.json RESULTS.md results.gp; do
  [ -s "$out/$f" ] || { echo "$f was not written" >&2; exit 1; }
done
grep -q '"phase": "readers"' "$out/results.json" || { echo "no readers phase in the JSON" >&2; exit 1; }
grep -q '| zcipc Get/Put |' "$out/RESULTS.md" || { echo "no zcipc row in RESULTS.md" >&2; exit 1; }
echo "compare smoke test: OK"
