#!/usr/bin/env bash
# The Bazel/CMake source-list check (tools/check_build_sources.py) on a small
# made-up tree: it passes when both builds list the same sources, and fails,
# naming the file, when a source is only in Bazel, only in CMake, or (on
# disk) in neither. tools/test.sh runs the check itself on the real tree.
set -euo pipefail
cd "${TEST_SRCDIR:-$(dirname "$0")/../..}/${TEST_WORKSPACE:-zcipc}"
check="$PWD/tools/check_build_sources.py"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
t="$tmp/tree"

make_tree() {
  rm -rf "$t" && mkdir -p "$t/engine/a" "$t/engine/b" "$t/tools/zcipc"
  cat >"$t/CMakeLists.txt" <<'CMAKE'
# engine/commented_out.cc is in a comment: not a source.
set(ZCIPC_SOURCES
  engine/a/a.cc
  engine/b/b.cc
)
set(ZCIPC_CLI_SOURCES tools/zcipc/cli.cc tools/zcipc/main.cc)
CMAKE
  cat >"$t/engine/a/BUILD.bazel" <<'BAZEL'
load("//:copts.bzl", "ZCIPC_COPTS")

cc_library(
    name = "a",
    srcs = ["a.cc"],
    hdrs = ["a.h"],
    copts = ZCIPC_COPTS + ["-DX"],
    alwayslink = True,
    deps = ["@absl"],
)

cc_test(
    name = "a_test",  # tests are not library sources
    srcs = ["a_test.cc"],
)
BAZEL
  cat >"$t/engine/b/BUILD.bazel" <<'BAZEL'
cc_library(name = "b", srcs = glob(["*.h"]) + ["b.cc"])
BAZEL
  cat >"$t/tools/zcipc/BUILD.bazel" <<'BAZEL'
cc_library(name = "commands", srcs = ["cli.cc", "cli.h"])
cc_binary(name = "zcipc", srcs = ["main.cc"], deps = [":commands"])
BAZEL
  touch "$t/engine/a/a.cc" "$t/engine/a/a_test.cc" "$t/engine/b/b.cc" \
    "$t/tools/zcipc/cli.cc" "$t/tools/zcipc/main.cc"
}

expect_failure() {  # $1: what the failure must say
  if /usr/bin/python3 "$check" --root "$t" 2>"$tmp/err" >/dev/null; then
    echo "FAIL: the check passed; expected: $1"; exit 1
  fi
  grep -qF -- "$1" "$tmp/err" || { echo "FAIL: expected '$1' in:"; cat "$tmp/err"; exit 1; }
  echo "ok: fails with: $1"
}

make_tree
/usr/bin/python3 "$check" --root "$t"

make_tree && sed -i '/engine\/b\/b.cc/d' "$t/CMakeLists.txt"
expect_failure "engine/b/b.cc is in the Bazel build but not in CMakeLists.txt's ZCIPC_SOURCES"
make_tree && sed -i 's|tools/zcipc/main.cc|tools/zcipc/main.cc tools/zcipc/extra.cc|' "$t/CMakeLists.txt"
expect_failure "tools/zcipc/extra.cc is in CMakeLists.txt's ZCIPC_CLI_SOURCES but in no"
make_tree && sed -i 's|srcs = \["a.cc"\]|srcs = ["a.cc", "new.cc"]|' "$t/engine/a/BUILD.bazel"
expect_failure "engine/a/new.cc is in the Bazel build but not"
make_tree && touch "$t/engine/b/stray.cc"
expect_failure "engine/b/stray.cc is in neither build"
make_tree && sed -i 's/ZCIPC_CLI_SOURCES/OTHER/' "$t/CMakeLists.txt"
expect_failure "CMakeLists.txt has no set(ZCIPC_CLI_SOURCES ...)"
# --no-disk ignores files in neither build.
make_tree && touch "$t/engine/b/stray.cc"
/usr/bin/python3 "$check" --root "$t" --no-disk >/dev/null
echo "build_sources_test: OK"
