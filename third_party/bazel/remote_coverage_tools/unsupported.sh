#!/bin/sh
echo "bazel coverage is not supported offline by this project" >&2
exit 1
