#!/usr/bin/env bash
# The Python benchmark, one command: installs what is missing, builds the
# package with Bazel, runs python/bench/bench.py with Debian's python3 and
# writes python/bench/RESULTS.md and results.json. Extra arguments go to
# bench.py (e.g. --reps 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup.sh
bazel build //python:package
# The module of this (default, optimised) configuration, wherever the
# bazel-bin symlink points after other builds.
so="$(bazel info bazel-bin 2>/dev/null)/python/zero_copy_ipc/_zcipc.abi3.so"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/zero_copy_ipc"
cp python/zero_copy_ipc/*.py "$stage/zero_copy_ipc/"
cp "$so" "$stage/zero_copy_ipc/"
PYTHONPATH="$stage" /usr/bin/python3 python/bench/bench.py \
  --results python/bench/RESULTS.md --json python/bench/results.json "$@"
