// The change feed's cost to writers, as instruction counts and as paired
// timings (docs/PERFORMANCE-FEED.md). Every op first builds a dict of
// `keys` 16-byte keys with `value_size`-byte values and a change log of
// `log_bytes` bytes (0 disables it; Options::change_log_bytes).
//
//   feed_probe --op=OP --log_bytes=1048576 --keys=10000 --value_size=100
//              --iters=100000
//
// Counted ops, for valgrind --tool=callgrind (bench/feed_callgrind.sh):
// put (replace in place, random keys), insert_erase (one insert and one
// erase of a fresh key), none (the fill only). The count of an op is
// (count(op) - count(none)) / iters, with the same --log_bytes. The fill
// ends with --warm Puts in place (default 40,000), so that a 1 MiB log has
// wrapped and every counted change evicts the oldest (the steady state).
//
// Timed op: paired. Two dicts, one with the log (--log_bytes) and one
// without, filled alike; Put (replace in place) on each and insert+erase on
// each alternate in chunks of 5,000 operations, `iters` chunks of each
// (so both sides share the machine's noise). Prints the median CPU ns per
// operation (this thread's CPU time) of each side and the median of the
// per-chunk ratios.

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/probe_flags.h"
#include "zcipc/zero_copy_dict.h"

namespace {

using ::zcipc_bench::Flag;

// This thread's CPU time in ns: unlike wall-clock time, it leaves out the
// time the probe spends descheduled by other work on a shared machine.
double CpuNs() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Key(int64_t i) { return absl::StrFormat("key:%012d", i); }

// A filled dict, unlinked at once (the mapping lives on).
absl::StatusOr<zcipc::ZeroCopyDict> MakeDict(int64_t keys, int64_t size,
                                             uint64_t log_bytes, int64_t warm) {
  const std::string name =
      absl::StrCat("feed-probe-", getpid(), "-", log_bytes);
  zcipc::Options o;
  o.max_items = 2 * keys + 5000;
  o.heap_size = (2 * keys + 5000) * (size + 64) + (16 << 20);
  o.change_log_bytes = log_bytes;
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Create(name, o);
  if (!d.ok()) return d;
  (void)zcipc::ZeroCopyDict::Unlink(name);
  const std::string value(size, 'v');
  for (int64_t i = 0; i < keys; ++i) {
    absl::Status s = d->Put(Key(i), value);
    if (!s.ok()) return s;
  }
  for (int64_t i = 0; i < warm; ++i) {
    absl::Status s = d->Put(Key(i % keys), value);
    if (!s.ok()) return s;
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string op = Flag(argc, argv, "op", "put");
  const int64_t keys = atoll(Flag(argc, argv, "keys", "10000"));
  const int64_t size = atoll(Flag(argc, argv, "value_size", "100"));
  const int64_t iters = atoll(Flag(argc, argv, "iters", "100000"));
  const uint64_t log_bytes =
      strtoull(Flag(argc, argv, "log_bytes", "1048576"), nullptr, 10);
  const int64_t warm = atoll(Flag(argc, argv, "warm", "40000"));

  absl::StatusOr<zcipc::ZeroCopyDict> d = MakeDict(keys, size, log_bytes, warm);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> names, fresh;
  for (int64_t i = 0; i < keys; ++i) names.push_back(Key(i));
  for (int64_t i = 0; i < 4096; ++i) fresh.push_back(Key(keys + i));
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 20);
  for (auto& s : seq) s = rng() % keys;
  const std::string value(size, 'w');

  if (op == "put") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Put(names[seq[n & 0xfffff]], value).ok()) return 2;
    }
  } else if (op == "insert_erase") {
    for (int64_t n = 0; n < iters; ++n) {
      const std::string& k = fresh[n & 4095];
      if (!d->Put(k, value).ok() || !d->Erase(k).ok()) return 2;
    }
  } else if (op == "paired") {
    absl::StatusOr<zcipc::ZeroCopyDict> off = MakeDict(keys, size, 0, warm);
    if (!off.ok()) {
      fprintf(stderr, "%s\n", off.status().ToString().c_str());
      return 1;
    }
    constexpr int kChunk = 5000;
    std::vector<double> put_on, put_off, put_ratio, ie_on, ie_off, ie_ratio;
    size_t pos = 0;
    auto puts = [&](zcipc::ZeroCopyDict& t) {
      const double t0 = CpuNs();
      for (int j = 0; j < kChunk; ++j) {
        if (!t.Put(names[seq[(pos + j) & 0xfffff]], value).ok()) exit(2);
      }
      return (CpuNs() - t0) / kChunk;
    };
    auto insert_erases = [&](zcipc::ZeroCopyDict& t) {
      const double t0 = CpuNs();
      for (int j = 0; j < kChunk; ++j) {
        const std::string& k = fresh[(pos + j) & 4095];
        if (!t.Put(k, value).ok() || !t.Erase(k).ok()) exit(2);
      }
      return (CpuNs() - t0) / kChunk;
    };
    for (int64_t c = 0; c < iters; ++c) {
      // Alternate which side goes first, so neither always follows the
      // other's cache footprint.
      double on, no;
      if (c % 2 == 0) {
        on = puts(*d);
        no = puts(*off);
      } else {
        no = puts(*off);
        on = puts(*d);
      }
      put_on.push_back(on);
      put_off.push_back(no);
      put_ratio.push_back(on / no);
      if (c % 2 == 0) {
        on = insert_erases(*d);
        no = insert_erases(*off);
      } else {
        no = insert_erases(*off);
        on = insert_erases(*d);
      }
      ie_on.push_back(on);
      ie_off.push_back(no);
      ie_ratio.push_back(on / no);
      pos += kChunk;
    }
    printf(
        "put: log on %.1f ns, log off %.1f ns, on/off %.3f; insert+erase: "
        "log on %.1f ns, log off %.1f ns, on/off %.3f (CPU time; medians of "
        "%zu chunks of %d)\n",
        Median(put_on), Median(put_off), Median(put_ratio), Median(ie_on),
        Median(ie_off), Median(ie_ratio), put_on.size(), kChunk);
  } else if (op != "none") {
    fprintf(stderr, "unknown --op=%s\n", op.c_str());
    return 1;
  }
  printf("%s keys=%lld size=%lld iters=%lld log_bytes=%llu seq=%llu\n",
         op.c_str(), static_cast<long long>(keys), static_cast<long long>(size),
         static_cast<long long>(iters),
         static_cast<unsigned long long>(log_bytes),
         static_cast<unsigned long long>(d->ChangeSeq()));
  return 0;
}
