// Microbenchmarks of the change feed's cost to writers and of a follower's
// read rate (docs/PERFORMANCE-FEED.md):
//
// - BM_FeedPut/log_kib:L: Put (replace in place) of 16-byte keys and
//   100-byte values in a dict of 10^4 keys created with change_log_bytes =
//   L KiB (1024 is the default; 0 disables the log; 64, a ring that stays
//   in the CPU's L2 cache, shows what the default ring's cache misses
//   cost). Nobody waits for changes.
// - BM_FeedInsertErase/log_kib:L: one insert and one erase of a fresh key
//   per iteration, on the same kind of dict.
// - BM_FeedReadChanges/batch:B/get:G: a follower B changes behind, reading
//   them with one ReadChanges call, out of a log holding 30,000 changes;
//   with get:1 it also reads each change's current value with Get.
//   items_per_second is changes delivered per second.
//
// The dicts with and without the log are built side by side and compared in
// the same run; interleave their repetitions so both see the same load:
//
//   bazel run -c opt //bench:feed_benchmark -- --benchmark_repetitions=10
//       --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true

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

constexpr int64_t kKeys = 10000;
constexpr int64_t kValueSize = 100;

// 16-byte keys.
std::string Key(int64_t i) { return absl::StrFormat("key:%012d", i); }

// A random sequence of key indexes (fixed seed), walked cyclically.
std::vector<uint32_t> Sequence(int64_t keys) {
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 16);
  for (auto& s : seq) s = rng() % keys;
  return seq;
}

// A dict of kKeys keys with a change log of `log_kib` KiB, unlinked at once
// (the mapping lives on, nothing is left in /dev/shm).
ZeroCopyDict MakeDict(absl::string_view tag, int64_t log_kib) {
  Options o;
  o.max_items = 2 * kKeys + 1000;
  o.heap_size = 64 << 20;
  o.change_log_bytes = static_cast<uint64_t>(log_kib) << 10;
  const std::string name =
      absl::StrCat("bench-feed-", tag, "-", getpid(), "-", log_kib);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    abort();
  }
  (void)ZeroCopyDict::Unlink(name);
  const std::string value(kValueSize, 'v');
  for (int64_t i = 0; i < kKeys; ++i) {
    if (!d->Put(Key(i), value).ok()) abort();
  }
  return *std::move(d);
}

// One dict per log size, shared by the repetitions (and the interleaved
// runs) of a benchmark.
ZeroCopyDict& Dict(absl::string_view tag, int64_t log_kib) {
  static auto* cache =
      new absl::flat_hash_map<std::string, std::unique_ptr<ZeroCopyDict>>();
  const std::string id = absl::StrCat(tag, "/", log_kib);
  auto it = cache->find(id);
  if (it == cache->end()) {
    it = cache
             ->emplace(id,
                       std::make_unique<ZeroCopyDict>(MakeDict(tag, log_kib)))
             .first;
  }
  return *it->second;
}

void BM_FeedPut(benchmark::State& state) {
  ZeroCopyDict& d = Dict("put", state.range(0));
  std::vector<std::string> keys;
  for (int64_t i = 0; i < kKeys; ++i) keys.push_back(Key(i));
  const std::vector<uint32_t> seq = Sequence(kKeys);
  const std::string value(kValueSize, 'w');
  size_t n = 0;
  for (auto _ : state) {
    if (!d.Put(keys[seq[n++ & 0xffff]], value).ok()) {
      state.SkipWithError("Put failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FeedPut)->ArgName("log_kib")->Arg(1024)->Arg(0)->Arg(64);

void BM_FeedInsertErase(benchmark::State& state) {
  ZeroCopyDict& d = Dict("ins", state.range(0));
  std::vector<std::string> fresh;
  for (int64_t i = 0; i < 4096; ++i) fresh.push_back(Key(kKeys + i));
  const std::string value(kValueSize, 'w');
  size_t n = 0;
  for (auto _ : state) {
    const std::string& k = fresh[n++ & 4095];
    if (!d.Put(k, value).ok() || !d.Erase(k).ok()) {
      state.SkipWithError("insert/erase failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FeedInsertErase)->ArgName("log_kib")->Arg(1024)->Arg(0)->Arg(64);

void BM_FeedReadChanges(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const bool get = state.range(1) != 0;
  constexpr int64_t kRetained = 30000;  // 32 bytes each: fits 1 MiB
  ZeroCopyDict& d = Dict("follow", 1024);
  if (d.ChangeSeq() < kKeys + kRetained) {
    const std::vector<uint32_t> seq = Sequence(kKeys);
    const std::string value(kValueSize, 'f');
    for (int64_t i = 0; i < kRetained; ++i) {
      if (!d.Put(Key(seq[i & 0xffff]), value).ok()) abort();
    }
  }
  // A follower `batch` changes behind: each call delivers the last `batch`
  // changes of the log.
  const uint64_t since = d.ChangeSeq() - batch;
  uint64_t delivered = 0, bytes = 0;
  std::string value;
  for (auto _ : state) {
    absl::StatusOr<uint64_t> r = d.ReadChanges(since, [&](const Change& c) {
      ++delivered;
      bytes += c.key.size();
      if (get && d.Get(c.key, &value).ok()) bytes += value.size();
    });
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(delivered);
}
BENCHMARK(BM_FeedReadChanges)
    ->ArgNames({"batch", "get"})
    ->Args({100, 0})
    ->Args({100, 1})
    ->Args({10000, 0})
    ->Args({10000, 1});

}  // namespace
}  // namespace zcipc

BENCHMARK_MAIN();
