#!/usr/bin/env bash
# Fuzzes zcipc segments with libFuzzer: builds tests/fuzz/segment_fuzzer.cc
# and every engine source with Debian's clang (-fsanitize=fuzzer,address,
# undefined), outside Bazel, then runs it on a copy of the seed corpus.
#
#   tools/fuzz.sh [SECONDS] [extra libFuzzer flags...]   (default 60 s)
#
# Environment:
#   ZCIPC_FUZZ_OUT   build and run directory (default /tmp/zcipc-fuzz)
#   ZCIPC_FUZZ_FORK  N > 0: libFuzzer fork mode with N workers that go on
#                    after a crash, hang or leak (to collect several findings;
#                    the workers' own output, with the message findings, is
#                    not in the log)
#   ZCIPC_FUZZ_STRICT_NAMES=1  errors without the dict's name abort (crash)
#   ZCIPC_FUZZ_BUILD_ONLY=1    build (or bring up to date) and stop
#   CXX              the compiler (default clang++)
#
# Prints executions, exec/s, duration, corpus size and findings (crash-*,
# timeout-*, leak-*, oom-* files); exits 1 if there is any finding, 2 if the
# build or the fuzzer itself failed. A finding replays with
#   <out>/segment_fuzzer <file>            (libFuzzer, sanitizers)
#   bazel run //tests/fuzz:segment_fuzzer_corpus_test -- $PWD/<file>   (gcc)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${1:-60}
shift || true
if ! [[ $DURATION =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 1 ]; then
  echo "usage: tools/fuzz.sh [SECONDS] [libFuzzer flags...]" >&2
  exit 2
fi
OUT=${ZCIPC_FUZZ_OUT:-/tmp/zcipc-fuzz}
FORK=${ZCIPC_FUZZ_FORK:-0}

tools/setup.sh

CXX=${CXX:-clang++}
# The Abseil modules the WORKSPACE's @absl repository lists, plus xxHash.
mapfile -t ABSL_MODULES < <(python3 - WORKSPACE <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'pkg_config\(\s*name\s*=\s*"absl"\s*,\s*modules\s*=\s*\[(.*?)\]', text, re.S)
for name in re.findall(r'"([^"]+)"', m.group(1) if m else ""):
    print(name)
EOF
)
if [ ${#ABSL_MODULES[@]} -eq 0 ]; then
  echo "fuzz: cannot read the absl modules from WORKSPACE" >&2
  exit 2
fi
read -r -a PKG_CFLAGS <<<"$(pkg-config --cflags "${ABSL_MODULES[@]}" libxxhash)"
read -r -a PKG_LIBS <<<"$(pkg-config --libs "${ABSL_MODULES[@]}" libxxhash)"
CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
          -I. -Iinclude "${PKG_CFLAGS[@]}")

# --- build (incremental: a source is recompiled when its object is missing
# or older than any file it was compiled from, as the compiler listed them in
# its dependency file (-MD: the source, every project header it includes,
# and the system headers, Abseil's among them), or when the compiler or its
# flags changed) ---
mkdir -p "$OUT/obj"
BIN=$OUT/segment_fuzzer
# The compiler, its flags and the link flags: a change rebuilds everything.
FLAGS_FILE=$OUT/obj/flags
flags_now=$(printf '%s\n' "$CXX" "${CXXFLAGS[@]}" -- "${PKG_LIBS[@]}")
if [ ! -f "$FLAGS_FILE" ] || [ "$(cat "$FLAGS_FILE")" != "$flags_now" ]; then
  rm -f "$OUT"/obj/*.o "$OUT"/obj/*.d "$BIN"
fi

# True (0) if $1 (an object) must be rebuilt according to $2 (its dependency
# file, in make syntax: "OBJ: SRC HEADER... \" over several lines).
stale() {
  local obj=$1 dep=$2 file
  [ -f "$obj" ] && [ -f "$dep" ] || return 0
  while read -r file; do
    [ -e "$file" ] || return 0
    [ "$file" -nt "$obj" ] && return 0
  done < <(sed -e '1s/^[^:]*://' -e 's/\\$//' "$dep" | tr -s ' \t' '\n' |
           grep -v '^$')
  return 1
}

sources=(engine/*/*.cc tests/fuzz/segment_fuzzer.cc)
objects=()
pids=()
for src in "${sources[@]}"; do
  obj=$OUT/obj/$(echo "${src%.cc}" | tr / _).o
  dep=${obj%.o}.d
  objects+=("$obj")
  stale "$obj" "$dep" || continue
  echo "fuzz: compiling $src" >&2
  rm -f "$obj" "$dep"
  "$CXX" "${CXXFLAGS[@]}" -MD -MF "$dep" -c "$src" -o "$obj" &
  pids+=($!)
  # Two at a time (the machine has two cores).
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || { echo "fuzz: compile failed" >&2; exit 2; }
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || { echo "fuzz: compile failed" >&2; exit 2; }
done
relink=0
[ -f "$BIN" ] || relink=1
for obj in "${objects[@]}"; do [ "$obj" -nt "$BIN" ] && relink=1; done
if [ $relink -eq 1 ]; then
  echo "fuzz: linking $BIN" >&2
  "$CXX" "${CXXFLAGS[@]}" "${objects[@]}" "${PKG_LIBS[@]}" -o "$BIN"
fi
printf '%s\n' "$flags_now" >"$FLAGS_FILE"
if [ "${ZCIPC_FUZZ_BUILD_ONLY:-0}" = 1 ]; then
  echo "fuzz: built $BIN" >&2
  exit 0
fi

# --- run ---
RUN=$OUT/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN/corpus" "$RUN/findings"
cp tests/fuzz/corpus/* "$RUN/corpus/"
seeds=$(find "$RUN/corpus" -type f | wc -l)
LOG=$RUN/fuzz.log
echo "fuzz: running $BIN for ${DURATION}s on $seeds seeds; log $LOG" >&2
flags=(-max_total_time="$DURATION" -timeout=5 -rss_limit_mb=2048
       -artifact_prefix="$RUN/findings/" -print_final_stats=1)
if [ "$FORK" -gt 0 ]; then
  flags+=(-fork="$FORK" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
start=$(date +%s)
status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$BIN" "${flags[@]}" "$@" "$RUN/corpus" >"$LOG" 2>&1 || status=$?
end=$(date +%s)

# A process that died inside Attach may have left its segment file: remove
# those whose process is gone (the fuzzer unlinks its file right after
# Attach otherwise).
for f in /dev/shm/zcipc.fz-*; do
  [ -e "$f" ] || continue
  pid=${f##*/zcipc.fz-}
  if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then rm -f "$f"; fi
done

# --- report ---
stat_of() { { grep -a "^stat::$1:" "$LOG" || true; } | tail -1 | awk '{print $2}'; }
execs=$(stat_of number_of_executed_units)
rate=$(stat_of average_exec_per_sec)
if [ -z "$execs" ]; then
  # Fork mode (or a crash before the final stats): the last status line.
  last=$({ grep -aE '^#[0-9]+' "$LOG" || true; } | tail -1)
  execs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
  rate=$(echo "$last" | sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p')
fi
corpus_files=$(find "$RUN/corpus" -type f | wc -l)
corpus_bytes=$(du -sb "$RUN/corpus" | awk '{print $1}')
cov=$({ grep -aE '^#[0-9]+' "$LOG" || true; } | tail -1 |
      sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 edges, \2 features/p')
mapfile -t findings < <(find "$RUN/findings" "$RUN" -maxdepth 1 -type f \
  \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' -o -name 'oom-*' \) | sort -u)

echo
echo "=== zcipc segment fuzzer ==="
echo "duration:    $((end - start)) s (asked ${DURATION} s)"
echo "executions:  ${execs:-?}"
echo "exec/s:      ${rate:-?}"
echo "coverage:    ${cov:-?}"
echo "corpus:      $corpus_files files, $corpus_bytes bytes ($seeds seeds) in $RUN/corpus"
echo "findings:    ${#findings[@]}"
for f in "${findings[@]}"; do
  echo "  $f ($(stat -c %s "$f") bytes)"
done
if grep -aq 'INVARIANT VIOLATED' "$LOG"; then
  grep -a 'INVARIANT VIOLATED' "$LOG" | sort | uniq -c | head -20 | sed 's/^/  /'
fi
{ grep -aE '^(SUMMARY|==[0-9]+==ERROR)' "$LOG" || true; } | sort | uniq -c | head -20 | sed 's/^/  /'
# Errors without the dict's name are reported, not fatal (ZCIPC_FUZZ_STRICT_NAMES=1
# makes them crashes): list the operations.
unnamed=$({ grep -a 'MESSAGE-FINDING: .*: error without' "$LOG" || true; } |
          sed -nE 's/.*MESSAGE-FINDING: (.*): error without.*/\1/p' | sort -u | tr '\n' ' ')
if [ -n "$unnamed" ]; then
  echo "message findings (errors without the dict's name; not fatal unless ZCIPC_FUZZ_STRICT_NAMES=1): $unnamed"
  grep -a 'MESSAGE-FINDING: .*: error without' "$LOG" |
    awk '{ op = $0; sub(/.*MESSAGE-FINDING: /, "", op); sub(/: error without.*/, "", op);
           if (!(op in seen)) { seen[op] = 1; sub(/.*MESSAGE-FINDING: /, ""); print "  " $0 } }'
fi
echo "log:         $LOG"
if [ ${#findings[@]} -gt 0 ]; then
  echo "replay:      $BIN <file>    or    bazel run //tests/fuzz:segment_fuzzer_corpus_test -- <absolute file>"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz: libFuzzer exited with status $status without a finding file; see $LOG" >&2
  tail -20 "$LOG" >&2
  exit 2
fi
exit 0
