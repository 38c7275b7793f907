# Sourced by the Python test scripts: when the extension module given as $1
# was built with --config=asan, preload the sanitizer runtimes into the
# (uninstrumented) interpreter, which must load them before the module.
# (No `readelf | grep -q`: under pipefail, grep's early exit can make
# readelf die of SIGPIPE and the test fail to notice the sanitizer.)
needed="$(readelf -d "$1")"
if [[ "$needed" == *libasan* ]]; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
fi
