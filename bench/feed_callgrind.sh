#!/bin/bash
# User-space instructions per operation of a Put (replace in place) and of an
# insert+erase pair, with the change log (Options::change_log_bytes = 1 MiB,
# the default) and without it (0), from callgrind (deterministic, unlike
# timings on a shared machine):
#   bench/feed_callgrind.sh [KEYS [VALUE_SIZE [ITERS]]]
# Ir per op = (Ir(op) - Ir(fill only)) / ITERS, each with its own log size.
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-10000}
size=${2:-100}
iters=${3:-100000}
bin=bazel-bin/bench/feed_probe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bazel build -c opt //bench:feed_probe >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
ir() {  # op log_bytes
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1.$2" \
    "$bin" --op="$1" --log_bytes="$2" --keys="$keys" --value_size="$size" \
    --iters="$iters" >/dev/null 2>"$tmp/log.$1.$2"
  sed -n 's/^summary: //p' "$tmp/cg.$1.$2"
}
for log in 1048576 0; do
  base=$(ir none "$log")
  for op in put insert_erase; do
    total=$(ir "$op" "$log")
    awk -v t="$total" -v b="$base" -v n="$iters" -v op="$op" -v lb="$log" \
      'BEGIN { printf "%-13s log_bytes=%-8s %8.1f Ir/op\n", op, lb, (t - b) / n }'
  done
done
