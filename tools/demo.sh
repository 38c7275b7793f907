#!/usr/bin/env bash
# The zcipc demo: installs what is missing (tools/setup.sh), builds, and runs
# the telemetry scenario (tools/demo/telemetry_demo.cc): worker processes
# write one shared-memory dict while a monitor process reads it lock-free.
#
#   tools/demo.sh                   # 5 seconds, 4 workers
#   tools/demo.sh --short           # 2 seconds
#   tools/demo.sh --duration=30s --workers=8 --keep
#   tools/demo.sh --fleet           # two hosts kept in step through Redis
#                                   # (tools/demo/fleet_demo.cc, docs/SYNC.md)
#
# Arguments go to the demo binary (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
if [ "${1:-}" = "--fleet" ]; then
  shift
  echo "demo: building the fleet demo..." >&2
  bazel build --noshow_progress --ui_event_filters=-info //tools/demo:fleet_demo
  bin="$(bazel info bazel-bin 2>/dev/null)"
  exec "$bin/tools/demo/fleet_demo" "$@"
fi
echo "demo: building (the first build takes a minute or two)..." >&2
bazel build --noshow_progress --ui_event_filters=-info \
  //tools/demo //tools:zcipc
# The output directory of this configuration (bazel-bin may point elsewhere
# if someone built another configuration meanwhile).
bin="$(bazel info bazel-bin 2>/dev/null)"
exec "$bin/tools/demo/demo" "$@"
