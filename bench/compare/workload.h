// The workload every peer of the comparison runs: keys, values that carry a
// checksum, fixed-seed key sequences, timing and latency helpers, and the
// result record each phase produces.

#ifndef ZCIPC_BENCH_COMPARE_WORKLOAD_H_
#define ZCIPC_BENCH_COMPARE_WORKLOAD_H_

#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace zcipc {
namespace bench {

// Key(i) is kKeyFormat of i.
inline constexpr char kKeyFormat[] = "key:%08d";
std::string Key(uint64_t i);

// Values of `size` bytes (at least 16):
//   [u32 key index][u32 generation][payload: size-16 bytes][u64 check]
// with check = XXH3-64(payload) ^ Mix(key index, generation). A read that
// mixes bytes of two writes fails the check: two payloads differ, and two
// generations of the same key differ in the mixed header. The payload is
// one of kPayloads fixed random byte strings, so a writer makes a value by
// patching 16 bytes of a prepared buffer (no hashing on the write path).
inline constexpr size_t kMinValueSize = 16;
inline constexpr int kPayloads = 256;

class ValuePool {
 public:
  explicit ValuePool(size_t size);
  // A value for (key, generation); valid until the next call with the same
  // generation % kPayloads (so up to kPayloads values of one batch coexist).
  absl::string_view Make(uint32_t key, uint32_t generation);
  size_t size() const { return size_; }

 private:
  size_t size_;
  std::vector<std::string> buffers_;
  std::vector<uint64_t> payload_hash_;
};

// True if `value` is a complete, untorn value of key index `key`.
bool CheckValue(uint32_t key, absl::string_view value);

// Fixed-seed uniform random key indexes in [0, keys), kSequenceLength of
// them, walked cyclically by every phase and peer.
inline constexpr size_t kSequenceLength = 1 << 20;
std::vector<uint32_t> RandomSequence(uint64_t keys, uint64_t seed);
// A fixed-seed permutation of [0, keys).
std::vector<uint32_t> Permutation(uint64_t keys, uint64_t seed);

inline uint64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time of the calling thread (user + system), for single-process
// phases: unlike wall time it does not count the time the harness is
// descheduled by other work on a shared machine.
inline uint64_t ThreadCpuNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  uint64_t samples = 0;
};
// Sorts `samples` (nanoseconds) in place.
Percentiles ComputePercentiles(std::vector<uint32_t>* samples);

double Median(std::vector<double> v);

// One phase of one peer configuration on one data set.
struct Result {
  std::string peer;    // "zcipc", "LMDB", ...
  std::string config;  // row label, e.g. "zcipc Get/Put"
  std::string mode;    // "single", "read" (zero-copy) or "batch"
  uint64_t keys = 0;
  uint64_t value_size = 0;
  std::string
      phase;  // insert, read_hit, read_miss, update, mixed, erase, readers
  int readers = 0;        // readers-under-a-writer phases: reader processes
  bool available = true;  // false: N/A (with `note`)
  std::string note;
  uint64_t ops = 0;        // operations timed (median rep, or all readers)
  double seconds = 0;      // their time
  double ops_per_sec = 0;  // median of reps / aggregate of readers
  double ns_per_op = 0;    // 1e9 / ops_per_sec (single process phases)
  // The harness thread's CPU time per operation (median of reps). All of the
  // work for in-process peers; only the client's share for Redis.
  double cpu_ns_per_op = 0;
  bool cpu_is_all_work = true;  // false: part of the work is in another process
  std::vector<double> reps_ops_per_sec;
  std::vector<double> reps_cpu_ns_per_op;  // of the same repetitions
  bool time_bounded = false;  // stopped by the time bound before all keys
  uint64_t errors = 0;        // failed calls, wrong answers (hit missing, ...)
  uint64_t torn = 0;          // values failing CheckValue
  // readers phase only
  bool has_latency = false;
  Percentiles latency;
  double per_reader_ops_per_sec = 0;
  double writer_ops_per_sec = 0;
};

}  // namespace bench
}  // namespace zcipc

#endif  // ZCIPC_BENCH_COMPARE_WORKLOAD_H_
