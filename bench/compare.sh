#!/usr/bin/env bash
# The multi-process comparison of zcipc with LMDB, Boost.Interprocess, Redis
# and the in-process floor, in one command:
#
#   bench/compare.sh            # 10^4, 10^5, 10^6 keys x 16/100/1000 B values;
#                               # under 10 minutes on the 2-core VM; writes
#                               # bench/RESULTS.md, bench/results.json and
#                               # bench/results.svg
#   bench/compare.sh --quick    # 10^4 keys only, about a minute; writes to
#                               # /tmp/zcipc-compare-quick/ (not over the
#                               # committed results) unless --out is given
#   bench/compare.sh --out DIR  # write the three files to DIR instead
#
# Any other argument goes to the driver (//bench/compare:compare), e.g.
# --peers=zcipc,lmdb or --sizes=100; see its --help.
#
# Steps: tools/setup.sh (Debian packages, a no-op when present), bazel build
# -c opt of the driver, the run (which starts and stops its own
# redis-server) writing results.json, then bench/compare/render.py, which
# writes RESULTS.md and, with gnuplot, the chart from results.json alone.
# To re-render committed results without running anything:
#   python3 bench/compare/render.py bench/results.json --md bench/RESULTS.md \
#       --svg bench/results.svg
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
command="bench/compare.sh${*:+ $*}"
quick=0
out=""
driver_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    --out=*) out="${1#--out=}" ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) driver_args+=("$1") ;;
  esac
  shift
done
if [ -z "$out" ]; then
  if [ "$quick" -eq 1 ]; then out=/tmp/zcipc-compare-quick; else out=bench; fi
fi
mkdir -p "$out"

tools/setup.sh

bazel build -c opt //bench/compare:compare
# The configuration's own output directory: the bazel-bin symlink follows
# whatever build ran last (other configurations may run concurrently).
driver="$(bazel info -c opt bazel-bin 2>/dev/null)/bench/compare/compare"

if [ "$quick" -eq 1 ]; then
  sizing=(--keys=10000 --phase_seconds=0.1 --insert_seconds=1 --mp_seconds=0.4)
else
  sizing=(--keys=10000,100000,1000000)
fi

"$driver" "${sizing[@]}" \
  --json_out="$out/results.json" \
  --command="$command" \
  --command_start_unix="$start" \
  ${driver_args[@]+"${driver_args[@]}"}

# RESULTS.md links the chart by its path relative to RESULTS.md.
python3 bench/compare/render.py "$out/results.json" \
  --md="$out/RESULTS.md" --svg="$out/results.svg"

total=$(( $(date +%s) - start ))
echo "compare: wrote $out/RESULTS.md, $out/results.json, $out/results.svg in ${total} s" >&2
