#!/usr/bin/env bash
# Runs the package's pytest suite with Debian's python3 (python3-pytest)
# against the built extension module in the runfiles tree. Under
# --config=asan the module is instrumented: the sanitizer runtimes are
# preloaded into the (uninstrumented) interpreter.
set -euo pipefail
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-zcipc}"
export PYTHONPATH="$PWD/python"
export PYTHONDONTWRITEBYTECODE=1
source python/tests/preload_sanitizers.sh python/zero_copy_ipc/_zcipc.abi3.so
args=(-q -p no:cacheprovider -o "junit_family=xunit2")
if [ -n "${XML_OUTPUT_FILE:-}" ]; then args+=("--junitxml=$XML_OUTPUT_FILE"); fi
exec /usr/bin/python3 -m pytest "${args[@]}" python/tests "$@"
