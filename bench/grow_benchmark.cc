// Online growth against a dict sized for its load from the start
// (docs/PERFORMANCE-GROW.md):
//
// - BM_InsertGrowing/N: N distinct keys into a dict created for 10^3 items
//   with a small heap (auto_grow: the table migrates to larger ones and the
//   heap grows as it fills); BM_InsertPresized/N: the same keys into a dict
//   created for N items with room for all of them. Each iteration creates a
//   fresh dict; only the N Puts are timed (manual time).
// - BM_GetAfterGrowth/N: Get of random existing keys in a dict that grew to
//   N keys from 10^3; BM_GetPresized/N: the same in a dict created for N.
//
// The Insert rows' time is the Puts' wall time; their counter put_cpu_ns is
// the Puts' CPU time per Put, which other processes' load disturbs less.
//
// Keys are 16 bytes ("k:%014d"), values 32 bytes carrying the key's index.
// Lookups pick keys from a fixed-seed uniform random sequence.
//
//   bazel run -c opt //bench:grow_benchmark -- --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

constexpr int64_t kValueSize = 32;
// The growing dict's first size: 10^3 items and a heap for about as many
// entries (each takes an 80-byte block: 24 header bytes, a 16-byte key and
// a 32-byte value, rounded up to 16).
constexpr uint64_t kSmallItems = 1000;
constexpr uint64_t kSmallHeap = 128 << 10;

std::string Key(int64_t i) { return absl::StrFormat("k:%014d", i); }

std::string Value(int64_t i) {
  std::string v = absl::StrCat(i, ":");
  v.resize(kValueSize, 'v');
  return v;
}

// The same keys and values for every benchmark, made once per N.
struct Data {
  std::vector<std::string> keys;
  std::vector<std::string> values;
};

const Data& GetData(int64_t n) {
  static auto* cache =
      new absl::flat_hash_map<int64_t, std::unique_ptr<Data>>();
  std::unique_ptr<Data>& d = (*cache)[n];
  if (d == nullptr) {
    d = std::make_unique<Data>();
    d->keys.reserve(n);
    d->values.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      d->keys.push_back(Key(i));
      d->values.push_back(Value(i));
    }
  }
  return *d;
}

Options GrowingOptions() {
  Options o;
  o.max_items = kSmallItems;
  o.heap_size = kSmallHeap;
  o.auto_grow = true;
  return o;
}

Options PresizedOptions(int64_t n) {
  Options o;
  o.max_items = n;
  // 80-byte blocks, plus a margin.
  o.heap_size = n * 80 + (8 << 20);
  o.auto_grow = true;
  return o;
}

// Creates a dict and unlinks its name at once (the mapping lives on in the
// handle; nothing is left in /dev/shm if the benchmark dies).
absl::StatusOr<ZeroCopyDict> CreateAnonymous(absl::string_view tag,
                                             const Options& o) {
  static int serial = 0;
  const std::string name =
      absl::StrCat("bench-grow-", tag, "-", getpid(), "-", serial++);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  if (d.ok()) (void)ZeroCopyDict::Unlink(name);
  return d;
}

double NowSeconds(clockid_t clock = CLOCK_MONOTONIC) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Each iteration: a fresh dict (not timed), N Puts (timed), the dict
// released (not timed).
void RunInsert(benchmark::State& state, bool grow) {
  const int64_t n = state.range(0);
  const Data& data = GetData(n);
  uint64_t grows = 0, capacity = 0;
  double cpu = 0;
  for (auto _ : state) {
    absl::StatusOr<ZeroCopyDict> d =
        CreateAnonymous(grow ? "growing" : "presized",
                        grow ? GrowingOptions() : PresizedOptions(n));
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      break;
    }
    const double t0 = NowSeconds();
    const double c0 = NowSeconds(CLOCK_THREAD_CPUTIME_ID);
    for (int64_t i = 0; i < n; ++i) {
      absl::Status s = d->Put(data.keys[i], data.values[i]);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        break;
      }
    }
    cpu += NowSeconds(CLOCK_THREAD_CPUTIME_ID) - c0;
    state.SetIterationTime(NowSeconds() - t0);
    const Stats st = d->GetStats();
    if (st.size != static_cast<uint64_t>(n)) {
      state.SkipWithError("the dict does not hold every key");
      break;
    }
    grows = st.grows_total;
    capacity = st.max_items;
  }
  state.SetItemsProcessed(state.iterations() * n);
  // The Puts' own CPU time per Put (this thread's, kernel time included):
  // unlike the wall time, it does not count the time other processes had
  // the core, so it moves less on a shared machine.
  state.counters["put_cpu_ns"] =
      state.iterations() == 0 ? 0 : cpu * 1e9 / (state.iterations() * n);
  state.counters["grows"] = static_cast<double>(grows);
  state.counters["capacity"] = static_cast<double>(capacity);
}

void BM_InsertGrowing(benchmark::State& state) { RunInsert(state, true); }
void BM_InsertPresized(benchmark::State& state) { RunInsert(state, false); }

// Two sizes: 10^4 (the smoke test's) and 10^6 (the measured one). One
// iteration per repetition: an iteration is N Puts.
BENCHMARK(BM_InsertGrowing)
    ->Arg(10000)
    ->Arg(1000000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_InsertPresized)
    ->Arg(10000)
    ->Arg(1000000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// The filled dicts the Get benchmarks share, made once per (N, grown).
ZeroCopyDict* GetFilled(int64_t n, bool grown) {
  static auto* cache = new absl::flat_hash_map<std::pair<int64_t, bool>,
                                               std::unique_ptr<ZeroCopyDict>>();
  std::unique_ptr<ZeroCopyDict>& slot = (*cache)[{n, grown}];
  if (slot != nullptr) return slot.get();
  absl::StatusOr<ZeroCopyDict> d =
      CreateAnonymous(grown ? "get-grown" : "get-presized",
                      grown ? GrowingOptions() : PresizedOptions(n));
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    abort();
  }
  const Data& data = GetData(n);
  for (int64_t i = 0; i < n; ++i) {
    absl::Status s = d->Put(data.keys[i], data.values[i]);
    if (!s.ok()) {
      fprintf(stderr, "%s\n", s.ToString().c_str());
      abort();
    }
  }
  slot = std::make_unique<ZeroCopyDict>(*std::move(d));
  return slot.get();
}

void RunGet(benchmark::State& state, bool grown) {
  const int64_t n = state.range(0);
  ZeroCopyDict* d = GetFilled(n, grown);
  const Data& data = GetData(n);
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 16);
  for (auto& s : seq) s = rng() % n;
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    if (!d->Get(data.keys[seq[i++ & 0xffff]], &out).ok()) {
      state.SkipWithError("Get failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  const Stats st = d->GetStats();
  state.counters["grows"] = static_cast<double>(st.grows_total);
  state.counters["slots"] = static_cast<double>(st.slot_count);
}

void BM_GetAfterGrowth(benchmark::State& state) { RunGet(state, true); }
void BM_GetPresized(benchmark::State& state) { RunGet(state, false); }
BENCHMARK(BM_GetAfterGrowth)->Arg(10000)->Arg(1000000);
BENCHMARK(BM_GetPresized)->Arg(10000)->Arg(1000000);

}  // namespace
}  // namespace zcipc

BENCHMARK_MAIN();
