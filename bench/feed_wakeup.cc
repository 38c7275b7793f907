// Wake-up latency of the change feed across processes
// (docs/PERFORMANCE-FEED.md): from a Put in one process to WaitForChange
// returning in another.
//
//   feed_wakeup --samples=5000 --pause_us=1000
//
// The parent process writes: for change i it takes CLOCK_MONOTONIC into
// slot i of an anonymous shared mapping just before its Put (16-byte key,
// 100-byte value, replace in place). A forked waiter process loops on
// WaitForChange(since) and takes the time as soon as it returns; its sample
// is that time minus the stamp of change since + 1, the oldest change it had
// not seen. Two modes run one after the other:
//
// - paused: the writer sleeps --pause_us between Puts, so the waiter is
//   asleep in the kernel (futex) when each change comes. A sample whose
//   change was already there when the waiter re-armed (it did not sleep) is
//   counted as "late re-arm"; with a pause far above the latency there are
//   none or few, and they are reported.
// - re-arm: the writer Puts without a pause for --rearm_seconds and the
//   waiter re-arms at once after each return; a sample is then the age of
//   the oldest change it had not seen (it may have several at once).
//
// Prints per mode: samples, p50, p90, p99, p99.9, max, and the writer's Put
// duration (which includes the futex wake when the waiter sleeps).
// --mode=paused or --mode=rearm runs one of them.

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/probe_flags.h"
#include "tools/proc/proc.h"
#include "zcipc/zero_copy_dict.h"

namespace {

using ::zcipc_proc::Fork;
using ::zcipc_proc::SharedArray;
using ::zcipc_proc::UniqueName;
using ::zcipc_proc::WaitChild;

using ::zcipc_bench::Flag;

uint64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

void SleepNanos(uint64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000ull;
  ts.tv_nsec = ns % 1000000000ull;
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
  }
}

std::string Key(int64_t i) { return absl::StrFormat("key:%012d", i); }

constexpr int64_t kKeys = 10000;
constexpr int kValueSize = 100;

// Shared between the writer and the waiter.
struct Control {
  std::atomic<uint32_t> ready{0};  // the waiter is attached and waiting
  std::atomic<uint32_t> done{0};   // the waiter has its samples
  std::atomic<uint64_t> samples{0};
  std::atomic<uint64_t> late{0};  // changes already there at re-arm
};

std::string Quantiles(std::vector<uint64_t> v) {
  if (v.empty()) return "no samples";
  std::sort(v.begin(), v.end());
  auto q = [&](double f) {
    return absl::FormatDuration(absl::Nanoseconds(
        v[std::min<size_t>(v.size() - 1, static_cast<size_t>(v.size() * f))]));
  };
  return absl::StrCat("p50 ", q(0.5), ", p90 ", q(0.9), ", p99 ", q(0.99),
                      ", p99.9 ", q(0.999), ", max ", q(1.0));
}

// Runs one mode. pause_ns == 0: re-arm mode for `seconds`. Returns false on
// an error (printed).
bool RunMode(zcipc::ZeroCopyDict& d, const char* mode, uint64_t samples,
             uint64_t pause_ns, double seconds) {
  // Stamps of the writer's changes, by change number - base. Re-arm mode
  // may write far more changes than the waiter takes samples.
  const uint64_t max_puts = pause_ns > 0 ? samples : samples * 64;
  SharedArray<std::atomic<uint64_t>> stamps(max_puts + 2);
  SharedArray<uint64_t> latencies(samples);
  SharedArray<Control> control;
  if (!stamps.valid() || !latencies.valid() || !control.valid()) {
    fprintf(stderr, "mmap failed\n");
    return false;
  }
  Control* c = control.get();
  const uint64_t base = d.ChangeSeq();
  const std::string name = d.name();
  pid_t waiter = Fork(
      [&]() -> int {
        absl::StatusOr<zcipc::ZeroCopyDict> w =
            zcipc::ZeroCopyDict::Attach(name);
        if (!w.ok()) {
          fprintf(stderr, "waiter: %s\n", w.status().ToString().c_str());
          return 3;
        }
        uint64_t since = base, n = 0, lates = 0;
        c->ready.store(1, std::memory_order_release);
        while (n < samples) {
          const bool already = w->ChangeSeq() > since;
          absl::StatusOr<uint64_t> r =
              w->WaitForChange(since, absl::Seconds(1));
          const uint64_t t = NowNanos();
          if (absl::IsDeadlineExceeded(r.status())) {
            if (c->done.load(std::memory_order_acquire) != 0) break;
            continue;  // the writer is slow (a loaded machine)
          }
          if (!r.ok()) {
            fprintf(stderr, "waiter: %s\n", r.status().ToString().c_str());
            return 4;
          }
          const uint64_t i = since + 1 - base;
          if (i > max_puts) break;
          latencies.get()[n] =
              t - stamps.get()[i].load(std::memory_order_acquire);
          lates += already ? 1 : 0;
          ++n;
          since = *r;
        }
        c->samples.store(n, std::memory_order_relaxed);
        c->late.store(lates, std::memory_order_relaxed);
        c->done.store(1, std::memory_order_release);
        return 0;
      },
      /*alarm_seconds=*/600);
  if (waiter < 0) {
    fprintf(stderr, "fork failed\n");
    return false;
  }
  while (c->ready.load(std::memory_order_acquire) == 0) SleepNanos(100000);
  SleepNanos(2000000);  // let the waiter reach its first wait
  const std::string value(kValueSize, 'w');
  std::vector<uint64_t> put_times;
  put_times.reserve(std::min<uint64_t>(max_puts, 1 << 22));
  const uint64_t deadline = NowNanos() + static_cast<uint64_t>(seconds * 1e9);
  uint64_t i = 0;
  bool ok = true;
  while (i < max_puts && c->done.load(std::memory_order_acquire) == 0) {
    if (pause_ns > 0) {
      SleepNanos(pause_ns);
    } else if ((i & 1023) == 0 && NowNanos() > deadline) {
      break;
    }
    ++i;
    const uint64_t t0 = NowNanos();
    stamps.get()[i].store(t0, std::memory_order_release);
    absl::Status s = d.Put(Key(i % kKeys), value);
    if (!s.ok()) {
      fprintf(stderr, "writer: %s\n", s.ToString().c_str());
      ok = false;
      break;
    }
    if (put_times.size() < put_times.capacity()) {
      put_times.push_back(NowNanos() - t0);
    }
  }
  // In re-arm mode the waiter may want more samples than were written.
  c->done.store(1, std::memory_order_release);
  const zcipc_proc::ChildResult r = WaitChild(waiter);
  if (!r.ok()) {
    fprintf(stderr, "the waiter %s\n", r.Describe().c_str());
    return false;
  }
  const uint64_t n = c->samples.load();
  std::vector<uint64_t> v(latencies.get(), latencies.get() + n);
  printf(
      "%s: %llu puts, %llu samples (%llu late re-arms: the change was "
      "there before the waiter re-armed); wake-up %s; the writer's Put %s\n",
      mode, static_cast<unsigned long long>(i),
      static_cast<unsigned long long>(n),
      static_cast<unsigned long long>(c->late.load()),
      Quantiles(std::move(v)).c_str(), Quantiles(std::move(put_times)).c_str());
  fflush(stdout);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t samples =
      strtoull(Flag(argc, argv, "samples", "5000"), nullptr, 10);
  const uint64_t pause_us =
      strtoull(Flag(argc, argv, "pause_us", "1000"), nullptr, 10);
  const double rearm_seconds = atof(Flag(argc, argv, "rearm_seconds", "3"));
  const std::string mode = Flag(argc, argv, "mode", "both");
  if (samples == 0 || pause_us == 0) {
    fprintf(stderr, "--samples and --pause_us must be positive\n");
    return 2;
  }
  const std::string name = UniqueName("feed-wakeup");
  zcipc::Options o;
  o.max_items = kKeys + 1000;
  o.heap_size = 32 << 20;
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    return 1;
  }
  const std::string value(kValueSize, 'v');
  for (int64_t i = 0; i < kKeys; ++i) {
    if (!d->Put(Key(i), value).ok()) return 1;
  }
  bool ok = true;
  if (mode == "both" || mode == "paused") {
    ok = RunMode(*d, absl::StrCat("paused ", pause_us, " us").c_str(), samples,
                 pause_us * 1000, 0) &&
         ok;
  }
  if (ok && (mode == "both" || mode == "rearm")) {
    ok = RunMode(*d, "re-arm at once", samples, 0, rearm_seconds) && ok;
  }
  (void)zcipc::ZeroCopyDict::Unlink(name);
  return ok ? 0 : 1;
}
