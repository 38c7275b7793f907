// Readers in other processes while a dict grows (docs/PERFORMANCE-GROW.md):
// how long each lock-free read takes, whether any read is torn or misses a
// key that is there, and how long each write takes while the table migrates
// and the heap grows.
//
//   grow_readers --from=1000 --to=10000000 --readers=2 --value-size=32
//
// The parent creates a dict for --from items (a heap for about as many
// entries; auto_grow) and stores --from stable keys with self-checking
// values (tools/proc/self_check.h). It forks --readers reader processes,
// each of which attaches and loops over three reads: Get of a random stable
// key, Read (zero-copy) of a random stable key, and Get of a random key the
// writer has already inserted. Each read is timed with CLOCK_MONOTONIC into
// a log-linear histogram (16 sub-buckets per power of two: a quantile is
// given as its bucket's upper bound, at most 1/16 above the true value).
// A value that fails its check is torn; NotFound for a key that is there
// is missed. Meanwhile the parent inserts keys until the dict holds --to,
// timing every Put, and reads Stats after each one (outside the timed
// region) to tell whether that Put grew the dict: grows_total changed or
// `growing` flipped (a migration started or switched tables), or the Put
// was one step of a migration in progress.
//
// --reader-cpu-time=1 also times each read's CPU time
// (CLOCK_THREAD_CPUTIME_ID) and counts the reads that lasted over 1 ms but
// used under 100 us of CPU: those waited (for a core, most likely), they
// did not work.
//
// Prints per reader: reads, torn, missed, p50/p99/p99.9/p99.99/max and the
// reader's involuntary context switches (a read the scheduler preempted
// lasts a time slice: on a machine with fewer cores than processes, the
// largest read latencies are those); for the writer: the quantiles of the
// Puts' wall time and of their CPU time (CLOCK_THREAD_CPUTIME_ID, which
// leaves out preemption: it shows the work a Put did), the maxima by what
// the Put did to growth, the slowest Puts by each measure, grows, final
// capacity, time. Exit code 1 if a read was torn or missed (or any call
// failed), 2 for bad flags, 130 for a run that SIGINT or SIGTERM cut short
// (and had no torn or missed read).
//
// The dict's name is unlinked as soon as the readers have attached (the
// mappings live on), so nothing is left in /dev/shm whatever way the run
// ends; SIGINT or SIGTERM stop the writer early and the run reports what
// it measured.

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/probe_flags.h"
#include "tools/proc/proc.h"
#include "tools/proc/self_check.h"
#include "zcipc/zero_copy_dict.h"

namespace {

using ::zcipc_bench::Flag;
using ::zcipc_proc::Fork;
using ::zcipc_proc::MakeValue;
using ::zcipc_proc::ParseValue;
using ::zcipc_proc::SharedArray;

volatile sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }

inline uint64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

inline uint64_t ThreadCpuNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// Keys of 16 bytes: stable keys are present from the start, inserted keys
// come one by one.
std::string StableKey(uint64_t i) { return absl::StrFormat("s:%014d", i); }
void InsertedKey(uint64_t i, char* buf) {
  snprintf(buf, 32, "i:%014llu", static_cast<unsigned long long>(i));
}

// A log-linear histogram of nanoseconds: values below 16 have a bucket
// each; above, each power of two is cut into 16 buckets.
constexpr int kBuckets = 16 + 60 * 16;

inline int BucketOf(uint64_t ns) {
  if (ns < 16) return static_cast<int>(ns);
  const int msb = 63 - __builtin_clzll(ns);
  const int sub = static_cast<int>((ns >> (msb - 4)) & 15);
  return std::min(kBuckets - 1, 16 + (msb - 4) * 16 + sub);
}

// The largest value bucket b holds.
uint64_t BucketUpper(int b) {
  if (b < 16) return b;
  const int msb = (b - 16) / 16 + 4;
  const uint64_t sub = (b - 16) % 16;
  return ((16 + sub + 1) << (msb - 4)) - 1;
}

struct Histogram {
  uint64_t count[kBuckets];
  uint64_t total;
  uint64_t max;

  void Add(uint64_t ns) {
    ++count[BucketOf(ns)];
    ++total;
    if (ns > max) max = ns;
  }
  // The upper bound of the bucket that holds quantile q (the max for 1).
  uint64_t Quantile(double q) const {
    if (total == 0) return 0;
    if (q >= 1) return max;
    const uint64_t rank = static_cast<uint64_t>(q * total);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += count[b];
      if (seen > rank) return std::min(BucketUpper(b), max);
    }
    return max;
  }
};

std::string Us(uint64_t ns) {
  return ns < 10000 ? absl::StrFormat("%.2f us", ns / 1e3)
                    : absl::StrFormat("%.1f us", ns / 1e3);
}

std::string Quantiles(const Histogram& h) {
  return absl::StrCat("p50 ", Us(h.Quantile(0.5)), ", p99 ",
                      Us(h.Quantile(0.99)), ", p99.9 ", Us(h.Quantile(0.999)),
                      ", p99.99 ", Us(h.Quantile(0.9999)), ", max ", Us(h.max));
}

// Shared by the writer and the readers.
struct Control {
  std::atomic<uint64_t> inserted{0};  // inserted keys 0..inserted-1 are in
  std::atomic<uint32_t> attached{0};
  std::atomic<uint32_t> stop{0};
};

// One reader's results, written by the reader alone and read by the parent
// after the reader exited.
struct ReaderResult {
  Histogram hist;
  uint64_t reads;
  uint64_t torn;
  uint64_t missed_stable;
  uint64_t missed_inserted;
  uint64_t errors;
  uint64_t over_1ms;
  int64_t involuntary_switches;
  // With --reader-cpu-time: each read's CPU time, and the reads over 1 ms
  // of wall time that took less than 100 us of CPU (the reader waited for
  // a core, or for something else, not for its own work).
  Histogram cpu;
  uint64_t over_1ms_low_cpu;
};

int RunReader(const std::string& name, uint64_t from, int index, bool cpu_time,
              Control* c, ReaderResult* r) {
  signal(SIGINT, SIG_IGN);  // the parent stops the readers
  signal(SIGTERM, SIG_IGN);
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Attach(name);
  if (!d.ok()) {
    return zcipc_proc::ChildFailure(3, "attach", d.status());
  }
  std::vector<std::string> stable;
  stable.reserve(from);
  for (uint64_t i = 0; i < from; ++i) stable.push_back(StableKey(i));
  const pid_t parent = getppid();
  c->attached.fetch_add(1, std::memory_order_release);
  std::mt19937_64 rng(1000 + index);
  std::string value, copy;
  value.reserve(4096);
  copy.reserve(4096);
  char ikey[32];
  uint64_t gen;
  uint64_t n = 0;
  while (c->stop.load(std::memory_order_acquire) == 0) {
    if ((n & 0xffff) == 0 && getppid() != parent) break;  // orphaned
    const int op = static_cast<int>(n++ % 3);
    absl::string_view key;
    bool stable_key = true;
    if (op == 2) {
      const uint64_t have = c->inserted.load(std::memory_order_acquire);
      if (have == 0) continue;
      InsertedKey(rng() % have, ikey);
      key = absl::string_view(ikey, 16);
      stable_key = false;
    } else {
      key = stable[rng() % from];
    }
    absl::Status s;
    const uint64_t c0 = cpu_time ? ThreadCpuNanos() : 0;
    const uint64_t t0 = NowNanos();
    if (op == 1) {
      s = d->Read(
          key, [&](absl::string_view v) { copy.assign(v.data(), v.size()); });
    } else {
      s = d->Get(key, &value);
    }
    const uint64_t ns = NowNanos() - t0;
    r->hist.Add(ns);
    if (ns > 1000000) ++r->over_1ms;
    if (cpu_time) {
      const uint64_t cpu_ns = ThreadCpuNanos() - c0;
      r->cpu.Add(cpu_ns);
      if (ns > 1000000 && cpu_ns < 100000) ++r->over_1ms_low_cpu;
    }
    ++r->reads;
    if (s.ok()) {
      if (!ParseValue(key, op == 1 ? copy : value, &gen)) {
        if (r->torn < 5) {
          fprintf(stderr, "reader %d: torn value for %s\n", index,
                  std::string(key).c_str());
        }
        ++r->torn;
      }
    } else if (absl::IsNotFound(s)) {
      ++(stable_key ? r->missed_stable : r->missed_inserted);
      if (r->missed_stable + r->missed_inserted <= 5) {
        fprintf(stderr, "reader %d: %s NotFound\n", index,
                std::string(key).c_str());
      }
    } else {
      if (r->errors < 5) {
        fprintf(stderr, "reader %d: %s\n", index, s.ToString().c_str());
      }
      ++r->errors;
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  r->involuntary_switches = ru.ru_nivcsw;
  return 0;
}

// What one Put did to the dict's growth, from Stats before and after it.
enum WriteKind { kPlain = 0, kMigrateStep = 1, kGrow = 2 };
const char* KindName(int k) {
  return k == kGrow          ? "grew (grows_total changed or `growing` flipped)"
         : k == kMigrateStep ? "a migration step"
                             : "no growth";
}

struct SlowWrite {
  uint64_t ns;      // wall time
  uint64_t cpu_ns;  // the writer thread's CPU time
  uint64_t index;   // keys in the dict before it
  int kind;
  uint64_t capacity_after;
  uint64_t heap_after;
  uint64_t heap_before;
  bool growing_before;
  bool growing_after;
};

// What a Put did, in detail: the heap grew, a migration started, the
// tables switched, or one migration step.
std::string Describe(const SlowWrite& w) {
  std::vector<std::string> what;
  if (w.heap_after != w.heap_before) {
    what.push_back(absl::StrFormat("heap +%.1f MiB",
                                   (w.heap_after - w.heap_before) / 1048576.0));
  }
  if (!w.growing_before && w.growing_after) what.push_back("migration started");
  if (w.growing_before && !w.growing_after) what.push_back("tables switched");
  if (w.growing_before && w.growing_after) what.push_back("migration step");
  if (what.empty()) what.push_back("no growth");
  return absl::StrJoin(what, ", ");
}

// Keeps the 10 largest by `by` (largest first).
void KeepSlowest(std::vector<SlowWrite>* v, const SlowWrite& w,
                 uint64_t SlowWrite::*by) {
  if (v->size() >= 10 && w.*by <= v->back().*by) return;
  v->insert(std::upper_bound(v->begin(), v->end(), w,
                             [by](const SlowWrite& a, const SlowWrite& b) {
                               return a.*by > b.*by;
                             }),
            w);
  if (v->size() > 10) v->pop_back();
}

// The writer's figures: every Put's wall time (what a caller waits) and
// CPU time (the work the Put did: unlike the wall time it leaves out the
// time the scheduler gave the core to another process).
struct WriterStats {
  Histogram wall;
  Histogram cpu;
  uint64_t count[3];
  uint64_t max_wall[3];
  uint64_t max_cpu[3];
  uint64_t over_5ms_wall[3];
  uint64_t over_5ms_cpu[3];
  std::vector<SlowWrite> slowest_wall;
  std::vector<SlowWrite> slowest_cpu;

  void Add(const SlowWrite& w) {
    wall.Add(w.ns);
    cpu.Add(w.cpu_ns);
    ++count[w.kind];
    max_wall[w.kind] = std::max(max_wall[w.kind], w.ns);
    max_cpu[w.kind] = std::max(max_cpu[w.kind], w.cpu_ns);
    if (w.ns > 5000000) ++over_5ms_wall[w.kind];
    if (w.cpu_ns > 5000000) ++over_5ms_cpu[w.kind];
    KeepSlowest(&slowest_wall, w, &SlowWrite::ns);
    KeepSlowest(&slowest_cpu, w, &SlowWrite::cpu_ns);
  }
};

void PrintSlow(const char* title, const std::vector<SlowWrite>& v) {
  printf("writer: the slowest puts by %s:\n", title);
  for (const SlowWrite& w : v) {
    printf(
        "  %s wall, %s CPU at %llu keys: %s; then capacity %llu, heap "
        "%llu bytes\n",
        Us(w.ns).c_str(), Us(w.cpu_ns).c_str(),
        static_cast<unsigned long long>(w.index), Describe(w).c_str(),
        static_cast<unsigned long long>(w.capacity_after),
        static_cast<unsigned long long>(w.heap_after));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t from = strtoull(Flag(argc, argv, "from", "1000"), nullptr, 10);
  const uint64_t to = strtoull(Flag(argc, argv, "to", "10000000"), nullptr, 10);
  const int readers = atoi(Flag(argc, argv, "readers", "2"));
  const uint64_t value_size =
      strtoull(Flag(argc, argv, "value-size", "32"), nullptr, 10);
  // Also time each read's CPU time (two more clock reads, system calls,
  // per read: the wall-time figures are then not comparable to a run
  // without it).
  const bool cpu_time = atoi(Flag(argc, argv, "reader-cpu-time", "0")) != 0;
  if (from == 0 || to < from || readers < 0 || readers > 64 ||
      value_size > 65536) {
    fprintf(stderr,
            "usage: grow_readers [--from=1000] [--to=10000000] [--readers=2] "
            "[--value-size=32] [--reader-cpu-time=0] (0 < from <= to)\n");
    return 2;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  const std::string name = zcipc_proc::UniqueName("grow-readers");
  zcipc::Options o;
  o.max_items = from;
  // A block per entry: 24 header bytes, key and value padded to 8, rounded
  // up to 16 bytes.
  const uint64_t value_bytes = std::max<uint64_t>(
      value_size, zcipc_proc::MinValueSize("s:00000000000000", 1));
  const uint64_t block = ((24 + 16 + (value_bytes + 7) / 8 * 8) + 15) / 16 * 16;
  o.heap_size = std::max<uint64_t>(zcipc::kMinHeapSize, from * block);
  o.auto_grow = true;
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "create: %s\n", d.status().ToString().c_str());
    return 1;
  }
  for (uint64_t i = 0; i < from; ++i) {
    const std::string k = StableKey(i);
    absl::Status s = d->Put(k, MakeValue(k, 1, value_size));
    if (!s.ok()) {
      fprintf(stderr, "preload: %s\n", s.ToString().c_str());
      (void)zcipc::ZeroCopyDict::Unlink(name);
      return 1;
    }
  }
  const zcipc::Stats first = d->GetStats();

  SharedArray<Control> control;
  SharedArray<ReaderResult> results(std::max(readers, 1));
  if (!control.valid() || !results.valid()) {
    fprintf(stderr, "mmap failed\n");
    (void)zcipc::ZeroCopyDict::Unlink(name);
    return 1;
  }
  Control* c = control.get();
  std::vector<pid_t> pids;
  for (int r = 0; r < readers; ++r) {
    const pid_t pid = Fork([&, r]() {
      return RunReader(name, from, r, cpu_time, c, &results[r]);
    });
    if (pid < 0) {
      fprintf(stderr, "fork failed\n");
      c->stop.store(1);
      break;
    }
    pids.push_back(pid);
  }
  while (c->attached.load(std::memory_order_acquire) <
             static_cast<uint32_t>(pids.size()) &&
         g_interrupted == 0) {
    zcipc_proc::SleepSeconds(0.001);
    bool dead = false;
    for (pid_t p : pids) {
      if (waitpid(p, nullptr, WNOHANG) == p) dead = true;
    }
    if (dead) {
      fprintf(stderr, "a reader died before attaching\n");
      c->stop.store(1);
      break;
    }
  }
  // Every process has its mapping: the name is no longer needed.
  (void)zcipc::ZeroCopyDict::Unlink(name);

  // The writer.
  auto* ws = new WriterStats();  // value-initialised: zeroed
  bool write_failed = false;
  char key[32];
  std::string value;
  zcipc::Stats before = d->GetStats();
  const uint64_t t_start = NowNanos();
  uint64_t i = 0;
  for (; i < to - from && g_interrupted == 0 && c->stop.load() == 0; ++i) {
    InsertedKey(i, key);
    const absl::string_view k(key, 16);
    value = MakeValue(k, 1, value_size);
    const uint64_t c0 = ThreadCpuNanos();
    const uint64_t t0 = NowNanos();
    absl::Status s = d->Put(k, value);
    const uint64_t ns = NowNanos() - t0;
    const uint64_t cpu_ns = ThreadCpuNanos() - c0;
    if (!s.ok()) {
      fprintf(stderr, "put %s: %s\n", key, s.ToString().c_str());
      write_failed = true;
      break;
    }
    c->inserted.store(i + 1, std::memory_order_release);
    const zcipc::Stats after = d->GetStats();
    const int kind = (after.grows_total != before.grows_total ||
                      after.growing != before.growing)
                         ? kGrow
                     : after.growing ? kMigrateStep
                                     : kPlain;
    ws->Add(SlowWrite{ns, cpu_ns, from + i, kind, after.max_items,
                      after.heap_size, before.heap_size, before.growing,
                      after.growing});
    before = after;
  }
  const uint64_t elapsed = NowNanos() - t_start;
  c->stop.store(1, std::memory_order_release);

  bool ok = !write_failed;
  uint64_t total_reads = 0, total_torn = 0, total_missed_stable = 0,
           total_missed_inserted = 0, total_errors = 0;
  for (size_t r = 0; r < pids.size(); ++r) {
    const zcipc_proc::ChildResult cr = zcipc_proc::WaitChild(pids[r]);
    if (!cr.ok()) {
      fprintf(stderr, "reader %zu %s\n", r, cr.Describe().c_str());
      ok = false;
    }
  }
  const zcipc::Stats last = d->GetStats();
  printf(
      "grow_readers: from %llu to %llu keys, %d readers, %llu-byte "
      "values, 16-byte keys\n",
      static_cast<unsigned long long>(from),
      static_cast<unsigned long long>(to), readers,
      static_cast<unsigned long long>(
          MakeValue("s:00000000000000", 1, value_size).size()));
  printf("start: capacity %llu, %llu slots, heap %llu bytes\n",
         static_cast<unsigned long long>(first.max_items),
         static_cast<unsigned long long>(first.slot_count),
         static_cast<unsigned long long>(first.heap_size));
  for (size_t r = 0; r < pids.size(); ++r) {
    const ReaderResult& rr = results[r];
    printf(
        "reader %zu: %llu reads, %llu torn, %llu missed (stable), %llu "
        "missed (inserted), %llu errors; %s; %llu reads > 1 ms; %lld "
        "involuntary context switches\n",
        r, static_cast<unsigned long long>(rr.reads),
        static_cast<unsigned long long>(rr.torn),
        static_cast<unsigned long long>(rr.missed_stable),
        static_cast<unsigned long long>(rr.missed_inserted),
        static_cast<unsigned long long>(rr.errors), Quantiles(rr.hist).c_str(),
        static_cast<unsigned long long>(rr.over_1ms),
        static_cast<long long>(rr.involuntary_switches));
    if (cpu_time) {
      printf("reader %zu: CPU %s; %llu reads > 1 ms wall with < 100 us CPU\n",
             r, Quantiles(rr.cpu).c_str(),
             static_cast<unsigned long long>(rr.over_1ms_low_cpu));
    }
    total_reads += rr.reads;
    total_torn += rr.torn;
    total_missed_stable += rr.missed_stable;
    total_missed_inserted += rr.missed_inserted;
    total_errors += rr.errors;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf(
      "writer: %llu puts in %.2f s (%.0f puts/s); %lld involuntary context "
      "switches\n",
      static_cast<unsigned long long>(i), elapsed / 1e9, i / (elapsed / 1e9),
      static_cast<long long>(ru.ru_nivcsw));
  printf("writer: wall %s\n", Quantiles(ws->wall).c_str());
  printf("writer: CPU  %s\n", Quantiles(ws->cpu).c_str());
  for (int k = 0; k < 3; ++k) {
    printf(
        "writer: %llu puts %s: max %s wall, %s CPU; %llu > 5 ms wall, %llu > "
        "5 ms CPU\n",
        static_cast<unsigned long long>(ws->count[k]), KindName(k),
        Us(ws->max_wall[k]).c_str(), Us(ws->max_cpu[k]).c_str(),
        static_cast<unsigned long long>(ws->over_5ms_wall[k]),
        static_cast<unsigned long long>(ws->over_5ms_cpu[k]));
  }
  PrintSlow("wall time", ws->slowest_wall);
  PrintSlow("CPU time", ws->slowest_cpu);
  printf(
      "end: %llu keys, grows %llu, capacity %llu, %llu slots, heap %llu "
      "bytes, segment %llu bytes, growing %d\n",
      static_cast<unsigned long long>(last.size),
      static_cast<unsigned long long>(last.grows_total),
      static_cast<unsigned long long>(last.max_items),
      static_cast<unsigned long long>(last.slot_count),
      static_cast<unsigned long long>(last.heap_size),
      static_cast<unsigned long long>(last.segment_size), last.growing ? 1 : 0);
  printf(
      "total: %llu reads, %llu torn, %llu missed (stable), %llu missed "
      "(inserted), %llu errors%s\n",
      static_cast<unsigned long long>(total_reads),
      static_cast<unsigned long long>(total_torn),
      static_cast<unsigned long long>(total_missed_stable),
      static_cast<unsigned long long>(total_missed_inserted),
      static_cast<unsigned long long>(total_errors),
      g_interrupted ? " (interrupted)" : "");
  fflush(stdout);
  delete ws;
  if (total_torn + total_missed_stable + total_missed_inserted + total_errors >
      0) {
    ok = false;
  }
  if (last.size != from + i) {
    fprintf(stderr, "the dict holds %llu keys, not %llu\n",
            static_cast<unsigned long long>(last.size),
            static_cast<unsigned long long>(from + i));
    ok = false;
  }
  if (!ok) return 1;
  return g_interrupted ? 130 : 0;
}
