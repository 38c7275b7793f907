#!/bin/bash
# User-space instructions per operation on the hot paths, from callgrind
# (deterministic, unlike timings on a shared machine):
#   [LOG=BYTES] bench/callgrind.sh [KEYS [VALUE_SIZE [ITERS]]]
# (LOG: the dict's change_log_bytes, default 1 MiB; LOG=0 measures without
# the change log)
# Prints Ir per Get, Read, Put (replace in place) and per update in a Write
# of 100 Puts: (Ir(op) - Ir(fill only)) / ITERS; and the same for the floor
# (an in-process absl::flat_hash_map find and copy).
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-10000}
size=${2:-100}
iters=${3:-100000}
bin=bazel-bin/bench/hotpath_probe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bazel build -c opt //bench:hotpath_probe >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
    "$bin" --op="$1" --keys="$keys" --value_size="$size" --iters="$iters" --log="${LOG:-1048576}" \
    >/dev/null 2>"$tmp/log.$1"
  sed -n 's/^summary: //p' "$tmp/cg.$1"
}
base=$(ir none)
for op in get read put write100 floor; do
  b=$base
  if [ "$op" = floor ]; then b=$(ir floor_fill); fi
  total=$(ir "$op")
  awk -v t="$total" -v b="$b" -v n="$iters" -v op="$op" \
    'BEGIN { printf "%-9s %8.1f Ir/op\n", op, (t - b) / n }'
done
