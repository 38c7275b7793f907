#!/usr/bin/env bash
# Runs the Python benchmark in its smoke mode: tiny counts, every peer that
# is available; checks it completes and prints its table (not its speed).
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
export PYTHONPATH="$PWD/python"
export PYTHONDONTWRITEBYTECODE=1
source python/tests/preload_sanitizers.sh python/zero_copy_ipc/_zcipc.abi3.so
out="$(/usr/bin/python3 python/bench/bench.py --smoke)"
echo "$out"
grep -q "zero_copy_ipc" <<<"$out"
grep -q "Manager" <<<"$out"
