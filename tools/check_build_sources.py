#!/usr/bin/env python3
"""Checks that Bazel and CMake compile the same library and CLI sources.

Bazel (the project's build) lists them as the srcs of the cc_library and
cc_binary rules in engine/**/BUILD.bazel (the library) and
tools/zcipc/BUILD.bazel (the zcipc CLI); CMakeLists.txt lists them in
set(ZCIPC_SOURCES ...) and set(ZCIPC_CLI_SOURCES ...). A file in one list
and not the other fails, naming the file; so does a .cc file under engine/
or tools/zcipc/ in neither build nor any other Bazel rule (skipped with --no-disk, for the Bazel test
that sees only the build files).

    tools/check_build_sources.py [--root DIR] [--no-disk]

The BUILD files are evaluated as Python (Starlark is a subset for them) with
every rule and function stubbed, so formatting and comments do not matter.
"""

import argparse
import os
import re
import sys

C_SOURCE = re.compile(r"\.(cc|c|cpp)$")


class _Anything:
    """What any unknown name in a BUILD file evaluates to (a rule, glob,
    a constant from load()): callable, and absorbs + with lists."""

    def __init__(self, name, rules):
        self.name = name
        self.rules = rules

    def __call__(self, *args, **kwargs):
        if "name" in kwargs:
            self.rules.append((self.name, kwargs))
        return []

    def __add__(self, other):
        return other

    __radd__ = __add__


class _Scope(dict):

    def __init__(self, rules):
        super().__init__()
        self.rules = rules

    def __missing__(self, key):
        return _Anything(key, self.rules)


def bazel_sources(build_file, root):
    """The C/C++ srcs in build_file, as paths from the root: those of its
    cc_library and cc_binary rules, and those of every rule."""
    rules = []
    with open(build_file, encoding="utf-8") as f:
        code = f.read()
    exec(compile(code, build_file, "exec"), {"__builtins__": {}},
         _Scope(rules))
    package = os.path.relpath(os.path.dirname(build_file), root)
    built, mentioned = set(), set()
    for kind, attrs in rules:
        srcs = attrs.get("srcs", [])
        if not isinstance(srcs, list):
            continue
        for src in srcs:
            if isinstance(src, str) and C_SOURCE.search(src) and ":" not in src:
                mentioned.add(os.path.join(package, src))
                if kind in ("cc_library", "cc_binary"):
                    built.add(os.path.join(package, src))
    return built, mentioned


def cmake_sources(cmake_file, variable):
    """The sources in CMakeLists.txt's set(variable ...)."""
    with open(cmake_file, encoding="utf-8") as f:
        text = re.sub(r"#[^\n]*", "", f.read())
    match = re.search(r"\bset\(\s*%s\s+([^)]*)\)" % re.escape(variable), text)
    if not match:
        return None
    return {w for w in match.group(1).split() if C_SOURCE.search(w)}


def build_files(root, top):
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top),
                                                followlinks=True):
        dirnames.sort()
        if "BUILD.bazel" in filenames:
            found.append(os.path.join(dirpath, "BUILD.bazel"))
    return found


def disk_sources(root, top):
    found = set()
    for dirpath, _, filenames in os.walk(os.path.join(root, top)):
        for name in filenames:
            if C_SOURCE.search(name):
                found.add(
                    os.path.relpath(os.path.join(dirpath, name), root))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root",
                        default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--no-disk", action="store_true")
    args = parser.parse_args()
    root = os.path.normpath(args.root)
    cmake_file = os.path.join(root, "CMakeLists.txt")

    problems = []
    parts = [
        ("the library", "engine", "ZCIPC_SOURCES"),
        ("the zcipc CLI", os.path.join("tools", "zcipc"), "ZCIPC_CLI_SOURCES"),
    ]
    for what, top, variable in parts:
        in_bazel, in_any_rule = set(), set()
        for build_file in build_files(root, top):
            built, mentioned = bazel_sources(build_file, root)
            in_bazel |= built
            in_any_rule |= mentioned
        in_cmake = cmake_sources(cmake_file, variable)
        if not in_bazel:
            problems.append("%s: no sources in %s/**/BUILD.bazel" % (what, top))
        if in_cmake is None:
            problems.append("%s: CMakeLists.txt has no set(%s ...)" %
                            (what, variable))
            continue
        for src in sorted(in_bazel - in_cmake):
            problems.append(
                "%s: %s is in the Bazel build but not in CMakeLists.txt's %s" %
                (what, src, variable))
        for src in sorted(in_cmake - in_bazel):
            problems.append(
                "%s: %s is in CMakeLists.txt's %s but in no cc_library or "
                "cc_binary under %s/" % (what, src, variable, top))
        if not args.no_disk:
            for src in sorted(
                    disk_sources(root, top) - in_any_rule - in_cmake):
                problems.append("%s: %s is in neither build" % (what, src))
        if not problems:
            print("%s: %d sources, the same in Bazel and CMake" %
                  (what, len(in_bazel)))

    for p in problems:
        print("check_build_sources: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
