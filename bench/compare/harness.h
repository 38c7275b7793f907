// The phases of the comparison, run the same way against every Store.

#ifndef ZCIPC_BENCH_COMPARE_HARNESS_H_
#define ZCIPC_BENCH_COMPARE_HARNESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/compare/store.h"
#include "bench/compare/workload.h"

namespace zcipc {
namespace bench {

// Constants of the method (recorded in results.json).
// Latency samples kept per reader process (the most recent ones).
inline constexpr size_t kLatencySamplesPerReader = 1 << 20;
// A reader times every kLatencySampleEvery-th read.
inline constexpr int kLatencySampleEvery = 4;
// One in kMixedUpdateOneIn operations of the mixed phase is an update (the
// rest are lookups), chosen per position of the key sequence.
inline constexpr int kMixedUpdateOneIn = 10;
// Values read back and checked, untimed, after the insert and mixed phases.
inline constexpr size_t kVerifyValues = 4096;

// How a row of the tables drives its store.
enum class Mode {
  kSingle,  // one call per operation (Get, Put, Erase)
  kRead,    // zero-copy Read for lookups, Put for writes (zcipc only)
  kBatch,   // RunBatch of `batch` operations (transaction, lock, pipeline)
};

struct Settings {
  double phase_seconds = 0.15;  // each timed phase (per repetition)
  double insert_seconds = 1.5;  // bound of the one-at-a-time insert half
  double mp_seconds = 0.5;      // each readers-under-a-writer run
  int reps = 3;                 // repetitions of the read-hit phase
  size_t batch = 100;           // operations per batch / pipeline
  std::vector<int> readers = {1, 2};
  bool multi_process = true;  // run the readers-under-a-writer phases
};

// Keys, misses, sequences for one (keys, value size).
struct Dataset {
  uint64_t keys = 0;
  uint64_t value_size = 0;
  std::vector<std::string> key;    // key[i] = Key(i)
  std::vector<std::string> miss;   // Key(keys + i): never inserted
  std::vector<uint32_t> seq;       // uniform random hits, fixed seed
  std::vector<uint8_t> mixed_put;  // seq position -> 1 for the 10% updates
  std::vector<uint32_t> insert_order, erase_order;  // permutations
};
Dataset MakeDataset(uint64_t keys, uint64_t value_size);

const char* ModeName(Mode mode);  // "single", "read", "batch"
std::string RowLabel(const Store& store, Mode mode, size_t batch);

// Runs every phase of `store` on `data` (creating and destroying the store)
// and appends the results. `tag` names the store's files and segments.
void RunStore(Store* store, const Dataset& data, const Settings& settings,
              const std::string& dir, const std::string& tag,
              std::vector<Result>* results);

// The single-process targets measured side by side: the floor and zcipc
// (and the bare flock pair) filled with the same data, their read-hit and
// update loops alternated rep by rep (`pairs` times), so that both sides of
// each ratio see the same machine conditions. Phases "paired_read_hit" and
// "paired_update".
void RunPaired(const Dataset& data, const Settings& settings, int pairs,
               const std::string& dir, const std::string& tag,
               std::vector<Result>* results);

// The floor of a locked write: flock(LOCK_EX) + flock(LOCK_UN) on a file in
// `dir` (median of `reps` runs); the result row of the update phase.
Result MeasureFlockPair(const Dataset& data, const Settings& settings,
                        const std::string& dir);

}  // namespace bench
}  // namespace zcipc

#endif  // ZCIPC_BENCH_COMPARE_HARNESS_H_
