// Targets, Markdown (RESULTS.md), JSON and the gnuplot chart.

#ifndef ZCIPC_BENCH_COMPARE_REPORT_H_
#define ZCIPC_BENCH_COMPARE_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/compare/harness.h"
#include "bench/compare/workload.h"

namespace zcipc {
namespace bench {

struct RunInfo {
  std::string date;     // UTC, ISO 8601
  std::string command;  // as typed
  int nproc = 0;
  std::string cpu_model;
  std::string kernel;
  std::string memory;
  std::string versions;  // of the peers' libraries and server
  double wall_seconds = 0;  // of the driver
  double clock_overhead_ns = 0;  // p50 of an empty timed section
  std::string load_start, load_end;  // /proc/loadavg (1, 5, 15 min)
  Settings settings;
  std::vector<uint64_t> keys;
  std::vector<uint64_t> sizes;
  std::vector<std::string> peers;
  std::vector<std::string> skipped;  // peers not run, with the reason
};

struct Target {
  std::string name;
  std::string goal;
  std::string measured;
  std::string status;  // PASS, MISS, info, not measured
  std::string margin;  // by how much
  std::string why;     // for a MISS
};

std::vector<Target> EvaluateTargets(const RunInfo& info,
                                    const std::vector<Result>& results);

bool WriteJson(const std::string& path, const RunInfo& info,
               const std::vector<Result>& results,
               const std::vector<Target>& targets);
bool WriteMarkdown(const std::string& path, const RunInfo& info,
                   const std::vector<Result>& results,
                   const std::vector<Target>& targets,
                   const std::string& chart);
// A gnuplot script that draws ops/s per phase and configuration (100 B
// values, one panel per key count) into `svg`.
bool WriteGnuplot(const std::string& path, const std::string& svg,
                  const RunInfo& info, const std::vector<Result>& results);

// The self-check of the test mode: every phase that ran produced numbers,
// no torn reads, no errors. False with the reasons in *why.
bool CheckResults(const std::vector<Result>& results, std::string* why);

std::string FormatRate(double ops_per_sec);  // 1.23M, 456k

}  // namespace bench
}  // namespace zcipc

#endif  // ZCIPC_BENCH_COMPARE_REPORT_H_
