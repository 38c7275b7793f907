#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs every
# test with Bazel (offline). Extra arguments go to `bazel test`.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
bazel test //... "$@"
