// The probes' `--name=value` flags (hotpath_probe, feed_probe, feed_wakeup):
// a few numbers each, read without a flags library so that callgrind counts
// only the measured work.

#ifndef ZCIPC_BENCH_PROBE_FLAGS_H_
#define ZCIPC_BENCH_PROBE_FLAGS_H_

#include <cstring>

namespace zcipc_bench {

// The value of --name=VALUE among argv[1..], else `def`.
inline const char* Flag(int argc, char** argv, const char* name,
                        const char* def) {
  const size_t n = strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=') {
      return argv[i] + 3 + n;
    }
  }
  return def;
}

}  // namespace zcipc_bench

#endif  // ZCIPC_BENCH_PROBE_FLAGS_H_
