#!/usr/bin/env bash
# The one cp39-abi3 wheel (`bazel build //python:wheel`) on every CPython it
# supports: for each CPython 3.9 to 3.13 under `$(pyenv root)/versions`, pip
# (of that interpreter, offline) installs the wheel into a directory, and
# that interpreter runs the Python examples of README.md's Python section and
# docs/PYTHON.md
# and a multi-process round trip (python/tests/abi3_roundtrip.py). A version
# that is not installed prints a SKIP line. Each older CPython found
# (3.8, 3.7, 3.6, 2.7) must get an ImportError naming the supported versions
# when it imports the package (from an unpacked copy: pip refuses the wheel).
#
#   abi3_versions_test.sh WHEEL README.md docs/PYTHON.md
set -euo pipefail
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-zcipc}"
wheel="$(realpath "$1")"
# The README's Python section (python/tests/run_doc_examples.py), all of
# docs/PYTHON.md.
docs=("$(realpath "$2")#Python" "$(realpath "$3")")
here="$PWD/python/tests"

# pyenv's root: `pyenv root` as the build found it (python/BUILD.bazel
# passes it: Bazel runs tests with a reduced PATH and environment), else
# `pyenv root` here, else $PYENV_ROOT, else ~/.pyenv of this user.
root="${ZCIPC_PYENV_ROOT:-}"
if [ -z "$root" ] && command -v pyenv >/dev/null 2>&1; then
  root="$(pyenv root)"
fi
if [ -z "$root" ] && [ -n "${PYENV_ROOT:-}" ]; then root="$PYENV_ROOT"; fi
if [ -z "$root" ]; then
  root="$(getent passwd "$(id -u)" | cut -d: -f6)/.pyenv"
fi
echo "pyenv root: $root"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_ROOT_USER_ACTION=ignore
export PYTHONDONTWRITEBYTECODE=1

# The newest CPython X.Y under the root (plain version directories only:
# not free-threaded "3.13.0t" builds, which have no stable ABI).
find_python() {
  local best=""
  for dir in "$root"/versions/"$1".*; do
    [[ "$(basename "$dir")" =~ ^$1\.[0-9]+$ ]] || continue
    [ -x "$dir/bin/python" ] || continue
    best="$dir/bin/python"  # the glob sorts; take the newest patch release
  done
  if [ -n "$best" ]; then echo "$best"; fi
}

# The sanitizer runtimes for an --config=asan build of the module.
unpacked="$tmp/unpacked"
/usr/bin/python3 -m zipfile -e "$wheel" "$unpacked"
so="$(ls "$unpacked"/zero_copy_ipc/_zcipc*.so)"
preload_env=()
(
  source "$here/preload_sanitizers.sh" "$so"
  echo "LD_PRELOAD=${LD_PRELOAD:-}" >"$tmp/preload"
  echo "ASAN_OPTIONS=${ASAN_OPTIONS:-}" >>"$tmp/preload"
)
while IFS= read -r line; do
  if [ "${line#*=}" != "" ]; then preload_env+=("$line"); fi
done <"$tmp/preload"

tested=0
for v in 3.9 3.10 3.11 3.12 3.13; do
  py="$(find_python "$v")"
  if [ -z "$py" ]; then
    echo "SKIP: CPython $v: not installed under $root/versions"
    continue
  fi
  echo "== CPython $v: $py"
  site="$tmp/site-$v"
  "$py" -m pip install --quiet --no-index --no-deps --target "$site" "$wheel"
  (
    cd "$tmp"
    export PYTHONPATH="$site"
    env "${preload_env[@]}" "$py" "$here/run_doc_examples.py" "${docs[@]}"
    env "${preload_env[@]}" "$py" "$here/abi3_roundtrip.py"
    env "${preload_env[@]}" "$py" -c '
import sys, zero_copy_ipc
so = zero_copy_ipc._zcipc.__file__
assert so.endswith("_zcipc.abi3.so") and so.startswith(sys.argv[1]), so
print("imported", so)' "$site"
  )
  tested=$((tested + 1))
done

for v in 3.8 3.7 3.6 2.7; do
  py="$(find_python "$v")"
  if [ -z "$py" ]; then
    echo "SKIP: Python $v (the refusal of older versions): not installed"
    continue
  fi
  echo "== Python $v must refuse: $py"
  if out="$(cd "$tmp" && PYTHONPATH="$unpacked" "$py" -c \
      'import zero_copy_ipc' 2>&1)"; then
    echo "FAIL: Python $v imported zero_copy_ipc"
    exit 1
  fi
  echo "$out" | tail -1
  if [[ "$out" != *"ImportError: zero_copy_ipc needs CPython 3.9 or newer"* ]]; then
    echo "FAIL: Python $v: not the ImportError naming the supported versions"
    exit 1
  fi
done

if [ "$tested" -eq 0 ]; then
  echo "SKIP: no CPython 3.9-3.13 found under $root/versions (nothing tested)"
fi
echo "abi3 wheel: ok on $tested CPython versions"
