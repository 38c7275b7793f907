// The comparison's one output: results.json, with the run (date, command,
// machine, load average, settings, the method's constants) and every
// result, each with its repetitions and their median. bench/compare/render.py
// makes bench/RESULTS.md and the chart from it; nothing else writes them.

#ifndef ZCIPC_BENCH_COMPARE_RESULTS_JSON_H_
#define ZCIPC_BENCH_COMPARE_RESULTS_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/compare/harness.h"
#include "bench/compare/workload.h"

namespace zcipc {
namespace bench {

// The version of the file's layout, `schema` in the JSON. render.py also
// reads files without `schema` (version 1, written before this header).
inline constexpr int kResultsSchema = 2;

// What the driver records about its run besides the results.
struct RunInfo {
  std::string date;  // UTC, "YYYY-MM-DD HH:MM:SS UTC"
  int64_t date_unix = 0;
  std::string command;  // as typed
  int nproc = 0;
  std::string cpu_model;
  std::string kernel;
  uint64_t memory_bytes = 0;
  std::vector<std::string> versions;  // of zcipc and the peers' libraries
  double driver_seconds = 0;          // the driver's wall-clock time
  // Setup and build before the driver started (compare.sh's start time
  // given with --command_start_unix); negative: not known.
  double setup_and_build_seconds = -1;
  double clock_overhead_ns = 0;  // p50 of an empty timed section
  // /proc/loadavg (1, 5, 15 min) when the driver started and ended; empty
  // if unreadable.
  std::vector<double> load_start, load_end;
  Settings settings;
  int paired_reps = 0;
  std::vector<uint64_t> keys;
  std::vector<uint64_t> sizes;
  std::vector<std::string> peers;
  std::vector<std::string> skipped;  // peers not run, with the reason
};

// The whole document, pretty-printed.
std::string ResultsJson(const RunInfo& info,
                        const std::vector<Result>& results);

// Writes ResultsJson to `path`; an error names the path.
absl::Status WriteResultsJson(const std::string& path, const RunInfo& info,
                              const std::vector<Result>& results);

}  // namespace bench
}  // namespace zcipc

#endif  // ZCIPC_BENCH_COMPARE_RESULTS_JSON_H_
