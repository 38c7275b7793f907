// A fixed amount of work on each hot path, for instruction counts under
// valgrind --tool=callgrind (bench/callgrind.sh): callgrind counts the
// instructions each path executes, which unlike wall-clock time does not
// move with the load of this shared machine.
//
//   hotpath_probe --op=OP --keys=10000 --value_size=100 --iters=100000
//
// Counted ops: get, read, put (replace in place), write100 (a Write of 100
// Puts), floor (absl::flat_hash_map find and copy), and none / floor_fill
// (only the fill). Every op first fills a dict of `keys` keys, so the count
// of an op is (count(op) - count(none)) / iters; the floor's is
// (count(floor) - count(floor_fill)) / iters.
//
// Timed ops (quick A/B checks that share the machine's noise between the
// two sides by alternating them in chunks; --iters is the number of
// chunks): paired (floor vs Get vs Read), put_paired (flock pair vs Put vs
// an empty Write), flock_touch --mib=N (flock pair vs flock pair with two
// random loads of an N MiB buffer between the calls).

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/probe_flags.h"
#include "zcipc/zero_copy_dict.h"

namespace {

using ::zcipc_bench::Flag;

// Monotonic time in ns, as a double (the probes subtract and divide).
double NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A descriptor of an already-unlinked /dev/shm file to flock: the bare
// flock pair the probes compare against.
int OpenLockFile() {
  std::string path = absl::StrCat("/dev/shm/zcipc-probe-flock-", getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  unlink(path.c_str());
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string op = Flag(argc, argv, "op", "get");
  const int64_t keys = atoll(Flag(argc, argv, "keys", "10000"));
  const int64_t size = atoll(Flag(argc, argv, "value_size", "100"));
  const int64_t iters = atoll(Flag(argc, argv, "iters", "100000"));

  std::string name = absl::StrCat("probe-", getpid());
  zcipc::Options o;
  o.max_items = keys + 1000;
  o.heap_size = (keys + 1000) * (size + 64) + (16 << 20);
  o.change_log_bytes = atoll(Flag(argc, argv, "log", "1048576"));
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    return 1;
  }
  (void)zcipc::ZeroCopyDict::Unlink(name);  // the mapping lives on
  std::vector<std::string> names;
  std::string value(size, 'v');
  for (int64_t i = 0; i < keys; ++i) {
    names.push_back(absl::StrFormat("key:%08d", i));
    if (!d->Put(names.back(), value).ok()) return 1;
  }
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 20);  // the harness's length
  for (auto& s : seq) s = rng() % keys;

  std::string out;
  uint64_t sum = 0;
  if (op == "get") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Get(names[seq[n & 0xfffff]], &out).ok()) return 2;
      sum += out.size();
    }
  } else if (op == "read") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Read(names[seq[n & 0xfffff]], [&](absl::string_view v) {
              sum += v.size();
            }).ok()) {
        return 2;
      }
    }
  } else if (op == "put") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Put(names[seq[n & 0xfffff]], value).ok()) return 2;
    }
  } else if (op == "write100") {
    for (int64_t n = 0; n < iters; n += 100) {
      absl::Status s = d->Write([&](zcipc::Batch& b) -> absl::Status {
        for (int64_t j = n; j < n + 100; ++j) {
          absl::Status st = b.Put(names[seq[j & 0xfffff]], value);
          if (!st.ok()) return st;
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return 2;
    }
  } else if (op == "floor") {
    // The in-process floor of the comparison: flat_hash_map find + copy.
    absl::flat_hash_map<std::string, std::string> map;
    for (int64_t i = 0; i < keys; ++i) map[names[i]] = value;
    for (int64_t n = 0; n < iters; ++n) {
      out.assign(map.find(names[seq[n & 0xfffff]])->second);
      sum += out.size();
    }
  } else if (op == "paired") {
    // Timed, not for callgrind: floor and Get alternate in chunks of 20,000
    // lookups, `iters` chunks each; prints the median ns per lookup of each
    // and the median of the per-chunk ratios (a quick A/B of read-path
    // changes that shares the machine's noise between the two sides).
    absl::flat_hash_map<std::string, std::string> map;
    for (int64_t i = 0; i < keys; ++i) map[names[i]] = value;
    std::vector<double> fl, zc, rd, ratio, rratio;
    size_t pos = 0;
    constexpr int kChunk = 20000;
    for (int64_t c = 0; c < iters; ++c) {
      double t0 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        out.assign(map.find(names[seq[(pos + j) & 0xfffff]])->second);
        sum += out.size();
      }
      double t1 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        if (!d->Get(names[seq[(pos + j) & 0xfffff]], &out).ok()) return 2;
        sum += out.size();
      }
      double t2 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        if (!d->Read(names[seq[(pos + j) & 0xfffff]], [&](absl::string_view v) {
                sum += v.size();
              }).ok()) {
          return 2;
        }
      }
      double t3 = NowNs();
      pos += kChunk;
      fl.push_back((t1 - t0) / kChunk);
      zc.push_back((t2 - t1) / kChunk);
      rd.push_back((t3 - t2) / kChunk);
      ratio.push_back((t2 - t1) / (t1 - t0));
      rratio.push_back((t3 - t2) / (t1 - t0));
    }
    printf(
        "floor %.1f ns, Get %.1f ns, Read %.1f ns; Get/floor %.3f, "
        "Read/floor %.3f (medians of %zu chunks)\n",
        Median(fl), Median(zc), Median(rd), Median(ratio), Median(rratio),
        fl.size());
  } else if (op == "put_paired") {
    // Timed: a bare flock pair on a /dev/shm file and Put (replace in place)
    // alternate in chunks of 5,000; prints the medians and the median
    // per-chunk difference.
    int fd = OpenLockFile();
    constexpr int kChunk = 5000;
    std::vector<double> fl, pu, diff, em, ediff;
    size_t pos = 0;
    for (int64_t c = 0; c < iters; ++c) {
      double t0 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        flock(fd, LOCK_EX);
        flock(fd, LOCK_UN);
      }
      double t1 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        if (!d->Put(names[seq[(pos + j) & 0xfffff]], value).ok()) return 2;
      }
      double t2 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        if (!d->Write([](zcipc::Batch&) { return absl::OkStatus(); }).ok()) {
          return 2;
        }
      }
      double t3 = NowNs();
      pos += kChunk;
      fl.push_back((t1 - t0) / kChunk);
      pu.push_back((t2 - t1) / kChunk);
      diff.push_back((t2 - t1 - (t1 - t0)) / kChunk);
      em.push_back((t3 - t2) / kChunk);
      ediff.push_back((t3 - t2 - (t1 - t0)) / kChunk);
    }
    close(fd);
    printf(
        "flock pair %.1f ns, Put %.1f ns, empty Write %.1f ns; Put - flock "
        "pair %+.1f ns, empty Write - flock pair %+.1f ns (medians of %zu "
        "chunks)\n",
        Median(fl), Median(pu), Median(em), Median(diff), Median(ediff),
        fl.size());
  } else if (op == "flock_touch") {
    // Timed, no dict work: a bare flock pair with two independent loads of
    // random cache lines of a private `--mib` MiB buffer between the two
    // calls, against the bare pair, alternating in chunks of 5,000. Shows
    // what a cache miss costs right after a system call on this machine
    // (a Put's slot and block misses come right after the lock's flock).
    const int64_t mib = atoll(Flag(argc, argv, "mib", "2"));
    int fd = OpenLockFile();
    const size_t bytes = static_cast<size_t>(mib) << 20;
    std::vector<char> mem(bytes, 1);
    std::vector<size_t> lines(1 << 16);
    for (auto& l : lines) l = (rng() % (bytes / 64)) * 64;
    constexpr int kChunk = 5000;
    std::vector<double> bare, touch, diff;
    size_t k = 0;
    volatile char* vm = mem.data();
    for (int64_t c = 0; c < iters; ++c) {
      double t0 = NowNs();
      for (int j = 0; j < kChunk; ++j) {
        flock(fd, LOCK_EX);
        flock(fd, LOCK_UN);
      }
      double t1 = NowNs();
      for (int j = 0; j < kChunk; ++j, k += 2) {
        flock(fd, LOCK_EX);
        sum += vm[lines[k & 0xffff]] + vm[lines[(k + 1) & 0xffff]];
        flock(fd, LOCK_UN);
      }
      double t2 = NowNs();
      bare.push_back((t1 - t0) / kChunk);
      touch.push_back((t2 - t1) / kChunk);
      diff.push_back((t2 - t1 - (t1 - t0)) / kChunk);
    }
    close(fd);
    printf(
        "flock pair %.1f ns, with 2 random loads of a %lld MiB buffer "
        "between the calls %.1f ns: %+.1f ns (medians of %zu chunks)\n",
        Median(bare), static_cast<long long>(mib), Median(touch), Median(diff),
        bare.size());
  } else if (op == "floor_fill") {
    absl::flat_hash_map<std::string, std::string> map;
    for (int64_t i = 0; i < keys; ++i) map[names[i]] = value;
  } else if (op == "flock") {
    int fd = OpenLockFile();
    for (int64_t n = 0; n < iters; ++n) {
      flock(fd, LOCK_EX);
      flock(fd, LOCK_UN);
    }
    close(fd);
  } else if (op != "none") {
    fprintf(stderr, "unknown --op=%s\n", op.c_str());
    return 1;
  }
  printf("%s keys=%lld size=%lld iters=%lld sum=%llu\n", op.c_str(),
         static_cast<long long>(keys), static_cast<long long>(size),
         static_cast<long long>(iters), static_cast<unsigned long long>(sum));
  return 0;
}
