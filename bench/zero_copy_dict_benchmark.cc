// Microbenchmarks of the engine's read and write paths, with reference rows
// measured in the same binary: an in-process absl::flat_hash_map find-and-copy
// (the floor for a lookup) and a bare flock lock+unlock pair (the floor for
// a locked write).
//
// Keys are "key:%08d"; values carry the key's index in their first bytes.
// Lookups pick keys from a fixed-seed uniform random sequence.
//
//   bazel run -c opt //bench:zero_copy_dict_benchmark --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
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

std::string Key(int64_t i) { return absl::StrFormat("key:%08d", i); }

std::string Value(int64_t i, int64_t size) {
  std::string v = absl::StrCat(i, ":");
  v.resize(size, 'v');
  return v.substr(0, size);
}

// A random sequence of key indexes (fixed seed), walked cyclically.
std::vector<uint32_t> Sequence(int64_t keys) {
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 16);
  for (auto& s : seq) s = rng() % keys;
  return seq;
}

// One dict per (keys, value size), filled once and shared by the read
// benchmarks.
struct Fixture {
  std::string name;
  ZeroCopyDict dict;
  std::vector<std::string> keys;
  std::vector<std::string> misses;
};

Fixture* GetFixture(int64_t keys, int64_t value_size) {
  static auto* cache =
      new absl::flat_hash_map<std::pair<int64_t, int64_t>,
                              std::unique_ptr<Fixture>>();
  auto it = cache->find({keys, value_size});
  if (it != cache->end()) return it->second.get();
  std::string name =
      absl::StrCat("bench-", getpid(), "-", keys, "-", value_size);
  Options o;
  o.max_items = keys + 1000;
  o.heap_size = (keys + 1000) * (value_size + 64) + (64 << 20);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    abort();
  }
  (void)ZeroCopyDict::Unlink(name);  // the mapping lives on; nothing leaks
  auto owned = std::make_unique<Fixture>(Fixture{name, *std::move(d), {}, {}});
  Fixture* f = owned.get();
  for (int64_t i = 0; i < keys; ++i) {
    f->keys.push_back(Key(i));
    f->misses.push_back(Key(i + keys));
    if (!f->dict.Put(f->keys.back(), Value(i, value_size)).ok()) abort();
  }
  (*cache)[{keys, value_size}] = std::move(owned);
  return f;
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t keys : {10000, 1000000}) {
    for (int64_t size : {16, 100, 1000}) b->Args({keys, size});
  }
}

void BM_FlatHashMapGet(benchmark::State& state) {
  const int64_t keys = state.range(0), size = state.range(1);
  absl::flat_hash_map<std::string, std::string> map;
  std::vector<std::string> names;
  for (int64_t i = 0; i < keys; ++i) {
    names.push_back(Key(i));
    map[names.back()] = Value(i, size);
  }
  std::vector<uint32_t> seq = Sequence(keys);
  std::string out;
  size_t n = 0;
  for (auto _ : state) {
    auto it = map.find(names[seq[n++ & 0xffff]]);
    out.assign(it->second);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FlatHashMapGet)->Apply(Args);

void BM_Get(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  std::string out;
  size_t n = 0;
  for (auto _ : state) {
    if (!f->dict.Get(f->keys[seq[n++ & 0xffff]], &out).ok()) {
      state.SkipWithError("Get failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Get)->Apply(Args);

void BM_GetMiss(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  std::string out;
  size_t n = 0;
  for (auto _ : state) {
    absl::Status s = f->dict.Get(f->misses[seq[n++ & 0xffff]], &out);
    if (!absl::IsNotFound(s)) {
      state.SkipWithError("miss did not answer NotFound");
      break;
    }
  }
}
BENCHMARK(BM_GetMiss)->Apply(Args);

void BM_Read(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  size_t n = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    if (!f->dict
             .Read(f->keys[seq[n++ & 0xffff]],
                   [&](absl::string_view v) { sum += v.size() + v[0]; })
             .ok()) {
      state.SkipWithError("Read failed");
      break;
    }
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Read)->Apply(Args);

void BM_GetLocked(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  std::string out;
  size_t n = 0;
  for (auto _ : state) {
    if (!f->dict.GetLocked(f->keys[seq[n++ & 0xffff]], &out).ok()) {
      state.SkipWithError("GetLocked failed");
      break;
    }
  }
}
BENCHMARK(BM_GetLocked)->Apply(Args);

void BM_PutReplaceInPlace(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  std::string v = Value(7, state.range(1));
  size_t n = 0;
  for (auto _ : state) {
    if (!f->dict.Put(f->keys[seq[n++ & 0xffff]], v).ok()) {
      state.SkipWithError("Put failed");
      break;
    }
  }
}
BENCHMARK(BM_PutReplaceInPlace)->Apply(Args);

// Alternates each key between two sizes in different size classes, so every
// Put allocates a new block and frees the old one.
void BM_PutRelocate(benchmark::State& state) {
  const int64_t keys = 10000, size = state.range(1);
  Options o;
  o.max_items = keys;
  o.heap_size = keys * (size * 4 + 128) + (16 << 20);
  std::string name = absl::StrCat("bench-reloc-", getpid(), "-", size);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  (void)ZeroCopyDict::Unlink(name);
  std::vector<std::string> names;
  for (int64_t i = 0; i < keys; ++i) {
    names.push_back(Key(i));
    (void)d->Put(names.back(), Value(i, size));
  }
  std::string small = Value(1, size), big = Value(2, size * 3 + 64);
  std::vector<uint32_t> seq = Sequence(keys);
  std::vector<uint8_t> is_big(keys, 0);
  size_t n = 0;
  for (auto _ : state) {
    uint32_t k = seq[n++ & 0xffff];
    is_big[k] ^= 1;
    if (!d->Put(names[k], is_big[k] ? big : small).ok()) {
      state.SkipWithError("Put failed");
      break;
    }
  }
}
BENCHMARK(BM_PutRelocate)->Args({10000, 16})->Args({10000, 100})->Args({10000, 1000});

// Insert then erase the same fresh keys: each iteration is one insert and
// one erase (tombstone purges included).
void BM_PutInsertErase(benchmark::State& state) {
  const int64_t size = state.range(1);
  Options o;
  o.max_items = 20000;
  o.heap_size = 64 << 20;
  std::string name = absl::StrCat("bench-ins-", getpid(), "-", size);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  (void)ZeroCopyDict::Unlink(name);
  for (int64_t i = 0; i < 10000; ++i) (void)d->Put(Key(i), Value(i, size));
  std::vector<std::string> fresh;
  for (int64_t i = 0; i < 4096; ++i) fresh.push_back(Key(1000000 + i));
  std::string v = Value(3, size);
  size_t n = 0;
  for (auto _ : state) {
    const std::string& k = fresh[n++ & 4095];
    if (!d->Put(k, v).ok() || !d->Erase(k).ok()) {
      state.SkipWithError("insert/erase failed");
      break;
    }
  }
}
BENCHMARK(BM_PutInsertErase)->Args({10000, 16})->Args({10000, 100})->Args({10000, 1000});

// The floor of any locked write: flock(LOCK_EX) + flock(LOCK_UN) on a
// /dev/shm file.
void BM_FlockPair(benchmark::State& state) {
  std::string path = absl::StrCat("/dev/shm/zcipc-bench-flock-", getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  unlink(path.c_str());
  for (auto _ : state) {
    flock(fd, LOCK_EX);
    flock(fd, LOCK_UN);
  }
  close(fd);
}
BENCHMARK(BM_FlockPair)->Args({10000, 0});

// The writer lock alone, uncontended: a Write with an empty batch is one
// acquire and one release (user-space atomics, no system call).
void BM_WriterLockPair(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), 100);
  for (auto _ : state) {
    if (!f->dict.Write([](Batch&) { return absl::OkStatus(); }).ok()) {
      state.SkipWithError("Write failed");
      break;
    }
  }
}
BENCHMARK(BM_WriterLockPair)->Args({10000, 0});

// The previous format's writer lock, kept measurable (benchmark only): every
// write took flock(LOCK_EX) and flock(LOCK_UN) on the segment's file around
// the operation. This runs today's Put inside such a pair, so the two
// writer locks are compared on the same write in one run.
void BM_PutReplaceInPlaceUnderFlock(benchmark::State& state) {
  Fixture* f = GetFixture(state.range(0), state.range(1));
  std::vector<uint32_t> seq = Sequence(state.range(0));
  std::string v = Value(7, state.range(1));
  std::string path = absl::StrCat("/dev/shm/zcipc-bench-flock2-", getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  unlink(path.c_str());
  size_t n = 0;
  for (auto _ : state) {
    flock(fd, LOCK_EX);
    absl::Status s = f->dict.Put(f->keys[seq[n++ & 0xffff]], v);
    flock(fd, LOCK_UN);
    if (!s.ok()) {
      state.SkipWithError("Put failed");
      break;
    }
  }
  close(fd);
}
BENCHMARK(BM_PutReplaceInPlaceUnderFlock)->Args({10000, 100});

}  // namespace
}  // namespace zcipc

BENCHMARK_MAIN();
