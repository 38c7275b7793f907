#!/usr/bin/env bash
# The wheel `bazel build //python:wheel` makes installs with pip into a fresh
# virtual environment (offline) and the installed package works there.
set -euo pipefail
wheel="$1"
preload="$PWD/python/tests/preload_sanitizers.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --no-index --quiet "$wheel"
cd "$tmp"
# Under --config=asan the module is instrumented: preload the runtimes.
source "$preload" "$(ls "$tmp"/venv/lib/python3*/site-packages/zero_copy_ipc/_zcipc.abi3.so)"
"$tmp/venv/bin/python" - <<'PY'
import os
from zero_copy_ipc import ZeroCopyDict
name = f"wheel_test_{os.getpid()}"
with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
    d["k"] = {"v": [1, 2]}
    other = ZeroCopyDict.attach(name)
    assert other["k"] == {"v": [1, 2]}, other["k"]
    assert d.add("n", 5) == 5
    other.close()
assert not os.path.exists(f"/dev/shm/zcipc.{name}")
print("wheel ok")
PY
