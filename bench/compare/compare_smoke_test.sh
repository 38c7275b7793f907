#!/usr/bin/env bash
# A tiny run of the comparison driver: every phase of zcipc, the floor, LMDB
# and Boost.Interprocess on 1000 keys must produce numbers, with 0 torn
# reads and no errors (the driver's --check); then render.py must make
# RESULTS.md (and, with gnuplot, the chart) from the run's results.json, and
# render_test.py's checks must hold on that JSON (its figures reach the
# Markdown; the Markdown has no figure of its own).
#   compare_smoke_test.sh DRIVER RENDER_PY RENDER_TEST_PY
set -euo pipefail
driver="$1"
render="$2"
render_test="$3"
out="${TEST_TMPDIR:-$(mktemp -d)}"
"$driver" --keys=1000 --sizes=100 --peers=floor,zcipc,lmdb,boost \
  --phase_seconds=0.02 --insert_seconds=0.2 --mp_seconds=0.15 --reps=2 \
  --readers=1,2 --json_out="$out/results.json" --check
[ -s "$out/results.json" ] || { echo "results.json was not written" >&2; exit 1; }
grep -q '"phase":"readers"' "$out/results.json" || { echo "no readers phase in the JSON" >&2; exit 1; }

svg=()
if command -v gnuplot >/dev/null; then svg=(--svg "$out/results.svg"); fi
python3 "$render" "$out/results.json" --md "$out/RESULTS.md" \
  --gnuplot-script "$out/results.gp" ${svg[@]+"${svg[@]}"}
for f in RESULTS.md results.gp ${svg[@]+results.svg}; do
  [ -s "$out/$f" ] || { echo "$f was not written" >&2; exit 1; }
done
for want in '| zcipc Get/Put |' '## Targets' '## Paired measurements' \
    'Readers under one busy writer' '## Method'; do
  grep -qF "$want" "$out/RESULTS.md" || { echo "RESULTS.md lacks: $want" >&2; exit 1; }
done

python3 "$render_test" --json "$out/results.json"
echo "compare smoke test: OK"
