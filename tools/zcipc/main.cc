// zcipc: the command-line tool for zcipc dicts. See cli.h, or run
// `zcipc help`.
//
//   bazel run //tools:zcipc -- ls
//   bazel-bin/tools/zcipc/zcipc stat telemetry

#include "tools/zcipc/cli.h"

int main(int argc, char** argv) { return zcipc::cli::Main(argc, argv); }
